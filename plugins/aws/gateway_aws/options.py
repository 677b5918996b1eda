"""Server flags of the AWS plugin (``--aws-*`` / ``$SECRETS_GATEWAY_AWS_*``), parsed once at startup.

The names are a stable interface (the Helm chart exposes them); docs/aws.md lists them.
None of them can be set from a SecretProviderClass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from gateway.errors import StartupError
from gateway.settings import PluginOption, Settings

T = TypeVar("T")

DEFAULT_POD_IDENTITY_ENDPOINT = "http://169.254.170.23/v1/credentials"
DEFAULT_POD_IDENTITY_ENDPOINT_IPV6 = "http://[fd00:ec2::23]/v1/credentials"
RETRY_MODES = ("standard", "adaptive", "legacy")

OPTIONS: tuple[PluginOption, ...] = (
    PluginOption(
        "aws-allow-ambient-credentials",
        "DEV ONLY: use this process's own AWS credentials (env, profile, "
        "instance role) for every mount instead of the pod's IRSA/Pod Identity; a SecretProviderClass can "
        "never enable this",
        default="false",
    ),
    PluginOption("aws-pod-identity-endpoint", "EKS Pod Identity agent credentials URL (IPv4)", default=DEFAULT_POD_IDENTITY_ENDPOINT),
    PluginOption(
        "aws-pod-identity-endpoint-ipv6", "EKS Pod Identity agent credentials URL (IPv6)", default=DEFAULT_POD_IDENTITY_ENDPOINT_IPV6
    ),
    PluginOption("aws-pod-identity-timeout", "seconds per Pod Identity agent request", default="2"),
    PluginOption("aws-pod-identity-attempts", "attempts per Pod Identity agent endpoint (jittered backoff between)", default="3"),
    PluginOption(
        "aws-kubeconfig",
        "kubeconfig for ServiceAccount/Pod/Node lookups outside a cluster "
        "(default: in-cluster config, then $KUBECONFIG, then ~/.kube/config)",
    ),
    PluginOption("aws-kube-qps", "Kubernetes API requests per second (token bucket; 0 = unlimited)", default="5"),
    PluginOption("aws-kube-burst", "Kubernetes API request burst", default="10"),
    PluginOption("aws-kube-cache-ttl", "seconds to cache ServiceAccount/Pod/Node lookups (0 = off)", default="30"),
    PluginOption("aws-retry-mode", "botocore retry mode: standard, adaptive or legacy", default="standard"),
    PluginOption("aws-max-attempts", "attempts per AWS API call, first included (botocore retries)", default="3"),
    PluginOption("aws-credential-refresh-margin", "seconds before expiry at which cached pod credentials are renewed", default="300"),
    PluginOption("aws-use-fips-endpoint", "use FIPS endpoints (AWS_USE_FIPS_ENDPOINT=true works too)", default="false"),
    PluginOption("aws-connect-timeout", "seconds to connect to an AWS endpoint", default="3"),
    PluginOption("aws-read-timeout", "seconds to wait for an AWS answer", default="5"),
    PluginOption("aws-max-workers", "threads running boto3 calls (bounds concurrent AWS calls)", default="16"),
    PluginOption("aws-max-workers-per-namespace", "of those threads, at most this many for the pods of one namespace", default="8"),
    PluginOption("aws-max-clients", "boto3 clients kept (one per identity, region and service; least recently used dropped)", default="128"),
    PluginOption(
        "aws-secretsmanager-batch",
        "use BatchGetSecretValue for unpinned secrets (falls back to "
        "GetSecretValue when the role lacks secretsmanager:BatchGetSecretValue)",
        default="true",
    ),
)


@dataclass(frozen=True)
class AwsOptions:
    """Parsed plugin options plus what the plugin reads from its own process environment."""

    allow_ambient_credentials: bool = False
    pod_identity_endpoint: str = DEFAULT_POD_IDENTITY_ENDPOINT
    pod_identity_endpoint_ipv6: str = DEFAULT_POD_IDENTITY_ENDPOINT_IPV6
    pod_identity_timeout: float = 2.0
    pod_identity_attempts: int = 3
    kubeconfig: str = ""
    kube_qps: float = 5.0
    kube_burst: int = 10
    kube_cache_ttl: float = 30.0
    retry_mode: str = "standard"
    max_attempts: int = 3
    credential_refresh_margin: float = 300.0
    use_fips_endpoint: bool = False
    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    max_workers: int = 16
    max_workers_per_namespace: int = 8
    max_clients: int = 128
    secretsmanager_batch: bool = True
    env_region: str = ""  # AWS_REGION of the provider process

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None) -> AwsOptions:
        """Parse every ``aws-*`` option; a bad value stops the server naming the flag."""
        defaults = {option.name: option.default for option in OPTIONS}

        def get(name: str, parse: Callable[[str], T], check: Callable[[T], bool] = lambda v: True, want: str = "") -> T:
            text = settings.option(name, defaults[name]).strip()
            try:
                value = parse(text)
            except ValueError:
                value = None
            if value is None or not check(value):
                env_var = next(o.env_var for o in OPTIONS if o.name == name)
                raise StartupError(f"--{name} (${env_var}): invalid value {text!r}: expected {want}")
            return value

        environment = os.environ if env is None else env
        positive = "a number > 0"
        return cls(
            allow_ambient_credentials=get("aws-allow-ambient-credentials", parse_flag, want="true or false"),
            pod_identity_endpoint=get("aws-pod-identity-endpoint", str, _is_http_url, "an http(s) URL"),
            pod_identity_endpoint_ipv6=get("aws-pod-identity-endpoint-ipv6", str, _is_http_url, "an http(s) URL"),
            pod_identity_timeout=get("aws-pod-identity-timeout", float, lambda v: v > 0, positive),
            pod_identity_attempts=get("aws-pod-identity-attempts", int, lambda v: 1 <= v <= 10, "an integer 1..10"),
            kubeconfig=settings.option("aws-kubeconfig").strip(),
            kube_qps=get("aws-kube-qps", float, lambda v: v >= 0, "a number >= 0"),
            kube_burst=get("aws-kube-burst", int, lambda v: v >= 1, "an integer >= 1"),
            kube_cache_ttl=get("aws-kube-cache-ttl", float, lambda v: v >= 0, "a number of seconds >= 0"),
            retry_mode=get("aws-retry-mode", str.lower, lambda v: v in RETRY_MODES, " or ".join(RETRY_MODES)),
            max_attempts=get("aws-max-attempts", int, lambda v: 1 <= v <= 20, "an integer 1..20"),
            credential_refresh_margin=get("aws-credential-refresh-margin", float, lambda v: v >= 0, "seconds >= 0"),
            use_fips_endpoint=get("aws-use-fips-endpoint", parse_flag, want="true or false"),
            connect_timeout=get("aws-connect-timeout", float, lambda v: v > 0, positive),
            read_timeout=get("aws-read-timeout", float, lambda v: v > 0, positive),
            max_workers=get("aws-max-workers", int, lambda v: 1 <= v <= 256, "an integer 1..256"),
            max_workers_per_namespace=get("aws-max-workers-per-namespace", int, lambda v: 1 <= v <= 256, "an integer 1..256"),
            max_clients=get("aws-max-clients", int, lambda v: 1 <= v <= 100_000, "an integer 1..100000"),
            secretsmanager_batch=get("aws-secretsmanager-batch", parse_flag, want="true or false"),
            env_region=environment.get("AWS_REGION", "").strip(),
        )


def parse_flag(text: str) -> bool:
    """A boolean server flag: true/false, 1/0, yes/no, on/off (case-insensitive)."""
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(text)


def _is_http_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))
