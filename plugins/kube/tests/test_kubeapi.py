"""gateway_kube.kubeapi against FakeKubernetes (and a TLS server): config discovery, errors, cache, singleflight, rate limit."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.testing.hostile import HostileServer
from gateway.testing.kube import FakeKubernetes
from gateway_kube.kubeapi import (
    KubeApi,
    KubeConfig,
    KubeConfigError,
    KubeConflict,
    KubeConnectionError,
    KubeForbidden,
    KubeNotFound,
    KubeRateLimited,
    KubeServerError,
    KubeThrottled,
    TokenBucket,
    discover_config,
    load_kubeconfig,
)


@pytest.fixture(autouse=True)
def objects(kube: FakeKubernetes) -> None:
    kube.add_service_account("apps", "web", {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/web"})
    kube.add_pod("apps", "web-0", node_name="node-1", service_account="web")
    kube.add_node("node-1", {"topology.kubernetes.io/region": "eu-west-1"})


def api_for(kube: FakeKubernetes, **kwargs: Any) -> KubeApi:
    return KubeApi(KubeConfig(server=kube.url, token=kube.bearer_token, source="test"), **kwargs)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# --------------------------------------------------------------------------- reads and errors


async def test_typed_helpers_read_objects(kube: FakeKubernetes) -> None:
    api = api_for(kube)
    try:
        account = await api.service_account("apps", "web")
        pod = await api.pod("apps", "web-0")
        node = await api.node("node-1")
    finally:
        await api.aclose()
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/web")
    assert pod["spec"]["nodeName"] == "node-1"
    assert node["metadata"]["labels"]["topology.kubernetes.io/region"] == "eu-west-1"


async def test_creates_are_posted_and_never_cached(kube: FakeKubernetes) -> None:
    kube.token_requester = lambda namespace, account, audiences, lifetime: f"token-{namespace}-{account}-{','.join(audiences)}-{lifetime}"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "key"}, "data": {"key": "eA=="}}
    request = {"spec": {"audiences": ["vault"], "expirationSeconds": 900, "boundObjectRef": {"kind": "Pod", "name": "web-0", "uid": "pod-apps-web-0"}}}
    api = api_for(kube)
    try:
        created = await api.create_secret("apps", secret)
        with pytest.raises(KubeConflict) as conflict:
            await api.create_secret("apps", secret)
        read = await api.secret("apps", "key")
        token = await api.create_token("apps", "web", request)
        again = await api.create_token("apps", "web", request)
    finally:
        await api.aclose()
    assert created["metadata"] == {"name": "key", "namespace": "apps"} and read["data"] == {"key": "eA=="}
    assert conflict.value.status == 409 and conflict.value.reason == "AlreadyExists" and not conflict.value.retryable
    assert token["status"]["token"] == again["status"]["token"] == "token-apps-web-vault-900"
    assert kube.count("/serviceaccounts/web/token", method="POST") == 2  # a create is never served from the cache


@pytest.mark.parametrize(
    ("status", "error", "retryable", "status_name"),
    [
        pytest.param(403, KubeForbidden, False, "PermissionDenied", id="403-forbidden"),
        pytest.param(401, KubeForbidden, False, "PermissionDenied", id="401-unauthorized"),
        pytest.param(429, KubeThrottled, True, "Unavailable", id="429-throttled"),
        pytest.param(500, KubeServerError, True, "Unavailable", id="500-server"),
        pytest.param(503, KubeServerError, True, "Unavailable", id="503-unavailable"),
    ],
)
async def test_error_statuses_are_typed(kube: FakeKubernetes, status: int, error: type, retryable: bool, status_name: str) -> None:
    kube.inject("/api/v1/nodes", status=status)
    api = api_for(kube)
    try:
        with pytest.raises(error) as caught:
            await api.node("node-1")
    finally:
        await api.aclose()
    assert caught.value.status == status
    assert caught.value.retryable is retryable
    assert caught.value.status_name == status_name
    assert "GET /api/v1/nodes/node-1" in caught.value.message and str(status) in caught.value.message
    assert kube.bearer_token not in caught.value.message


async def test_not_found_carries_the_api_servers_message(kube: FakeKubernetes) -> None:
    api = api_for(kube)
    try:
        with pytest.raises(KubeNotFound) as caught:
            await api.pod("apps", "ghost")
    finally:
        await api.aclose()
    assert caught.value.api_message == 'pods "ghost" not found'
    assert caught.value.retryable is False


async def test_wrong_token_is_forbidden(kube: FakeKubernetes) -> None:
    api = KubeApi(KubeConfig(server=kube.url, token="wrong-token"))
    try:
        with pytest.raises(KubeForbidden):
            await api.node("node-1")
    finally:
        await api.aclose()


async def test_connection_refused_is_retryable() -> None:
    api = KubeApi(KubeConfig(server="http://127.0.0.1:9"), timeout=2)
    try:
        with pytest.raises(KubeConnectionError) as caught:
            await api.node("n")
    finally:
        await api.aclose()
    assert caught.value.retryable is True


async def test_names_cannot_change_the_path(kube: FakeKubernetes) -> None:
    api = api_for(kube)
    try:
        with pytest.raises(KubeNotFound):
            await api.pod("apps", "../../nodes/node-1")
    finally:
        await api.aclose()
    assert kube.count("/api/v1/namespaces/apps/pods/..%2F..%2Fnodes%2Fnode-1") == 1


async def test_errors_are_not_cached(kube: FakeKubernetes) -> None:
    kube.inject("/api/v1/nodes", status=500, times=1)
    api = api_for(kube)
    try:
        with pytest.raises(KubeServerError):
            await api.node("node-1")
        assert (await api.node("node-1"))["metadata"]["name"] == "node-1"
    finally:
        await api.aclose()
    assert kube.count("/api/v1/nodes/node-1") == 2


# --------------------------------------------------------------------------- cache, singleflight, rate limit


async def test_cache_serves_until_ttl_then_refetches(kube: FakeKubernetes) -> None:
    clock = FakeClock()
    events: list[str] = []
    api = api_for(kube, cache_ttl=30, clock=clock, on_cache_event=events.append)
    try:
        for _ in range(5):
            await api.service_account("apps", "web")
        clock.now += 31
        await api.service_account("apps", "web")
    finally:
        await api.aclose()
    assert kube.count("/serviceaccounts/web") == 2
    assert events.count("hit") == 4 and "expired" in events


async def test_cache_ttl_zero_disables_caching(kube: FakeKubernetes) -> None:
    api = api_for(kube, cache_ttl=0)
    try:
        await api.node("node-1")
        await api.node("node-1")
    finally:
        await api.aclose()
    assert kube.count("/api/v1/nodes/node-1") == 2


async def test_identical_concurrent_lookups_make_one_request(kube: FakeKubernetes) -> None:
    kube.inject("/api/v1/nodes", latency=0.3)
    api = api_for(kube)
    try:
        results = await asyncio.gather(*(api.node("node-1") for _ in range(10)))
    finally:
        await api.aclose()
    assert all(r["metadata"]["name"] == "node-1" for r in results)
    assert kube.count("/api/v1/nodes/node-1") == 1


async def test_token_bucket_allows_a_burst_then_paces_at_qps() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=2, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await bucket.acquire()
    assert clock.slept == [] and bucket.waits == 0
    for _ in range(4):
        await bucket.acquire()
    assert bucket.waits == 4
    assert sum(clock.slept) == pytest.approx(2.0)  # 4 more tokens at 2 per second


async def test_token_bucket_zero_qps_is_unlimited() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=0, burst=1, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        await bucket.acquire()
    assert clock.slept == []


async def test_client_waits_for_tokens_instead_of_failing(kube: FakeKubernetes) -> None:
    clock = FakeClock()
    api = api_for(kube, qps=1, burst=2, cache_ttl=0, clock=clock, sleep=clock.sleep)
    try:
        for name in ("web-0",) * 5:
            await api.pod("apps", name)
    finally:
        await api.aclose()
    assert kube.count("/pods/web-0") == 5
    assert api.bucket.waits == 3 and sum(clock.slept) == pytest.approx(3.0)


# --------------------------------------------------------------------------- configuration


def kubeconfig(path: Path, user: dict[str, Any], cluster: dict[str, Any]) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_explicit_kubeconfig_wins_over_in_cluster(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "kc", {"token": "t"}, {"server": "https://example.invalid:6443"})
    config = discover_config(str(path), env={"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    assert config.server == "https://example.invalid:6443" and config.source == str(path)


def test_in_cluster_config_uses_the_service_account_files(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token\n")
    (tmp_path / "ca.crt").write_text("pem")
    config = discover_config("", env={"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}, service_account_dir=tmp_path)
    assert config.server == "https://[fd00::1]:443"
    assert config.bearer_token() == "sa-token" and config.ca_file == str(tmp_path / "ca.crt")
    assert "sa-token" not in repr(config)


def test_in_cluster_without_token_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="token"):
        discover_config("", env={"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}, service_account_dir=tmp_path)


def test_kubeconfig_env_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = kubeconfig(tmp_path / "a", {"token": "t"}, {"server": "http://a:1"})
    assert discover_config("", env={"KUBECONFIG": f"{tmp_path / 'missing'}:{first}"}).server == "http://a:1"
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".kube").mkdir()
    kubeconfig(tmp_path / ".kube" / "config", {"token": "t"}, {"server": "http://home:1"})
    assert discover_config("", env={}).server == "http://home:1"


def test_no_configuration_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeConfigError, match="no Kubernetes API configuration") as caught:
        discover_config("", env={})
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    ("user", "cluster", "message"),
    [
        pytest.param({"exec": {"command": "aws"}}, {"server": "https://x"}, "exec", id="exec-plugin"),
        pytest.param({"token": "t"}, {}, "no server", id="no-server"),
        pytest.param({"token": "t"}, {"server": "https://x", "certificate-authority-data": "%%%"}, "base64", id="bad-ca-data"),
    ],
)
def test_unusable_kubeconfigs(tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any], message: str) -> None:
    with pytest.raises(KubeConfigError, match=message):
        load_kubeconfig(kubeconfig(tmp_path / "kc", user, cluster))


def test_kubeconfig_token_file_and_ca_data(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("file-token")
    path = kubeconfig(
        tmp_path / "kc", {"tokenFile": "tok"}, {"server": "https://x", "certificate-authority-data": base64.b64encode(b"PEM").decode()}
    )
    config = load_kubeconfig(path)
    assert config.bearer_token() == "file-token" and config.ca_data == "PEM"


# --------------------------------------------------------------------------- TLS


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-test")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            ok = self.headers.get("Authorization") == "Bearer tls-token"
            body = json.dumps({"kind": "Node", "metadata": {"name": "n"}} if ok else {"kind": "Status", "code": 401}).encode()
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert_file
    finally:
        server.shutdown()
        server.server_close()


async def test_https_with_the_cluster_ca(tls_server: tuple[str, Path]) -> None:
    url, ca = tls_server
    api = KubeApi(KubeConfig(server=url, token="tls-token", ca_file=str(ca)))
    try:
        assert (await api.node("n"))["metadata"]["name"] == "n"
    finally:
        await api.aclose()


async def test_https_with_an_unknown_ca_fails_as_a_connection_error(tls_server: tuple[str, Path]) -> None:
    url, _ = tls_server
    api = KubeApi(KubeConfig(server=url, token="tls-token"))
    try:
        with pytest.raises(KubeConnectionError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await api.node("n")
    finally:
        await api.aclose()


async def test_lazy_config_is_loaded_at_first_use(kube: FakeKubernetes) -> None:
    loads: list[int] = []

    def load() -> KubeConfig:
        loads.append(1)
        return KubeConfig(server=kube.url, token=kube.bearer_token)

    api = KubeApi(load)
    try:
        assert loads == []
        await api.node("node-1")
        await api.pod("apps", "web-0")
    finally:
        await api.aclose()
    assert loads == [1]


async def test_token_bucket_serves_namespaces_in_turn() -> None:
    """A burst of one namespace queues behind itself: another namespace's read is served next."""
    clock = FakeClock()
    bucket = TokenBucket(qps=1, burst=1, clock=clock, sleep=clock.sleep)
    served: list[str] = []

    async def read(tenant: str) -> None:
        await bucket.acquire(tenant)
        served.append(tenant)

    readers = [asyncio.ensure_future(read(tenant)) for tenant in ["busy"] * 5 + ["quiet"]]
    await asyncio.gather(*readers)
    assert served[:3] == ["busy", "busy", "quiet"]  # the first took the saved token; then one each in turn


