"""A small, real HTTP server answering the Kubernetes API calls plugins make.

Serves ``GET`` of ServiceAccounts, Pods, Nodes and Secrets, a metadata LIST (paginated) and
WATCH (chunked, with bookmarks, 410 for a version older than its history) of all ServiceAccounts,
``POST`` of Secrets (409 when one exists), of TokenRequests (``serviceaccounts/<name>/token``, answered by ``token_requester``) and
of TokenReviews, with
responses shaped like the real API's JSON (``Status`` objects with code 404 for missing
ones). It records every request so tests can count API load, and can inject latency and
error statuses (e.g. 429) per path prefix. :meth:`FakeKubernetes.write_kubeconfig` points a
client at it.

Use it as a context manager::

    with FakeKubernetes() as kube:
        kube.add_service_account("apps", "web", annotations={"example.com/role": "reader"})
        kube.add_node("node-1", labels={"topology.kubernetes.io/zone": "zone-a"})
        kube.add_pod("apps", "web-0", node_name="node-1", service_account="web")
        path = kube.write_kubeconfig(tmp_path / "kubeconfig")
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.testing.local import LocalHTTPServer, QuietHandler

#: TokenReview decision: token -> user info dict (username, uid, groups) or None (unauthenticated)
TokenReviewer = Callable[[str, list[str]], dict[str, Any] | None]
#: TokenRequest: (namespace, service account, audiences, lifetime seconds) -> a signed token
TokenRequester = Callable[[str, str, list[str], int], str]

_ROUTES = [
    (re.compile(r"^/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)$"), "serviceaccounts"),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)$"), "pods"),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/secrets/([^/]+)$"), "secrets"),
    (re.compile(r"^/api/v1/nodes/([^/]+)$"), "nodes"),
]
SERVICE_ACCOUNTS = "/api/v1/serviceaccounts"
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
SECRETS = re.compile(r"^/api/v1/namespaces/([^/]+)/secrets$")
TOKEN_REQUESTS = re.compile(r"^/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)/token$")


@dataclass
class Fault:
    status: int = 0
    latency: float = 0.0
    remaining: int | None = None  # None: every request


@dataclass
class FakeKubernetes(LocalHTTPServer):
    bearer_token: str = "fake-kube-token"
    service_accounts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    pods: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    token_reviewer: TokenReviewer | None = None
    token_requester: TokenRequester | None = None
    token_requests: list[dict[str, Any]] = field(default_factory=list)  # every TokenRequest body received
    requests: list[tuple[str, str]] = field(default_factory=list)
    faults: dict[str, Fault] = field(default_factory=dict)
    bookmark_interval: float = 1.0  # seconds between a watch's BOOKMARK events
    history: int = 1000  # watch events kept; a watch from an older version gets 410 Gone
    thread_name = "fake-kubernetes"

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._version = 1
        self._events: deque[tuple[int, bytes]] = deque()  # (resourceVersion, event line) of ServiceAccount changes
        self._raw_lines: list[bytes] = []  # lines the next watch sends first (malformed events for tests)
        self._stopping = False

    # ------------------------------------------------------------------ the ServiceAccount watch

    def _account_changed(self, kind: str, account: dict[str, Any]) -> None:
        """Bump the version, stamp it on ``account`` and record the watch event (the lock is held)."""
        self._version += 1
        account["metadata"]["resourceVersion"] = str(self._version)
        line = json.dumps({"type": kind, "object": _partial(account)}).encode() + b"\n"
        self._events.append((self._version, line))
        while len(self._events) > self.history:
            self._events.popleft()
        self._changed.notify_all()

    def delete_service_account(self, namespace: str, name: str) -> None:
        with self._lock:
            account = self.service_accounts.pop((namespace, name), None)
            if account is not None:
                self._account_changed("DELETED", account)

    def forget_watch_history(self) -> None:
        """Drop the event history: a watch resuming from an older version gets 410 Gone."""
        with self._lock:
            self._events.clear()

    def send_watch_lines(self, *lines: bytes) -> None:
        """Lines the next watch sends before its events (e.g. a malformed event)."""
        with self._lock:
            self._raw_lines.extend(lines)
            self._changed.notify_all()

    def _list(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        limit, offset = int(query.get("limit") or 0), int(query.get("continue") or 0)
        with self._lock:
            accounts = [_partial(self.service_accounts[key]) for key in sorted(self.service_accounts)]
            version = self._version
        page = accounts[offset : offset + limit] if limit else accounts[offset:]
        more = bool(limit) and offset + limit < len(accounts)
        metadata = {"resourceVersion": str(version), **({"continue": str(offset + limit)} if more else {})}
        return 200, {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "items": page}

    def _watch_lines(self, since: int, seconds: float) -> Any:
        """The lines of one watch from version ``since``: history, then changes as they come, bookmarks between."""
        ends = time.monotonic() + seconds
        next_bookmark = time.monotonic() + self.bookmark_interval
        with self._lock:
            if (self._events and since < self._events[0][0] - 1) or (not self._events and since < self._version):
                gone = _status(410, "Expired", f"too old resource version: {since} ({self._version})", "", "")
                yield json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n"
                return
        while not self._stopping and time.monotonic() < ends:
            with self._lock:
                raw, self._raw_lines = self._raw_lines, []
                pending = [line for version, line in self._events if version > since]
                since = self._version
                if not raw and not pending:
                    self._changed.wait(min(0.05, max(0.0, ends - time.monotonic())))
            yield from raw
            yield from pending
            if time.monotonic() >= next_bookmark:
                next_bookmark = time.monotonic() + self.bookmark_interval
                bookmark = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(since)}}
                yield json.dumps({"type": "BOOKMARK", "object": bookmark}).encode() + b"\n"

    def stop(self) -> None:
        self._stopping = True
        super().stop()

    def start(self) -> Any:
        self._stopping = False
        return super().start()

    # ------------------------------------------------------------------ objects

    def add_service_account(self, namespace: str, name: str, annotations: dict[str, str] | None = None) -> None:
        account = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "uid": f"sa-{namespace}-{name}", "annotations": annotations or {}},
        }
        with self._lock:
            kind = "MODIFIED" if (namespace, name) in self.service_accounts else "ADDED"
            self.service_accounts[(namespace, name)] = account
            self._account_changed(kind, account)

    def add_pod(self, namespace: str, name: str, node_name: str, service_account: str = "default", uid: str = "") -> None:
        self.pods[(namespace, name)] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": uid or f"pod-{namespace}-{name}"},
            "spec": {"nodeName": node_name, "serviceAccountName": service_account},
        }

    def add_node(self, name: str, labels: dict[str, str] | None = None) -> None:
        self.nodes[name] = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}}}

    def reset(self) -> None:
        """Forget every object, fault and recorded request (one server can serve a whole session)."""
        with self._lock:
            for account in self.service_accounts.values():
                self._account_changed("DELETED", account)
            self.service_accounts.clear()
            self._raw_lines.clear()
            self.pods.clear()
            self.nodes.clear()
            self.secrets.clear()
            self.faults.clear()
            self.requests.clear()
            self.token_requests.clear()
        self.token_reviewer = None
        self.token_requester = None

    def inject(self, path_prefix: str, status: int = 0, latency: float = 0.0, times: int | None = None) -> None:
        """Answer requests under ``path_prefix`` with ``status`` (0: normally) after ``latency`` seconds."""
        self.faults[path_prefix] = Fault(status, latency, times)

    def count(self, path_fragment: str = "", method: str = "") -> int:
        """Requests whose path contains ``path_fragment`` (and method, if given)."""
        with self._lock:
            return sum(1 for m, p in self.requests if path_fragment in p and (not method or m == method))

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(f"{m} {p}" for m, p in self.requests)

    # ------------------------------------------------------------------ server

    @property
    def url(self) -> str:
        return self.base_url

    def write_kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": self.bearer_token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    # ------------------------------------------------------------------ handling

    def _record(self, method: str, path: str) -> Fault | None:
        with self._lock:
            self.requests.append((method, path))
            for prefix, fault in self.faults.items():
                if path.startswith(prefix) and (fault.remaining is None or fault.remaining > 0):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
        return None

    def _get(self, path: str) -> tuple[int, dict[str, Any]]:
        for pattern, kind in _ROUTES:
            match = pattern.match(path)
            if not match:
                continue
            key = match.groups()
            stores: dict[str, dict[Any, dict[str, Any]]] = {
                "serviceaccounts": self.service_accounts, "pods": self.pods, "nodes": self.nodes, "secrets": self.secrets,
            }
            found = stores[kind].get(key if len(key) > 1 else key[0])
            if found is None:
                return 404, _status(404, "NotFound", f'{kind} "{key[-1]}" not found', key[-1], kind)
            return 200, found
        return 404, _status(404, "NotFound", "the server could not find the requested resource", "", "")

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path == TOKEN_REVIEWS:
            return self._token_review(body)
        created = SECRETS.match(path)
        if created:
            return self._create_secret(created.group(1), body)
        requested = TOKEN_REQUESTS.match(path)
        if requested:
            namespace, service_account = requested.group(1), requested.group(2)
            return self._token_request(namespace, service_account, body)
        return 404, _status(404, "NotFound", "the server could not find the requested resource", "", "")

    def _create_secret(self, namespace: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = str((body.get("metadata") or {}).get("name") or "")
        with self._lock:
            if (namespace, name) in self.secrets:
                return 409, _status(409, "AlreadyExists", f'secrets "{name}" already exists', name, "secrets")
            stored = {**body, "apiVersion": "v1", "kind": "Secret", "metadata": {**body.get("metadata", {}), "namespace": namespace}}
            self.secrets[(namespace, name)] = stored
        return 201, stored

    def _token_request(self, namespace: str, service_account: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """A token for the service account, bound to a pod: refused when the pod is known and is not
        that uid or does not run as that service account (as the API server does)."""
        spec = body.get("spec") or {}
        bound = spec.get("boundObjectRef") or {}
        with self._lock:
            self.token_requests.append(body)
            pod = self.pods.get((namespace, str(bound.get("name", ""))))
        if pod is not None and (
            pod["metadata"]["uid"] != bound.get("uid") or pod["spec"].get("serviceAccountName") != service_account
        ):
            return 400, _status(400, "BadRequest", "the bound pod does not match the service account", service_account, "serviceaccounts")
        if self.token_requester is None or (namespace, service_account) not in self.service_accounts:
            return 404, _status(404, "NotFound", f'serviceaccounts "{service_account}" not found', service_account, "serviceaccounts")
        lifetime = int(spec.get("expirationSeconds") or 3600)
        token = self.token_requester(namespace, service_account, list(spec.get("audiences") or []), lifetime)
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + lifetime))
        answer = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec, "status": {"token": token, "expirationTimestamp": expires}}
        return 201, answer

    def _token_review(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        spec = body.get("spec") or {}
        token, audiences = spec.get("token", ""), spec.get("audiences") or []
        user = self.token_reviewer(token, audiences) if self.token_reviewer else None
        status: dict[str, Any] = {"authenticated": user is not None}
        if user is not None:
            status["user"] = user
            status["audiences"] = audiences
        else:
            status["error"] = "token is not valid"
        return 201, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec, "status": status}


def _partial(account: dict[str, Any]) -> dict[str, Any]:
    """A ServiceAccount as ``PartialObjectMetadata`` (what a metadata-only list or watch returns)."""
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": dict(account["metadata"])}


def _status(code: int, reason: str, message: str, name: str, kind: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": {"name": name, "kind": kind},
        "code": code,
    }


_REASONS = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}


class _Handler(QuietHandler):
    owner: FakeKubernetes

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        path, _, query_text = self.path.partition("?")
        query = dict(urllib.parse.parse_qsl(query_text))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if method == "GET" and path == SERVICE_ACCOUNTS:
            method = "WATCH" if query.get("watch") in ("1", "true") else "LIST"
        fault = self.owner._record(method, path)
        if fault and fault.latency:
            time.sleep(fault.latency)
        if self.headers.get("Authorization") != f"Bearer {self.owner.bearer_token}":
            self._reply(401, _status(401, "Unauthorized", "Unauthorized", "", ""))
        elif fault and fault.status:
            reason = _REASONS.get(fault.status, "InternalError")
            self._reply(fault.status, _status(fault.status, reason, f"injected {reason}", "", ""))
        elif method == "POST":
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._reply(400, _status(400, "BadRequest", "invalid JSON", "", ""))
                return
            self._reply(*self.owner._post(path, body))
        elif method == "GET":
            self._reply(*self.owner._get(path))
        elif method == "LIST":
            self._reply(*self.owner._list(query))
        elif method == "WATCH":
            self._stream(self.owner._watch_lines(int(query.get("resourceVersion") or 0), float(query.get("timeoutSeconds") or 300)))
        else:
            self._reply(405, _status(405, "MethodNotAllowed", "method not allowed", "", ""))

    def _stream(self, lines: Any) -> None:
        """A chunked 200 answer, one chunk per line, until ``lines`` ends or the client goes away."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for line in lines:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        self.close_connection = True

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if code == 429:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up during injected latency (its deadline passed): nothing to answer
            self.close_connection = True


FakeKubernetes.handler_class = _Handler
