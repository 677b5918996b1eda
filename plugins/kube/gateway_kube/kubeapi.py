"""A small Kubernetes API client for plugins: GET JSON objects, cached and rate-limited; POST for creates.

Plugins need a handful of lookups per mount (a ServiceAccount's annotations, a pod's node,
a node's labels). On a busy node a rollout turns those into bursts, so every read goes
through three guards, all keyed by the request path:

- a bounded TTL cache of successful answers (``cache_ttl`` seconds; errors are never cached),
- singleflight, so identical concurrent lookups make one request,
- a token bucket (``qps`` / ``burst``) in front of the API server, shared fairly between pod
  namespaces (round-robin), waiting for a token at most ``max_wait`` seconds, so a 100-pod
  rollout neither trips API-server throttling nor starves another namespace's lookup.

Requests go through :mod:`gateway.outbound`: one total deadline (``timeout``) per request, an
8 MiB answer cap and no worker thread, so a hanging or dribbling API server holds nothing past it.
The time a read or create waits (rate limit and request) runs outside the calling backend's timeout
(:func:`~gateway.plugin.outside_call_timeout`): the mount's deadline bounds it, and its failure names
the Kubernetes API, never the backend. :mod:`gateway_kube.watch` keeps ServiceAccount metadata from
one LIST + WATCH (:meth:`KubeApi.list_metadata`, :meth:`KubeApi.watch_metadata`).

Configuration comes from :func:`discover_config`: an explicit kubeconfig, else in-cluster
(``KUBERNETES_SERVICE_HOST``/``_PORT`` plus the pod's service-account token and CA),
else ``$KUBECONFIG``, else ``~/.kube/config``. Failures are typed
:class:`~gateway.errors.GatewayError` subclasses, so a plugin can let them propagate:
404 → :class:`KubeNotFound`, 401/403 → :class:`KubeForbidden`, 429 → :class:`KubeThrottled`,
409 → :class:`KubeConflict`, 5xx → :class:`KubeServerError`, network problems → :class:`KubeConnectionError`.
:meth:`KubeApi.post_json` (creating an object, a TokenRequest) is rate-limited too, never cached or coalesced.
Messages carry the method, path, status and the API server's own message — never a token.

Usage::

    api = KubeApi(discover_config(explicit_path), qps=5, burst=10, cache_ttl=30)
    sa = await api.service_account("apps", "web")
    await api.aclose()
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import http.client
import json
import logging
import math
import os
import ssl
import tempfile
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import yaml

from gateway.plugin import (
    MALFORMED,
    TIMEOUT,
    TOO_LARGE,
    ExpiringCache,
    GatewayError,
    HttpProblem,
    NotFound,
    OutboundHttp,
    PermissionDenied,
    SingleFlight,
    Unavailable,
    outside_call_timeout,
)

log = logging.getLogger("gateway_kube")
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
MAX_BODY_BYTES = 8 * 1024 * 1024
#: metadata only (no spec, no secrets list): what list and watch ask for
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
#: what a mount was waiting for, if its deadline passes during a Kubernetes read
KUBERNETES = "the Kubernetes API"
WATCH_EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"})

JsonObject = dict[str, Any]


# --------------------------------------------------------------------------- errors


class KubeApiError(GatewayError):
    """A Kubernetes API request failed. ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, *, status: int = 0, path: str = "", reason: str = "", api_message: str = "") -> None:
        super().__init__(message, reason=reason or type(self).__name__)
        self.status = status
        self.path = path
        #: the API server's own ``Status.message`` (e.g. ``pods "web-0" not found``), or the cause
        self.api_message = api_message or message

    @property
    def cause(self) -> str:
        """:attr:`api_message`, saying it is the Kubernetes API server's when the text alone would not
        (for a caller's message about its own object: "cannot read service account web …: <cause>")."""
        if isinstance(self, KubeConnectionError):
            return f"no answer from the Kubernetes API server: {self.api_message}"
        if self.status == 429 or self.status >= 500:
            return f"the Kubernetes API server answered HTTP {self.status}: {self.api_message}"
        if isinstance(self, KubeServerError):
            return f"unusable answer from the Kubernetes API server: {self.api_message}"
        return self.api_message


class KubeNotFound(KubeApiError, NotFound):
    """404: the object does not exist."""


class KubeForbidden(KubeApiError, PermissionDenied):
    """401/403: the gateway's own credentials or RBAC do not allow the read."""


