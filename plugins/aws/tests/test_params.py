"""SecretProviderClass authentication parameters: ASCP's usePodIdentity/preferredAddressType, plus assume-role."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidArgument
from gateway_aws.params import AssumeRole, AuthParameters, parse_auth_parameters

ROLE = "arn:aws:iam::210987654321:role/cross-account-reader"


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        pytest.param({}, AuthParameters(), id="defaults-irsa-auto"),
        *[
            pytest.param({"usePodIdentity": v}, AuthParameters(use_pod_identity=True), id=f"true-{v}")
            for v in ("1", "t", "T", "TRUE", "true", "True")
        ],
        *[pytest.param({"usePodIdentity": v}, AuthParameters(), id=f"false-{v}") for v in ("0", "f", "F", "FALSE", "false", "False")],
        pytest.param({"preferredAddressType": "IPv6"}, AuthParameters(address_type="ipv6"), id="ipv6-any-case"),
        pytest.param({"preferredAddressType": "ipv4"}, AuthParameters(address_type="ipv4"), id="ipv4"),
        pytest.param({"preferredAddressType": "dual"}, AuthParameters(address_type="dual"), id="unknown-kept-used-as-auto"),
        pytest.param({"assumeRoleArn": ROLE}, AuthParameters(assume_role=AssumeRole(ROLE)), id="assume-role"),
        pytest.param(
            {"assumeRoleArn": ROLE, "assumeRoleExternalId": "ext-123", "assumeRoleDurationSeconds": "900"},
            AuthParameters(assume_role=AssumeRole(ROLE, "ext-123", 900)),
            id="assume-role-full",
        ),
    ],
)
def test_valid(parameters: dict[str, str], expected: AuthParameters) -> None:
    assert parse_auth_parameters(parameters) == expected


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        pytest.param(
            {"usePodIdentity": "yes"},
            'failed to parse usePodIdentity value, error: strconv.ParseBool: parsing "yes": invalid syntax',
            id="ascp-bool",
        ),
        pytest.param({"assumeRoleArn": "arn:aws:iam::1:user/x"}, "assumeRoleArn must be an IAM role ARN", id="not-a-role"),
        pytest.param({"assumeRoleExternalId": "x1"}, "assumeRoleExternalId is set but assumeRoleArn is not", id="external-id-alone"),
        pytest.param(
            {"assumeRoleDurationSeconds": "900"}, "assumeRoleDurationSeconds is set but assumeRoleArn is not", id="duration-alone"
        ),
        pytest.param({"assumeRoleArn": ROLE, "assumeRoleDurationSeconds": "60"}, "from 900 to 43200", id="duration-short"),
        pytest.param({"assumeRoleArn": ROLE, "assumeRoleDurationSeconds": "1h"}, 'got "1h"', id="duration-text"),
        pytest.param({"assumeRoleArn": ROLE, "assumeRoleExternalId": "a b"}, "assumeRoleExternalId must be", id="external-id-chars"),
    ],
)
def test_invalid(parameters: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_auth_parameters(parameters)
    assert message in caught.value.message
    assert caught.value.retryable is False