async def test_a_read_queued_past_max_wait_names_the_rate_limit() -> None:
    bucket = TokenBucket(qps=0.5, burst=1, max_wait=0.05)
    await bucket.acquire("a")
    with pytest.raises(KubeRateLimited, match=r"Kubernetes API rate limit \(0.5 requests/s, burst 1\) kept this read queued for 0.05s"):
        await bucket.acquire("b")


@pytest.mark.parametrize(
    ("behaviour", "error", "message"),
    [
        pytest.param("dribble-head", KubeConnectionError, "timed out", id="dribbled-head"),
        pytest.param("dribble-body", KubeConnectionError, "timed out", id="dribbled-body"),
        pytest.param("huge-chunked", KubeServerError, "larger than the limit", id="huge"),
        pytest.param("garbage", KubeServerError, "the answer is not HTTP", id="garbage"),
        pytest.param("html", KubeServerError, r"answer is not a JSON object \(HTTP 200\)", id="html"),
        pytest.param("json-deep", KubeServerError, r"answer is not a JSON object \(HTTP 200\)", id="json-nested-too-deep"),
    ],
)
async def test_a_broken_api_server_is_bounded(behaviour: str, error: type[Exception], message: str) -> None:
    """A hanging, dribbling or garbled API server costs one request deadline, no thread, no lasting connection."""
    with HostileServer(behaviour) as server:
        api = KubeApi(KubeConfig(server=server.address), timeout=0.5, cache_ttl=0)
        try:
            with pytest.raises(error, match=message):
                await api.node("node-1")
        finally:
            await api.aclose()
        assert server.wait_all_closed()
