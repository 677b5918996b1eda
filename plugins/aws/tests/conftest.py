"""Real peers for the AWS plugin tests: moto behind our fault proxy, FakeKubernetes, a Pod Identity agent.

moto, the proxy and the Kubernetes API live for the whole session and are reset before each
test; the agent is fresh per test. boto3 reaches the proxy only through ``AWS_ENDPOINT_URL``
(the SDK's own setting), and the environment is scrubbed so no test can use real AWS
credentials, profiles, instance metadata or a real cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.testing.kube import FakeKubernetes
from gateway_aws.testing import AwsProxy, AwsWorld, FakePodIdentityAgent, MotoServer
from gateway_aws.testing.world import SCRUBBED_ENV
from gateway_kube.testing import kube, kube_server  # noqa: F401 - fixtures


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def proxy(moto: MotoServer) -> Iterator[AwsProxy]:
    with AwsProxy(moto.url) as running:
        yield running


@pytest.fixture(autouse=True)
def aws_environment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in SCRUBBED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config, no ~/.aws
    if "world" in request.fixturenames:
        monkeypatch.setenv("AWS_ENDPOINT_URL", request.getfixturevalue("proxy").url)
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: a stray AWS call fails fast


@pytest.fixture
def world(moto: MotoServer, proxy: AwsProxy, kube: FakeKubernetes, tmp_path: Path) -> Iterator[AwsWorld]:
    moto.reset()
    proxy.reset()
    with FakePodIdentityAgent(on_issue=proxy.register_role) as agent:
        yield AwsWorld(moto, proxy, kube, agent, kube.write_kubeconfig(tmp_path / "kubeconfig"))
