"""Real peers for the AWS plugin tests: moto behind our fault proxy, FakeKubernetes, a Pod Identity agent.

moto and the proxy live for the whole session and are reset before each test; the
Kubernetes API and the agent are fresh per test. boto3 reaches the proxy only through
``AWS_ENDPOINT_URL`` (the SDK's own setting), and the environment is scrubbed so no test can
use real AWS credentials, profiles, instance metadata or a real cluster.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

import gateway_aws.plugin as aws_plugin
from gateway.settings import Settings
from gateway.testing import PodContext, RunningGateway, running_gateway
from gateway.testing.kube import FakeKubernetes
from gateway_aws.identity import IRSA_AUDIENCE, POD_IDENTITY_AUDIENCE
from gateway_aws.testing import AwsProxy, FakePodIdentityAgent, MotoServer

ACCOUNT = "123456789012"
PRIMARY, FAILOVER = "us-east-1", "us-west-2"
REGION_LABEL = "topology.kubernetes.io/region"
SCRUBBED_ENV = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
    "KUBECONFIG",
)


def role_arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


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
    if "world" in request.fixturenames or "proxy" in request.fixturenames:
        proxy: AwsProxy = request.getfixturevalue("proxy")
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: a test that calls AWS by mistake fails fast


@dataclass
class World:
    """Everything one test talks to, plus helpers to seed AWS and describe pods."""

    moto: MotoServer
    proxy: AwsProxy
    kube: FakeKubernetes
    agent: FakePodIdentityAgent
    kubeconfig: Path
    options: dict[str, str] = field(default_factory=dict)

    # -- seeding, straight to moto (not counted by the proxy)

    def client(self, service: str, region: str = PRIMARY) -> Any:
        return boto3.client(
            service, region_name=region, endpoint_url=self.moto.url, aws_access_key_id="seed", aws_secret_access_key="seed"
        )

    def secret(self, name: str, value: str | bytes, region: str = PRIMARY) -> dict[str, str]:
        kwargs = {"SecretBinary": value} if isinstance(value, bytes) else {"SecretString": value}
        created = self.client("secretsmanager", region).create_secret(Name=name, **kwargs)
        return {"ARN": created["ARN"], "VersionId": created["VersionId"]}

    def rotate(self, name: str, value: str, region: str = PRIMARY, stages: list[str] | None = None) -> str:
        kwargs: dict[str, Any] = {"SecretId": name, "SecretString": value}
        if stages is not None:
            kwargs["VersionStages"] = stages
        return str(self.client("secretsmanager", region).put_secret_value(**kwargs)["VersionId"])

    def parameter(self, name: str, value: str, region: str = PRIMARY, kind: str = "SecureString") -> int:
        return int(self.client("ssm", region).put_parameter(Name=name, Value=value, Type=kind, Overwrite=True)["Version"])

    # -- pods

    def irsa_pod(self, name: str = "web-0", namespace: str = "apps", service_account: str = "web",
                 role: str | None = role_arn("web"), node: str = "node-1", region_label: str | None = PRIMARY) -> PodContext:
        self.kube.add_service_account(namespace, service_account, {"eks.amazonaws.com/role-arn": role} if role else {})
        self.kube.add_pod(namespace, name, node_name=node, service_account=service_account)
        self.kube.add_node(node, {REGION_LABEL: region_label} if region_label else {})
        token = f"irsa-token-{secrets.token_hex(12)}"
        return PodContext(name=name, namespace=namespace, service_account=service_account, tokens={IRSA_AUDIENCE: token})

    def pod_identity_pod(self, name: str = "api-0", namespace: str = "apps", service_account: str = "api",
                         role: str | None = role_arn("api")) -> PodContext:
        self.kube.add_pod(namespace, name, node_name="node-1", service_account=service_account)
        token = f"pod-identity-token-{secrets.token_hex(12)}"
        if role:
            self.agent.associate(token, role)
        return PodContext(name=name, namespace=namespace, service_account=service_account, tokens={POD_IDENTITY_AUDIENCE: token})

    # -- the gateway

    def settings(self, **options: str) -> Settings:
        merged = {
            "aws-kubeconfig": str(self.kubeconfig),
            "aws-pod-identity-endpoint": self.agent.url,
            "aws-pod-identity-endpoint-ipv6": self.agent.url,
            "aws-max-attempts": "1",
            "aws-pod-identity-attempts": "2",
            **self.options,
            **{key.replace("_", "-"): value for key, value in options.items()},
        }
        return Settings(plugin_options=merged, backend_timeout=20.0, mount_timeout=60.0)

    @asynccontextmanager
    async def gateway(self, **options: str) -> AsyncIterator[RunningGateway]:
        async with running_gateway(plugins=[("aws", aws_plugin)], settings=self.settings(**options)) as running:
            yield running


@pytest.fixture
def world(moto: MotoServer, proxy: AwsProxy, tmp_path: Path) -> Iterator[World]:
    moto.reset()
    proxy.reset()
    with FakeKubernetes() as kube, FakePodIdentityAgent(on_issue=proxy.register_role) as agent:
        yield World(moto, proxy, kube, agent, kube.write_kubeconfig(tmp_path / "kubeconfig"))
