"""Every AWS step's worst case fits inside --backend-timeout (issue 15): by default, checked at start, and in effect.

A slow AWS is answered by the plugin's own DeadlineExceeded (naming the operation), not by the core cutting the
backend call off; settings whose worst case cannot fit stop ``serve`` with one line naming the flags.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from gateway.plugin import StartupError
from gateway.settings import BACKEND_TIMEOUT
from gateway.testing import MountFailure, mount_request
from gateway_aws.budget import aws_call_worst_case, check_fits_backend_timeout, pod_identity_worst_case
from gateway_aws.options import MAX_ATTEMPTS, POD_IDENTITY_TIMEOUT, READ_TIMEOUT, AwsOptions
from gateway_aws.testing import PRIMARY, AwsWorld


def test_the_defaults_fit_the_default_backend_timeout() -> None:
    options = AwsOptions()
    assert aws_call_worst_case(options) == 3 * (1 + 1.25) + (1 + 2)
    assert pod_identity_worst_case(options) == 2 * (3 * 1 + (0.2 + 0.4))
    check_fits_backend_timeout(options, BACKEND_TIMEOUT.default)


@pytest.mark.parametrize(
    ("options", "backend_timeout", "refusal"),
    [
        pytest.param({"read_timeout": 5.0, "connect_timeout": 3.0}, 10.0,
                     "--aws-max-attempts 3 x (--aws-connect-timeout 3 + --aws-read-timeout 5) + 3s of retry backoff = 27s, "
                     "longer than --backend-timeout 10", id="old-defaults-refused"),
        pytest.param({"read_timeout": 5.0, "connect_timeout": 3.0}, 30.0, None, id="old-defaults-with-a-longer-backend-timeout"),
        pytest.param({"max_attempts": 5}, 10.0, "+ 15s of retry backoff = 26.25s", id="many-attempts-backoff-counted"),
        pytest.param({"max_attempts": 1, "read_timeout": 8.0}, 10.0, None, id="one-long-attempt-fits"),
        pytest.param({"read_timeout": 2.0}, 10.0, "= 12s, longer than --backend-timeout 10", id="just-over"),
        pytest.param({"pod_identity_timeout": 2.0}, 10.0,
                     "2 endpoints x (--aws-pod-identity-attempts 3 x --aws-pod-identity-timeout 2 + 0.6s of retry backoff) = 13.2s",
                     id="pod-identity-old-default-refused"),
        pytest.param({"pod_identity_attempts": 1, "pod_identity_timeout": 4.0}, 10.0, None, id="pod-identity-one-attempt-fits"),
    ],
)
def test_settings_that_cannot_fit_are_refused(options: dict[str, float], backend_timeout: float, refusal: str | None) -> None:
    if refusal is None:
        check_fits_backend_timeout(AwsOptions(**options), backend_timeout)  # type: ignore[arg-type]
        return
    with pytest.raises(StartupError) as refused:
        check_fits_backend_timeout(AwsOptions(**options), backend_timeout)  # type: ignore[arg-type]
    assert refusal in str(refused.value) and "lower these or raise --backend-timeout" in str(refused.value)


def test_serve_refuses_them_in_one_line() -> None:
    directory = tempfile.mkdtemp(prefix="sgw-", dir="/tmp")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SECRETS_GATEWAY_")}
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--providers-dir", directory, "--http-address", "", "--plugins", "aws",
         "--aws-read-timeout", "5"],
        capture_output=True, text=True, timeout=60, env={**clean, "SECRETS_GATEWAY_AWS_KUBECONFIG": "/nonexistent"},
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert "--aws-read-timeout 5" in lines[0] and "longer than --backend-timeout 10" in lines[0]


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param("BatchGetSecretValue", id="secretsmanager-call"),
        pytest.param("AssumeRoleWithWebIdentity", id="sts-call"),
    ],
)
async def test_a_slow_aws_is_answered_by_our_own_deadline_within_the_default_backend_timeout(world: AwsWorld, operation: str) -> None:
    """Every attempt outlasts the read timeout: the attempts end in our typed error, naming the
    operation, before the core's 10 s backend timeout (which would name no AWS operation)."""
    world.secret("db", "s3cr3t")
    world.proxy.inject(operation=operation, latency=4.0)
    defaults = {option.name.replace("-", "_"): str(option.default) for option in (MAX_ATTEMPTS, READ_TIMEOUT, POD_IDENTITY_TIMEOUT)}
    async with world.gateway(**defaults, backend_timeout=BACKEND_TIMEOUT.default) as gw:
        with pytest.raises(MountFailure) as failed:
            await gw.mount(mount_request([{"objectName": "db", "objectType": "secretsmanager"}], {"region": PRIMARY}, pod=world.irsa_pod()))
    assert failed.value.code_name == "DeadlineExceeded"
    assert f"{operation}: no answer from AWS in time" in failed.value.message
    assert world.proxy.count(operation) == 3
