"""STS ``AssumeRoleWithWebIdentity`` (IRSA) sent by the plugin itself: no thread, no botocore per call.

The call is unsigned (the pod's token is the proof) and its answer is a small XML document, so
the plugin sends it through :mod:`gateway.outbound` (one deadline per attempt, a body cap,
idle connections reused) and reads the answer with :mod:`gateway_aws.queryxml`. What botocore
would send is decided once per region: the endpoint (its rules: regional endpoints, FIPS, dual-stack,
``AWS_ENDPOINT_URL(_STS)``, the config file), the API version and ``Content-Type``, by
:class:`~gateway_aws.endpoints.StaticEndpoints` where it can, else by a dry run of botocore's shared STS
client (which gives the user agent too). As on botocore's path:
the same CA certificates (``AWS_CA_BUNDLE``, the config file's ``ca_bundle``,
``REQUESTS_CA_BUNDLE``, botocore's default), ``HTTP(S)_PROXY``/``NO_PROXY``, up to
``--aws-max-attempts`` attempts of ``--aws-connect-timeout + --aws-read-timeout`` each, retried
on timeouts, connection errors, throttling and server errors with botocore's backoff
(:mod:`gateway_aws.budget`), within the namespace's fair share of AWS calls, and AWS's errors
classified by :mod:`gateway_aws.errors` with the same texts. An answer that is not STS's
(garbage, HTML, truncated, oversized) is a retryable ``Unavailable``, never ``Internal``.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from gateway.plugin import GatewayError, Metrics, SingleFlight
from gateway_aws.clients import AwsClients, Credentials
from gateway_aws.endpoints import api_version
from gateway_aws.errors import answer_error, bad_answer
from gateway_aws.ownrequests import OwnRequests
from gateway_aws.queryxml import NotAnAnswer, read_leaves

OPERATION = "AssumeRoleWithWebIdentity"
MAX_BODY = 64 * 1024  # an answer is 1-3 KiB; a session token at most a few
RESULT = ("AssumeRoleWithWebIdentityResponse", "AssumeRoleWithWebIdentityResult", "Credentials")
ERROR = ("ErrorResponse", "Error")
#: a syntactically valid request for the dry run (never sent)
PROBE = {"RoleArn": "arn:aws:iam::123456789012:role/endpoint-probe", "RoleSessionName": "endpoint-probe", "WebIdentityToken": "probe"}


@dataclass(frozen=True)
class StsEndpoint:
    """What botocore would send to in one region, and with which fixed fields and headers."""

    url: str
    version: str
    headers: Mapping[str, str] = field(repr=False)
    tls: ssl.SSLContext | None = field(default=None, repr=False)


class WebIdentitySts:
    def __init__(self, clients: AwsClients, metrics: Metrics, label: str) -> None:
        self.clients = clients
        self.metrics = metrics
        self.label = label
        self.requests = OwnRequests(clients, max_body=MAX_BODY, max_idle=2 * clients.options.max_workers)
        self._endpoints: dict[str, StsEndpoint] = {}
        self._probing: SingleFlight[str, StsEndpoint] = SingleFlight()

    async def assume(self, region: str, tenant: str, role_arn: str, session_name: str, token: str) -> Credentials:
        """Credentials for ``role_arn`` with the pod's ``token``, from STS in ``region``; a classified error otherwise."""
        failure: GatewayError | None = None
        started = time.perf_counter()
        try:
            endpoint = self._endpoints.get(region) or await self._probing.do(region, lambda: self._probe(region))
            body = urlencode(
                {"Action": OPERATION, "Version": endpoint.version, "RoleArn": role_arn, "RoleSessionName": session_name,
                 "WebIdentityToken": token}
            ).encode()  # fmt: skip
            async with self.clients.limiter.slot(tenant, self.clients.slot_wait):
                return await self.requests.with_retries(
                    functools.partial(self._attempt, endpoint, body, token),
                    on_retry=lambda: self.metrics.retries.labels(backend=self.label, operation=OPERATION).inc(),
                )
        except GatewayError as exc:
            failure = exc
            raise
        finally:
            self.metrics.record_backend_call(self.label, OPERATION, failure, time.perf_counter() - started)

    def prepare(self, region: str) -> Awaitable[StsEndpoint] | None:
        """Learning ``region``'s endpoint, to run ahead of the first call there (None when known already)."""
        if region in self._endpoints:
            return None
        return self._probing.do(region, lambda: self._probe(region))

    async def _attempt(self, endpoint: StsEndpoint, body: bytes, token: str) -> Credentials:
        answer = await self.requests.post(OPERATION, endpoint.url, endpoint.headers, body, endpoint.tls)
        return read_answer(answer.status, answer.body, token)

    async def _probe(self, region: str) -> StsEndpoint:
        decided = self.clients.static.sts_call(region, OPERATION)
        if decided is not None:
            endpoint = StsEndpoint(decided.url, api_version("sts"), decided.headers, await self.clients.tls_for(decided.url))
        else:
            client = await self.clients.client(region, "sts")
            dry = await self.requests.dry_run(client, OPERATION, PROBE)
            endpoint = StsEndpoint(dry.url, str(dry.request["body"]["Version"]), dry.headers, dry.tls)
        self._endpoints[region] = endpoint
        return endpoint

    async def aclose(self) -> None:
        await self.requests.aclose()


def read_answer(status: int, body: bytes, token: str) -> Credentials:
    """The credentials of a 2xx answer, or the classified error of any other (the token redacted from AWS's words)."""
    try:
        leaves = read_leaves(body)
    except NotAnAnswer as exc:
        if 200 <= status < 300:
            raise bad_answer(OPERATION, str(exc)) from None
        leaves = {}
    failure = answer_error(status, leaves.get(ERROR + ("Code",), ""), leaves.get(ERROR + ("Message",), ""), OPERATION, (token,))
    if failure is not None:
        raise failure
    fields = [leaves.get(RESULT + (name,), "") for name in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")]
    if not all(fields[:3]):
        raise bad_answer(OPERATION, "the answer lacks AccessKeyId, SecretAccessKey or SessionToken")
    try:
        expiration = expiration_time(fields[3])
    except ValueError:
        raise bad_answer(OPERATION, "Expiration is not an ISO 8601 time") from None
    return Credentials(fields[0], fields[1], fields[2], expiration)


def expiration_time(text: str) -> datetime | None:
    """An STS ``Expiration`` (ISO 8601, UTC when no offset is given); None when absent. Raises ValueError."""
    if not text:
        return None
    expiration = datetime.fromisoformat(text)
    return expiration if expiration.tzinfo is not None else expiration.replace(tzinfo=UTC)
