"""Plugin options: stable names, defaults, env variables, and a clear startup error for bad values."""

from __future__ import annotations

import pytest

from gateway.errors import StartupError
from gateway.options import OptionRegistry
from gateway.settings import Settings
from gateway_aws import plugin
from gateway_aws.options import OPTIONS, AwsOptions

#: the documented, stable option names (the Helm chart exposes them; docs/aws.md lists them)
STABLE = {
    "aws-allow-ambient-credentials",
    "aws-pod-identity-endpoint",
    "aws-pod-identity-endpoint-ipv6",
    "aws-pod-identity-timeout",
    "aws-pod-identity-attempts",
    "aws-kubeconfig",
    "aws-kube-qps",
    "aws-kube-burst",
    "aws-kube-cache-ttl",
    "aws-kube-watch-max-accounts",
    "aws-retry-mode",
    "aws-max-attempts",
    "aws-credential-refresh-margin",
    "aws-use-fips-endpoint",
    "aws-connect-timeout",
    "aws-read-timeout",
    "aws-max-workers",
    "aws-max-workers-per-namespace",
    "aws-max-clients",
    "aws-secretsmanager-batch",
}


def test_option_names_are_stable_and_registered() -> None:
    registry = OptionRegistry()
    plugin.gateway_add_options(registry)
    assert set(registry.options) == STABLE
    assert registry.options["aws-kube-qps"].env_var == "SECRETS_GATEWAY_AWS_KUBE_QPS"


def test_documented_in_docs_aws_md() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[3] / "docs" / "aws.md").read_text(encoding="utf-8")
    missing = [option.name for option in OPTIONS if f"--{option.name}" not in text]
    assert missing == []


def test_defaults() -> None:
    options = AwsOptions.from_settings(Settings(), env={})
    assert options.allow_ambient_credentials is False
    assert options.pod_identity_endpoint == "http://169.254.170.23/v1/credentials"
    assert options.pod_identity_endpoint_ipv6 == "http://[fd00:ec2::23]/v1/credentials"
    assert (options.kube_qps, options.kube_burst, options.kube_cache_ttl) == (5.0, 10, 30.0)
    assert (options.retry_mode, options.max_attempts) == ("standard", 3)
    assert options.env_region == ""


def test_values_and_process_region() -> None:
    settings = Settings(plugin_options={"aws-allow-ambient-credentials": "TRUE", "aws-retry-mode": "Adaptive", "aws-kube-qps": "0"})
    options = AwsOptions.from_settings(settings, env={"AWS_REGION": "eu-central-1"})
    assert options.allow_ambient_credentials is True
    assert options.retry_mode == "adaptive"
    assert options.kube_qps == 0
    assert options.env_region == "eu-central-1"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("aws-allow-ambient-credentials", "maybe", id="bool"),
        pytest.param("aws-kube-qps", "fast", id="qps-not-a-number"),
        pytest.param("aws-kube-burst", "0", id="burst-zero"),
        pytest.param("aws-retry-mode", "aggressive", id="retry-mode"),
        pytest.param("aws-max-attempts", "0", id="attempts-zero"),
        pytest.param("aws-pod-identity-endpoint", "169.254.170.23", id="endpoint-not-url"),
        pytest.param("aws-pod-identity-timeout", "-1", id="timeout-negative"),
        pytest.param("aws-credential-refresh-margin", "soon", id="margin"),
    ],
)
def test_bad_values_stop_the_server_naming_flag_and_env(name: str, value: str) -> None:
    with pytest.raises(StartupError) as caught:
        AwsOptions.from_settings(Settings(plugin_options={name: value}), env={})
    assert f"--{name}" in str(caught.value)
    assert "SECRETS_GATEWAY_" + name.upper().replace("-", "_") in str(caught.value)
    assert repr(value) in str(caught.value)
