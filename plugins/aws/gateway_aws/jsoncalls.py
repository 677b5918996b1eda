"""Calls of AWS JSON-protocol services (Secrets Manager, SSM) sent by the plugin itself, signed per call.

botocore's request pipeline cost a 20-secret ``BatchGetSecretValue`` about 2.3 ms of a worker thread's CPU (its
urllib3 and http.client, the shape walk over the answer, its signer, a user agent built twice); the plugin sends
the same request through :mod:`gateway.outbound` on the event loop instead, signed by :mod:`gateway_aws.sigv4`.
What botocore decides is asked of it once per (service, region, operation), by a dry run of the shared client
with the first call's parameters: the endpoint (its rules), ``X-Amz-Target``, ``Content-Type``, the user agent,
the signing name and region; and once per operation, from its model, which answer members are blobs (base64 in
the JSON, bytes in the answer, as botocore returns them). The body is the parameters as JSON (the plugin's
parameters are strings, lists and booleans, which botocore's serializer writes the same way). Attempts, the
deadline per attempt, backoff, CA certificates, proxies and error texts are those of IRSA's STS call
(both go through :mod:`gateway_aws.ownrequests`). Answers are held to 32 MiB (20 secrets of 64 KiB are 1.7 MiB in base64).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gateway.plugin import SingleFlight
from gateway_aws.errors import answer_error, bad_answer
from gateway_aws.ownrequests import OwnRequests
from gateway_aws.sigv4 import signed_headers

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from gateway_aws.clients import AwsClients, Credentials

MAX_BODY = 32 * 1024 * 1024
MAX_SHAPE_DEPTH = 8
Path = tuple[str, ...]  # member names; "[]" steps into a list's items


@dataclass(frozen=True)
class JsonOperation:
    """What botocore would send one operation to in one region, and how."""

    url: str
    host: str
    path: str
    headers: Mapping[str, str] = field(repr=False)
    signing_name: str
    signing_region: str
    blobs: tuple[Path, ...]
    tls: ssl.SSLContext | None = field(default=None, repr=False)


def serves(client: BaseClient) -> bool:
    """Whether the plugin sends this client's calls itself (the JSON protocol)."""
    return bool(client.meta.service_model.protocol == "json")


class JsonCalls:
    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self.requests = OwnRequests(clients, max_body=MAX_BODY, max_idle=4 * clients.options.max_workers)
        self._operations: dict[tuple[str, str, str], JsonOperation] = {}
        self._learning: SingleFlight[tuple[str, str, str], JsonOperation] = SingleFlight()

    async def call(
        self,
        client: BaseClient,
        operation: str,
        credentials: Credentials,
        redact: Iterable[str],
        kwargs: Mapping[str, Any],
        on_retry: Callable[[], None],
    ) -> dict[str, Any]:
        """``operation`` with ``kwargs``, signed with ``credentials``: the answer as botocore gives it, or a classified error."""
        key = (client.meta.service_model.service_name, client.meta.region_name, operation)
        found = self._operations.get(key) or await self._learning.do(key, lambda: self._learn(key, client, kwargs))
        body = json.dumps(kwargs).encode()
        return await self.requests.with_retries(
            functools.partial(self._attempt, found, operation, body, credentials, tuple(redact)), on_retry
        )

    async def _attempt(
        self, op: JsonOperation, operation: str, body: bytes, credentials: Credentials, redact: tuple[str, ...]
    ) -> dict[str, Any]:
        headers = signed_headers(
            method="POST", host=op.host, path=op.path, headers=op.headers, body=body, access_key=credentials.access_key_id,
            secret_key=credentials.secret_access_key, token=credentials.session_token or None, service=op.signing_name,
            region=op.signing_region,
        )  # fmt: skip
        answer = await self.requests.post(operation, op.url, headers, body, op.tls)
        try:
            document = json.loads(answer.body) if answer.body.strip() else {}
        except (ValueError, RecursionError):
            document = None
        if not isinstance(document, dict):
            if 200 <= answer.status < 300:
                raise bad_answer(operation, "the answer is not a JSON object")
            document = {}
        code = str(document.get("__type") or "").rpartition("#")[2].partition(":")[0]
        message = str(document.get("message") or document.get("Message") or "")
        failure = answer_error(answer.status, code, message, operation, redact)
        if failure is not None:
            raise failure
        for path in op.blobs:
            _decode_blobs(document, path, operation)
        document["ResponseMetadata"] = {"HTTPStatusCode": answer.status}
        return document

    async def _learn(self, key: tuple[str, str, str], client: BaseClient, kwargs: Mapping[str, Any]) -> JsonOperation:
        operation = key[2]
        dry = await self.requests.dry_run(client, operation, kwargs)
        parts = urlsplit(dry.url)
        default_port = parts.port is None or parts.port == (443 if parts.scheme == "https" else 80)
        host = (parts.hostname or "") + ("" if default_port else f":{parts.port}")
        signing = dry.request.get("context", {}).get("signing") or {}
        model = client.meta.service_model
        found = JsonOperation(
            url=dry.url,
            host=host,
            path=parts.path or "/",
            headers=dry.headers,
            signing_name=str(signing.get("signing_name") or model.signing_name or model.endpoint_prefix),
            signing_region=str(signing.get("region") or client.meta.region_name),
            blobs=tuple(_blob_paths(model.operation_model(operation).output_shape)),
            tls=dry.tls,
        )
        self._operations[key] = found
        return found

    async def aclose(self) -> None:
        await self.requests.aclose()


def _blob_paths(shape: Any, path: Path = (), depth: int = 0) -> Iterator[Path]:
    """The paths of the blob members of an output shape (botocore's model)."""
    if shape is None or depth > MAX_SHAPE_DEPTH:
        return
    if shape.type_name == "blob":
        yield path
    elif shape.type_name == "structure":
        for name, member in shape.members.items():
            yield from _blob_paths(member, (*path, name), depth + 1)
    elif shape.type_name == "list":
        yield from _blob_paths(shape.member, (*path, "[]"), depth + 1)


def _decode_blobs(value: Any, path: Path, operation: str) -> None:
    """Base64-decode the members at ``path`` in place (absent ones stay absent; bytes stay bytes)."""
    step, rest = path[0], path[1:]
    if step == "[]":
        items = value if isinstance(value, list) else []
        for index, item in enumerate(items):
            if rest:
                _decode_blobs(item, rest, operation)
            else:
                items[index] = _blob(item, operation)
    elif isinstance(value, dict) and step in value:
        if rest:
            _decode_blobs(value[step], rest, operation)
        else:
            value[step] = _blob(value[step], operation)


def _blob(value: Any, operation: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad_answer(operation, "a blob of the answer is not base64") from None