class KubeConflict(KubeApiError):
    """409: e.g. the object to create already exists (``reason`` "AlreadyExists")."""


class KubeGone(KubeApiError, Unavailable):
    """410: a watch's or a paginated list's resourceVersion is too old (list again)."""


class KubeThrottled(KubeApiError, Unavailable):
    """429: the API server asks clients to slow down."""


class KubeServerError(KubeApiError, Unavailable):
    """5xx or an answer that is not JSON."""


class KubeConnectionError(KubeApiError, Unavailable):
    """No answer: connection refused, TLS failure, timeout."""


class KubeAnswerTooLarge(KubeServerError):
    """An answer (or one watch event) above the 8 MiB cap."""


class KubeMalformedEvent(KubeServerError):
    """A watch event that is not a JSON object with a known ``type`` and an ``object`` with metadata."""


class KubeConfigError(KubeApiError, Unavailable):
    """No usable configuration (not in a cluster and no kubeconfig, or a malformed one)."""

    default_retryable = False


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class KubeConfig:
    """Where the API server is and how to authenticate to it.

    ``token_file`` is re-read on every request (projected tokens rotate); ``token`` is fixed.
    Client certificates may be files or inline PEM (kubeconfig ``*-data`` fields).
    """

    server: str
    token: str = field(default="", repr=False)
    token_file: str = ""
    ca_file: str = ""
    ca_data: str = field(default="", repr=False)  # PEM text
    client_cert_file: str = ""
    client_key_file: str = ""
    client_cert_data: str = field(default="", repr=False)  # PEM text
    client_key_data: str = field(default="", repr=False)  # PEM text
    insecure_skip_tls_verify: bool = False
    source: str = ""  # "in-cluster" or the kubeconfig path, for messages

    def bearer_token(self) -> str:
        if self.token_file:
            try:
                return Path(self.token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise KubeConfigError(f"cannot read the Kubernetes API token file {self.token_file}: {exc.strerror}") from None
        return self.token


def discover_config(
    explicit_path: str = "",
    env: Mapping[str, str] | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> KubeConfig:
    """The API configuration: explicit kubeconfig, in-cluster, ``$KUBECONFIG``, ``~/.kube/config``."""
    env = os.environ if env is None else env
    if explicit_path:
        return load_kubeconfig(Path(explicit_path).expanduser())
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "")
    if host and port:
        return in_cluster_config(host, port, service_account_dir)
    for candidate in [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p] + [str(Path.home() / ".kube" / "config")]:
        path = Path(candidate).expanduser()
        if path.is_file():
            return load_kubeconfig(path)
    raise KubeConfigError(
        "no Kubernetes API configuration: not running in a cluster (KUBERNETES_SERVICE_HOST is unset) "
        "and no kubeconfig found (set $KUBECONFIG or the plugin's kubeconfig flag)"
    )


def in_cluster_config(host: str, port: str, service_account_dir: Path = SERVICE_ACCOUNT_DIR) -> KubeConfig:
    token_file = service_account_dir / "token"
    if not token_file.is_file():
        raise KubeConfigError(f"in-cluster configuration: service-account token {token_file} is missing")
    ca_file = service_account_dir / "ca.crt"
    server_host = f"[{host}]" if ":" in host else host
    return KubeConfig(
        server=f"https://{server_host}:{port}",
        token_file=str(token_file),
        ca_file=str(ca_file) if ca_file.is_file() else "",
        source="in-cluster",
    )


def load_kubeconfig(path: Path, context: str = "") -> KubeConfig:
    """The cluster and user of ``context`` (default: ``current-context``) in a kubeconfig file."""
    where = f"kubeconfig {path}"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KubeConfigError(f"cannot read {where}: {exc.strerror}") from None
    except yaml.YAMLError:
        raise KubeConfigError(f"{where} is not valid YAML") from None
    if not isinstance(document, dict):
        raise KubeConfigError(f"{where} is not a mapping")
    context_name = context or document.get("current-context") or ""
    ctx = _named(document, "contexts", context_name, "context", where) if context_name else {}
    cluster = _named(document, "clusters", ctx.get("cluster", "") if ctx else "", "cluster", where)
    user = _named(document, "users", ctx.get("user", ""), "user", where) if ctx.get("user") else {}
    server = str(cluster.get("server") or "")
    if not server:
        raise KubeConfigError(f"{where}: the cluster has no server")
    if user.get("exec") or user.get("auth-provider"):
        raise KubeConfigError(f"{where}: exec and auth-provider credentials are not supported; use a token or client certificate")
    base = path.parent
    ca_file = str(base / cluster["certificate-authority"]) if cluster.get("certificate-authority") else ""
    return KubeConfig(
        server=server,
        token=str(user.get("token") or ""),
        token_file=str(base / user["tokenFile"]) if user.get("tokenFile") else "",
        ca_file=ca_file,
        ca_data=_decode(cluster.get("certificate-authority-data"), "certificate-authority-data", where),
        client_cert_file=str(base / user["client-certificate"]) if user.get("client-certificate") else "",
        client_key_file=str(base / user["client-key"]) if user.get("client-key") else "",
        client_cert_data=_decode(user.get("client-certificate-data"), "client-certificate-data", where),
        client_key_data=_decode(user.get("client-key-data"), "client-key-data", where),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
        source=str(path),
    )


def _named(document: JsonObject, section: str, name: str, key: str, where: str) -> JsonObject:
    entries = document.get(section) or []
    if not isinstance(entries, list):
        raise KubeConfigError(f"{where}: {section} must be a list")
    for entry in entries:
        if isinstance(entry, dict) and (not name or entry.get("name") == name) and isinstance(entry.get(key), dict):
            found: JsonObject = entry[key]
            return found
    raise KubeConfigError(f'{where}: no {key} named "{name}"' if name else f"{where}: no {key} defined")


def _decode(value: Any, what: str, where: str) -> str:
    if not value:
        return ""
    try:
        return base64.b64decode(str(value), validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise KubeConfigError(f"{where}: {what} is not base64-encoded PEM") from None


# --------------------------------------------------------------------------- rate limiting


#: the rate limit's share for reads that serve every namespace (no namespace is named so)
NODE_READS = "(node)"


class KubeRateLimited(KubeApiError, Unavailable):
    """The gateway's own rate limit kept a read queued longer than ``max_wait`` (no request was sent)."""


class TokenBucket:
    """``qps`` tokens per second, at most ``burst`` saved up, shared fairly between tenants.

    Waiting callers are served round-robin across tenants (pod namespaces) and in FIFO order
    within one, so one namespace's burst of 100 pods queues behind itself, not in front of
    another namespace's single lookup. A caller that would wait longer than ``max_wait`` gets
    :class:`KubeRateLimited`, naming the limit — never a silent stall that eats the backend's
    timeout. ``qps <= 0`` disables limiting. ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        qps: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_wait: float = math.inf,
    ) -> None:
        self.qps = qps
        self.burst = max(1, burst)
        self.clock = clock
        self.sleep = sleep
        self.max_wait = max_wait
        self._tokens = float(self.burst)
        self._updated = clock()
        self._queues: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()  # the next tenant to serve first
        self._dispatcher: asyncio.Task[None] | None = None
        #: times a caller had to wait for a token (for metrics and tests)
        self.waits = 0

    async def acquire(self, tenant: str = "") -> None:
        if self.qps <= 0:
            return
        self._refill()
        if not self._queues and self._tokens >= 1:
            self._tokens -= 1
            return
        self.waits += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(tenant, deque()).append(future)
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.ensure_future(self._dispatch())
        try:
            async with asyncio.timeout(None if math.isinf(self.max_wait) else self.max_wait):
                await future
        except TimeoutError:
            queued = sum(len(q) for q in self._queues.values())
            text = (f"the gateway's Kubernetes API rate limit ({self.qps:g} requests/s, burst {self.burst}) kept this read "
                    f"queued for {self.max_wait:g}s ({queued} reads waiting on this node)")
            log.warning("overload: namespace %r: %s", tenant, text)
            raise KubeRateLimited(text, reason="KubeRateLimited") from None

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.qps)
        self._updated = now

    async def _dispatch(self) -> None:
        """Hand out tokens as they come: one per tenant in turn."""
        while self._queues:
            self._refill()
            if self._tokens < 1:
                await self.sleep((1 - self._tokens) / self.qps)
                continue
            tenant, queue = next(iter(self._queues.items()))
            future = queue.popleft()
            if queue:
                self._queues.move_to_end(tenant)
            else:
                del self._queues[tenant]
            if not future.done():  # a waiter that gave up does not use a token
                self._tokens -= 1
                future.set_result(None)


# --------------------------------------------------------------------------- client


class KubeApi:
    """Cached, rate-limited, coalescing GETs against one API server (see the module docstring).

    ``config`` may be a :class:`KubeConfig` or a zero-argument function returning one; the
    function is called at the first request, so a process that never needs the API never
    needs a configuration. ``on_cache_event`` receives the cache's "hit"/"miss"/... events,
    ``on_request`` every request's path and error (``None`` when it succeeded).
    ``max_wait`` bounds the wait for the rate limit (then :class:`KubeRateLimited`).
    """

    def __init__(
        self,
        config: KubeConfig | Callable[[], KubeConfig],
        *,
        qps: float = 5.0,
        burst: int = 10,
        cache_ttl: float = 30.0,
        max_entries: int = 4096,
        timeout: float = 5.0,
        max_wait: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_cache_event: Callable[[str], None] | None = None,
        on_request: Callable[[str, GatewayError | None], None] | None = None,
    ) -> None:
        self._config_source = config
        self._config: KubeConfig | None = config if isinstance(config, KubeConfig) else None
        self._ssl: ssl.SSLContext | None = None
        self.cache_ttl = cache_ttl
        self.timeout = timeout
        self.clock = clock
        self.bucket = TokenBucket(qps, burst, clock, sleep, max_wait)
        self._cache: ExpiringCache[str, JsonObject] = ExpiringCache(max_entries, clock, on_cache_event)
        self._flights: SingleFlight[str, JsonObject] = SingleFlight()
        self._on_request = on_request or (lambda path, error: None)
        self._http = OutboundHttp(max_body=MAX_BODY_BYTES, use_proxy=False)
        self._closed = False

    # -- typed helpers for the objects plugins commonly read

    async def service_account(self, namespace: str, name: str) -> JsonObject:
        """The ServiceAccount's metadata (``PartialObjectMetadata``: no secrets list)."""
        path = f"/api/v1/namespaces/{_segment(namespace)}/serviceaccounts/{_segment(name)}"
        return await self.get_json(path, namespace, accept=METADATA)

    async def pod(self, namespace: str, name: str) -> JsonObject:
        return await self.get_json(f"/api/v1/namespaces/{_segment(namespace)}/pods/{_segment(name)}", namespace)

    async def node(self, name: str) -> JsonObject:
        """The node ``name``. Its read serves the pods of every namespace on the node (one flight, then cached), so it
        waits in a share of the rate limit of its own: queued in the share of the namespace that asked first, it would
        keep every other namespace that joins the flight behind that namespace's burst."""
        return await self.get_json(f"/api/v1/nodes/{_segment(name)}", NODE_READS)

    async def secret(self, namespace: str, name: str) -> JsonObject:
        return await self.get_json(f"/api/v1/namespaces/{_segment(namespace)}/secrets/{_segment(name)}")

    async def create_secret(self, namespace: str, secret: JsonObject) -> JsonObject:
        return await self.post_json(f"/api/v1/namespaces/{_segment(namespace)}/secrets", secret)

    async def create_token(self, namespace: str, service_account: str, token_request: JsonObject) -> JsonObject:
        """A TokenRequest for ``service_account`` (``authentication.k8s.io/v1``); the answer carries ``status.token``."""
        return await self.post_json(f"/api/v1/namespaces/{_segment(namespace)}/serviceaccounts/{_segment(service_account)}/token", token_request)

    # -- the generic read

    async def get_json(self, path: str, tenant: str = "", accept: str = "application/json") -> JsonObject:
        """GET ``path`` (e.g. ``/api/v1/nodes/n1``) as a JSON object for ``tenant`` (a pod namespace,
        whose share of the rate limit it uses); ``accept`` may ask for metadata only (:data:`METADATA`).
        Treat the result as read-only."""
        key = path if accept == "application/json" else f"{path} as {accept}"
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        async with outside_call_timeout(KUBERNETES):  # a Kubernetes wait is never charged to a backend's timeout
            return await self._flights.do(key, lambda: self._fetch(path, tenant, accept, key))

    async def _fetch(self, path: str, tenant: str, accept: str, key: str) -> JsonObject:
        async def send() -> JsonObject:
            await self.bucket.acquire(tenant)
            return await self._request(self.config(), "GET", path, accept=accept)

        document = await self._recorded(path, send)
        if self.cache_ttl > 0:
            self._cache.put(key, document, self.clock() + self.cache_ttl)
        return document

    async def post_json(self, path: str, body: JsonObject) -> JsonObject:
        """POST ``body`` to ``path`` (e.g. a TokenRequest or a new Secret); the created object."""

        async def send() -> JsonObject:
            async with outside_call_timeout(KUBERNETES):
                await self.bucket.acquire()
                return await self._request(self.config(), "POST", path, body)

        return await self._recorded(path, send)

    async def _recorded(self, path: str, send: Callable[[], Awaitable[JsonObject]]) -> JsonObject:
        """``send()``'s answer, its outcome (an answer or a :class:`KubeApiError`) counted for ``path``."""
        try:
            document = await send()
        except KubeApiError as exc:
            self._on_request(path, exc)
            raise
        self._on_request(path, None)
        return document

    def config(self) -> KubeConfig:
        if self._config is None:
            assert callable(self._config_source)
            self._config = self._config_source()
        return self._config

    def _context(self, config: KubeConfig) -> ssl.SSLContext:
        if self._ssl is None:
            try:
                context = ssl.create_default_context(cafile=config.ca_file or None, cadata=config.ca_data or None)
                _load_client_certificate(context, config)
            except (OSError, ssl.SSLError) as exc:
                raise KubeConfigError(f"Kubernetes API TLS configuration from {config.source} is unusable: {exc}") from None
            if config.insecure_skip_tls_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._ssl = context
        return self._ssl

    # -- list and watch (metadata only), for :mod:`gateway_kube.watch`

    async def list_metadata(self, path: str, *, limit: int, continue_token: str = "") -> JsonObject:
        """One page of a metadata-only LIST of the collection ``path`` (``PartialObjectMetadataList``)."""
        query = {"limit": str(limit), **({"continue": continue_token} if continue_token else {})}
        where = f"{path}?{urlencode(query)}"
        await self.bucket.acquire()
        return await self._recorded(path, lambda: self._request(self.config(), "GET", where, accept=METADATA_LIST))

    @asynccontextmanager
    async def watch_metadata(
        self, path: str, *, resource_version: str, timeout_seconds: int, idle_timeout: float
    ) -> AsyncIterator[AsyncIterator[JsonObject]]:
        """A metadata-only WATCH of ``path`` from ``resource_version`` (bookmarks on): its events as they come.

        Connecting has the request ``timeout``; then each read has ``idle_timeout`` and each event line the
        8 MiB cap. An answer other than 200 raises its typed error (410: :class:`KubeGone`); an event that is
        not ``{"type": ..., "object": {...}}`` raises :class:`KubeMalformedEvent`.
        """
        query = {"watch": "1", "allowWatchBookmarks": "true", "resourceVersion": resource_version, "timeoutSeconds": str(timeout_seconds)}
        await self.bucket.acquire()
        config = self.config()
        where = f"Kubernetes API WATCH {path}"
        try:
            url, headers, context = self._target(config, path + "?" + urlencode(query), METADATA)
            async with self._http.stream("GET", url, timeout=self.timeout, idle_timeout=idle_timeout, headers=headers, tls=context) as answer:
                if answer.status != 200:
                    _parse(answer.status, await answer.read(), where, path)
                self._on_request(path, None)
                yield _events(answer.lines(), where, path, config.server)
        except HttpProblem as exc:
            error = _transport_error(exc, where, path, config.server)
            self._on_request(path, error)
            raise error from None
        except KubeApiError as exc:
            if not isinstance(exc, KubeMalformedEvent):
                self._on_request(path, exc)
            raise

    def _target(self, config: KubeConfig, path: str, accept: str) -> tuple[str, dict[str, str], ssl.SSLContext | None]:
        """The URL, headers (with a fresh bearer token) and TLS context of one request."""
        url = urlsplit(config.server)
        if url.scheme not in ("http", "https"):
            raise KubeConfigError(f"Kubernetes API server {config.server!r} from {config.source} is not an http(s) URL")
        headers = {"Accept": accept, "User-Agent": "secrets-gateway"}
        token = config.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        context = self._context(config) if url.scheme == "https" else None
        return config.server.rstrip("/") + path, headers, context

    async def _request(
        self, config: KubeConfig, method: str, path: str, body: JsonObject | None = None, accept: str = "application/json"
    ) -> JsonObject:
        """One bounded exchange (:mod:`gateway.outbound`: a total deadline of ``timeout``, an 8 MiB cap, no thread)."""
        where = f"Kubernetes API {method} {path}"
        url, headers, context = self._target(config, path, accept)
        payload = None if body is None else json.dumps(body).encode()
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            answer = await self._http.request(method, url, timeout=self.timeout, headers=headers, body=payload, tls=context)
        except HttpProblem as exc:
            raise _transport_error(exc, where, path, config.server) from None
        return _parse(answer.status, answer.body, where, path)

    async def aclose(self) -> None:
        """Close idle connections (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._http.aclose()


def _load_client_certificate(context: ssl.SSLContext, config: KubeConfig) -> None:
    """Load the client certificate; inline PEM goes through a private temp dir deleted at once."""
    if config.client_cert_file:
        context.load_cert_chain(config.client_cert_file, config.client_key_file or None)
    elif config.client_cert_data:
        with tempfile.TemporaryDirectory(prefix="sgw-kube-") as directory:
            cert, key = Path(directory) / "cert.pem", Path(directory) / "key.pem"
            cert.write_text(config.client_cert_data, encoding="ascii")
            key.write_text(config.client_key_data, encoding="ascii")
            context.load_cert_chain(str(cert), str(key) if config.client_key_data else None)


def nested(document: JsonObject, *keys: str) -> JsonObject:
    """The mapping at ``document[k1][k2]...``; ``{}`` when a level is absent or not a mapping.

    ``nested(pod, "spec")``, ``nested(account, "metadata", "annotations")``.
    """
    current: Any = document
    for key in keys:
        current = current.get(key) if isinstance(current, dict) else None
    return current if isinstance(current, dict) else {}


def _transport_error(exc: HttpProblem, where: str, path: str, server: str) -> KubeApiError:
    if exc.kind in (TOO_LARGE, MALFORMED):
        error = KubeAnswerTooLarge if exc.kind == TOO_LARGE else KubeServerError
        return error(f"{where}: unusable answer from {server}: {exc.detail}", path=path, api_message=exc.detail)
    cause = "timed out" if exc.kind == TIMEOUT else exc.detail
    return KubeConnectionError(f"{where}: no answer from {server}: {cause}", path=path, api_message=cause)


async def _events(lines: AsyncIterator[bytes], where: str, path: str, server: str) -> AsyncIterator[JsonObject]:
    """Decoded watch events; transport problems and malformed events as typed errors."""
    try:
        async for line in lines:
            try:
                event = json.loads(line)
            except (ValueError, RecursionError):
                event = None
            if not (
                isinstance(event, dict)
                and event.get("type") in WATCH_EVENT_TYPES
                and isinstance(event.get("object"), dict)
                and (event["type"] == "ERROR" or isinstance(event["object"].get("metadata"), dict))
            ):
                raise KubeMalformedEvent(f"{where}: an event from {server} is not a watch event object", path=path)
            yield event
    except HttpProblem as exc:
        raise _transport_error(exc, where, path, server) from None


def _segment(value: str) -> str:
    """One path segment, percent-encoded so a name can never change the path."""
    return quote(value, safe="")


_ERRORS: dict[int, type[KubeApiError]] = {
    401: KubeForbidden, 403: KubeForbidden, 404: KubeNotFound, 409: KubeConflict, 410: KubeGone, 429: KubeThrottled,
}


def _parse(status: int, body: bytes, where: str, path: str) -> JsonObject:
    document: Any = None
    if len(body) <= MAX_BODY_BYTES:
        try:
            document = json.loads(body or b"null")
        except (ValueError, RecursionError):  # garbage, or nested deeper than the parser goes: not an answer
            document = None
    if 200 <= status < 300:
        if not isinstance(document, dict):
            raise KubeServerError(f"{where}: answer is not a JSON object (HTTP {status})", status=status, path=path)
        return document
    api_message = str(document.get("message") or "") if isinstance(document, dict) else ""
    reason = str(document.get("reason") or "") if isinstance(document, dict) else ""
    cls = _ERRORS.get(status) or (KubeServerError if status >= 500 else KubeApiError)
    detail = f": {api_message}" if api_message else ""
    headline = f"{where}: HTTP {status} {reason or http.client.responses.get(status, '')}".rstrip()
    raise cls(headline + detail, status=status, path=path, reason=reason, api_message=api_message or f"HTTP {status}")
