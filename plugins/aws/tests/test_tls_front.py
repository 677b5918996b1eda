"""The test kit's TLS front: the Kubernetes API over HTTPS with a throwaway CA, as an in-cluster client sees it."""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.testing.kube import FakeKubernetes
from gateway_aws.testing import TlsFront
from gateway_kube.kubeapi import KubeApi, in_cluster_config
from gateway_vault.testing.certs import ThrowawayPki  # a throwaway CA (the vault plugin's test kit)


@pytest.fixture
def pki(tmp_path: Path) -> ThrowawayPki:
    return ThrowawayPki.create(tmp_path / "pki", server_name="kubernetes.default.svc", loopback=True)


@pytest.fixture
def front(kube: FakeKubernetes, pki: ThrowawayPki) -> Iterator[TlsFront]:
    kube.add_service_account("apps", "web", {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/web"})
    with TlsFront(kube.url, str(pki.server_cert), str(pki.server_key)) as running:
        yield running


def get(front: TlsFront, context: ssl.SSLContext, path: str) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPSConnection("127.0.0.1", front.port, context=context, timeout=10)
    try:
        connection.request("GET", path, headers={"Authorization": "Bearer fake-kube-token"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("path", "status", "name"),
    [
        pytest.param("/api/v1/namespaces/apps/serviceaccounts/web", 200, "web", id="found"),
        pytest.param("/api/v1/namespaces/apps/serviceaccounts/nobody", 404, "nobody", id="missing"),
    ],
)
def test_requests_pass_through_unchanged(front: TlsFront, kube: FakeKubernetes, pki: ThrowawayPki, path: str, status: int, name: str) -> None:
    answered, body = get(front, ssl.create_default_context(cafile=str(pki.ca)), path)
    assert answered == status
    assert name in json.dumps(body)
    assert kube.count(path, "GET") == 1
    assert front.connections == 1


def test_a_client_not_trusting_the_ca_is_refused_and_nothing_reaches_the_peer(front: TlsFront, kube: FakeKubernetes) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        get(front, ssl.create_default_context(), "/api/v1/namespaces/apps/serviceaccounts/web")
    assert kube.requests == []
    assert front.connections == 0


async def test_the_gateway_in_cluster_client_reads_and_watches_through_it(front: TlsFront, kube: FakeKubernetes, pki: ThrowawayPki, tmp_path: Path) -> None:
    """In-cluster configuration (``https://host:port``, the token and CA files): a GET, a LIST and a WATCH that sees
    an account added while it streams."""
    account_dir = tmp_path / "serviceaccount"
    account_dir.mkdir()
    (account_dir / "token").write_text(kube.bearer_token)
    (account_dir / "ca.crt").write_text(pki.ca.read_text())
    api = KubeApi(in_cluster_config("127.0.0.1", str(front.port), account_dir))
    try:
        account = await api.service_account("apps", "web")
        assert account["metadata"]["name"] == "web"
        listed = await api.list_metadata("/api/v1/serviceaccounts", limit=10)
        version = listed["metadata"]["resourceVersion"]
        kube.add_service_account("apps", "api")
        async with api.watch_metadata("/api/v1/serviceaccounts", resource_version=version, timeout_seconds=5, idle_timeout=5) as events:
            async for event in events:
                if event.get("type") == "ADDED":
                    assert event["object"]["metadata"]["name"] == "api"
                    break
    finally:
        await api.aclose()
    assert [method for method, _ in kube.requests] == ["GET", "LIST", "WATCH"]
