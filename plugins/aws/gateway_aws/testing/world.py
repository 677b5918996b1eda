"""One test world: moto behind the proxy, a fake Kubernetes API and Pod Identity agent, and the gateway.

Seeding goes straight to moto (the proxy does not count it); mounts go through a real
gateway (gRPC over a temporary unix socket) with the ``aws`` plugin, whose boto3 clients
reach the proxy through ``AWS_ENDPOINT_URL`` set by the caller.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3

import gateway_aws.plugin as aws_plugin
from gateway.plugin import Settings
from gateway.testing import PodContext, RunningGateway, running_gateway
from gateway.testing.kube import FakeKubernetes
from gateway_aws.identity import IRSA_AUDIENCE, POD_IDENTITY_AUDIENCE, ROLE_ANNOTATION
from gateway_aws.region import REGION_LABEL
from gateway_aws.testing.agent import FakePodIdentityAgent
from gateway_aws.testing.moto import MotoServer
from gateway_aws.testing.proxy import AwsProxy

ACCOUNT = "123456789012"
PRIMARY, FAILOVER = "us-east-1", "us-west-2"

#: environment that could reach real AWS, a real cluster or a proxy: removed around every test world
SCRUBBED_ENV = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_DEFAULT_PROFILE",
    "AWS_DATA_PATH",
    "AWS_SDK_UA_APP_ID",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
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
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
)


def role_arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


@dataclass
class AwsWorld:
    moto: MotoServer
    proxy: AwsProxy
    kube: FakeKubernetes
    agent: FakePodIdentityAgent
    kubeconfig: Path
    options: dict[str, str] = field(default_factory=dict)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    # -- seeding, straight to moto

    def client(self, service: str, region: str = PRIMARY) -> Any:
        """A boto3 client talking to moto directly (not through the proxy, so not counted)."""
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = boto3.client(
                service, region_name=region, endpoint_url=self.moto.url, aws_access_key_id="seed", aws_secret_access_key="seed"
            )
        return self._clients[key]

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

    def irsa_pod(
        self,
        name: str = "web-0",
        namespace: str = "apps",
        service_account: str = "web",
        role: str | None = None,
        node: str = "node-1",
        region_label: str | None = PRIMARY,
    ) -> PodContext:
        """A pod whose ServiceAccount carries ``role`` (default ``role/<service_account>``; "" = no annotation)."""
        role = role_arn(service_account) if role is None else role
        self.kube.add_service_account(namespace, service_account, {ROLE_ANNOTATION: role} if role else {})
        self.kube.add_pod(namespace, name, node_name=node, service_account=service_account)
        self.kube.add_node(node, {REGION_LABEL: region_label} if region_label else {})
        token = f"irsa-token-{secrets.token_hex(12)}"
        return PodContext(name=name, namespace=namespace, service_account=service_account, tokens={IRSA_AUDIENCE: token})

    def pod_identity_pod(
        self, name: str = "api-0", namespace: str = "apps", service_account: str = "api", role: str | None = None
    ) -> PodContext:
        """A pod with a Pod Identity token the agent maps to ``role`` ("" = no association)."""
        role = role_arn(service_account) if role is None else role
        self.kube.add_pod(namespace, name, node_name="node-1", service_account=service_account)
        token = f"pod-identity-token-{secrets.token_hex(12)}"
        if role:
            self.agent.associate(token, role)
        return PodContext(name=name, namespace=namespace, service_account=service_account, tokens={POD_IDENTITY_AUDIENCE: token})

    # -- the gateway

    def settings(self, **options: str) -> Settings:
        """Settings for the gateway; ``aws_max_attempts="2"`` sets ``--aws-max-attempts``."""
        merged = {
            "aws-kubeconfig": str(self.kubeconfig),
            "aws-pod-identity-endpoint": self.agent.url,
            "aws-pod-identity-endpoint-ipv6": self.agent.url,
            "aws-max-attempts": "1",
            # moto and the agent on a loaded test machine can be slower than the default timeouts
            "aws-read-timeout": "5",
            "aws-pod-identity-timeout": "3",
            "aws-pod-identity-attempts": "2",
            **self.options,
            **{key.replace("_", "-"): value for key, value in options.items()},
        }
        # provider "aws": classes are read in the ASCP dialect, as a drop-in replacement must
        return Settings(plugin_options=merged, backend_timeout=20.0, mount_timeout=60.0, provider_name="aws")

    @asynccontextmanager
    async def gateway(self, **settings: Any) -> AsyncIterator[RunningGateway]:
        """A running gateway; keyword arguments are plugin options (``aws_max_attempts="3"``) or,
        when they name a core setting (``cache_ttl=30``), core settings."""
        core = {key: settings.pop(key) for key in list(settings) if key in Settings.__dataclass_fields__}
        async with running_gateway(plugins=[("aws", aws_plugin)], settings=replace(self.settings(**settings), **core)) as running:
            yield running

    @asynccontextmanager
    async def serve_process(
        self, *flags: str, env: Mapping[str, str] | None = None, wrapper: tuple[str, ...] = ()
    ) -> AsyncIterator[tuple[subprocess.Popen[bytes], Path]]:
        """For benchmarks: a cold ``serve --plugins aws`` process of its own (so its CPU and memory are
        its own) against this world, with ``flags`` added (and ``env``, default this process's environment;
        ``wrapper``: a command it runs under, e.g. valgrind's); yields it and its socket once the socket is up."""
        directory = Path(tempfile.mkdtemp(prefix="sgw-aws-serve-", dir="/tmp"))
        command = [
            *wrapper, sys.executable, "-m", "gateway", "--log-level", "error", "serve", "--providers-dir", str(directory),
            "--plugins", "aws", "--http-address", "", "--aws-kubeconfig", str(self.kubeconfig), *flags,
        ]
        server = subprocess.Popen(command, env=env)  # noqa: ASYNC220 - starting it does not wait for it
        socket_path = directory / "secrets-gateway.sock"
        try:
            while not socket_path.exists():
                if server.poll() is not None:
                    raise RuntimeError("the gateway exited during startup")
                await asyncio.sleep(0.01)
            yield server, socket_path
        finally:
            server.terminate()
            server.wait(timeout=30)
            shutil.rmtree(directory, ignore_errors=True)

    @classmethod
    @contextmanager
    def isolated(cls, latency: float = 0.0, jitter: float = 0.0) -> Iterator[AwsWorld]:
        """For scripts (benchmarks, soaks): every peer started, boto3 pointed at the proxy, the
        environment scrubbed of anything that could reach real AWS — and restored afterwards."""
        saved = dict(os.environ)
        scratch = Path(tempfile.mkdtemp(prefix="sgw-aws-"))
        for name in SCRUBBED_ENV:
            os.environ.pop(name, None)
        os.environ.update(
            {
                "AWS_CONFIG_FILE": str(scratch / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "no-aws-credentials"),
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
        try:
            with MotoServer() as moto, AwsProxy(moto.url, latency, jitter) as proxy, FakeKubernetes() as kube, \
                    FakePodIdentityAgent(on_issue=proxy.register_role) as agent:
                os.environ["AWS_ENDPOINT_URL"] = proxy.url
                yield cls(moto, proxy, kube, agent, kube.write_kubeconfig(scratch / "kubeconfig"))
        finally:
            os.environ.clear()
            os.environ.update(saved)
            shutil.rmtree(scratch, ignore_errors=True)
