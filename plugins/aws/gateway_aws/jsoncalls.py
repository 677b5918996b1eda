"""Calls of AWS JSON-protocol services (Secrets Manager, SSM) sent by the plugin itself, signed per call.

botocore's request pipeline cost a 20-secret ``BatchGetSecretValue`` about 2.3 ms of a worker thread's CPU (its
urllib3 and http.client, the shape walk over the answer, its signer, a user agent built twice); the plugin sends
the same request through :mod:`gateway.outbound` on the event loop instead, signed by :mod:`gateway_aws.sigv4`.
Where it goes is decided once per (service, region, operation): by :class:`~gateway_aws.endpoints.StaticEndpoints`
where it can (the endpoint from botocore's rule set and partitions, ``X-Amz-Target``, ``Content-Type``, the signing
name and region, which answer members are blobs — base64 in the JSON, bytes in the answer, as botocore returns
them — all proven equal to botocore's), else by a dry run of botocore's shared client with the first call's
parameters, and the blobs from its model. The body is the parameters as JSON (the plugin's
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

from gateway.plugin import InvalidArgument, SingleFlight
from gateway_aws.endpoints import BLOBS, SERVICES, Decided, Path, invalid_parameters
from gateway_aws.errors import answer_error, bad_answer
from gateway_aws.ownrequests import DryRun, OwnRequests
from gateway_aws.sigv4 import signed_headers

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from gateway_aws.clients import AwsClients, Credentials

MAX_BODY = 32 * 1024 * 1024
MAX_SHAPE_DEPTH = 8


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


def serves(service: str) -> bool:
    """Whether the plugin sends this service's signed calls itself (the JSON protocol)."""
    model = SERVICES.get(service)
    return model is not None and model.protocol == "json"


class JsonCalls:
    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self.requests = OwnRequests(clients, max_body=MAX_BODY, max_idle=4 * clients.options.max_workers)
        self._operations: dict[tuple[str, str, str], JsonOperation] = {}
        self._learning: SingleFlight[tuple[str, str, str], JsonOperation] = SingleFlight()

    async def call(
        self,
        region: str,
        service: str,
        operation: str,
        credentials: Credentials,
        redact: Iterable[str],
        kwargs: Mapping[str, Any],
        on_retry: Callable[[], None],
    ) -> dict[str, Any]:
        """``operation`` with ``kwargs``, signed with ``credentials``: the answer as botocore gives it, or a classified error."""
        refused = invalid_parameters(service, operation, kwargs)
        if refused is not None:  # as botocore's validation refused them (on every call, not only a dry run's)
            raise InvalidArgument(f"{operation}: request refused before sending: {' '.join(refused.split())}", reason="ParamValidation")
        key = (service, region, operation)
        found = self._operations.get(key) or await self._learning.do(key, lambda: self._learn(key, kwargs))
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

    async def _learn(self, key: tuple[str, str, str], kwargs: Mapping[str, Any]) -> JsonOperation:
        service, region, operation = key
        decided = self.clients.static.json_call(service, region, operation)
        if decided is not None:
            found = json_operation(decided, BLOBS[(service, operation)], await self.clients.tls_for(decided.url))
        else:
            client = await self.clients.client(region, service)
            dry = await self.requests.dry_run(client, operation, kwargs)
            found = json_operation(decided_by_botocore(dry, client), blob_paths(client, operation), dry.tls)
        self._operations[key] = found
        return found

    async def aclose(self) -> None:
        await self.requests.aclose()


def json_operation(decided: Decided, blobs: tuple[Path, ...], tls: ssl.SSLContext | None) -> JsonOperation:
    parts = urlsplit(decided.url)
    default_port = parts.port is None or parts.port == (443 if parts.scheme == "https" else 80)
    host = (parts.hostname or "") + ("" if default_port else f":{parts.port}")
    return JsonOperation(decided.url, host, parts.path or "/", decided.headers, decided.signing_name, decided.signing_region, blobs, tls)


def decided_by_botocore(dry: DryRun, client: BaseClient) -> Decided:
    """What a dry run of botocore's ``client`` says: its URL and headers, and the signing name and region of its
    endpoint's auth scheme, else those its signer has (the service's, the region's credential scope)."""
    signing = dry.request.get("context", {}).get("signing") or {}
    signer = client._request_signer
    return Decided(
        url=dry.url,
        headers=dry.headers,
        signing_name=str(signing.get("signing_name") or signer.signing_name),
        signing_region=str(signing.get("region") or signer.region_name),
    )


def blob_paths(client: BaseClient, operation: str) -> tuple[Path, ...]:
    """The blob members of ``operation``'s answer in botocore's model of ``client``'s service."""
    return tuple(_blob_paths(client.meta.service_model.operation_model(operation).output_shape))


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
