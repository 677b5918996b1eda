"""One classification of AWS failures: class, retryability, AWS code and hint in the message."""

from __future__ import annotations

import pytest
from botocore import exceptions as boto

from gateway.errors import DeadlineExceeded, Internal, InvalidArgument, NotFound, PermissionDenied, Unavailable
from gateway_aws.errors import classify, from_code, retry_attempts


def client_error(code: str, status: int, message: str = "aws says no", operation: str = "GetSecretValue") -> boto.ClientError:
    return boto.ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 2}}, operation
    )


@pytest.mark.parametrize(
    ("code", "status", "operation", "cls", "retryable", "hint"),
    [
        pytest.param("ResourceNotFoundException", 400, "GetSecretValue", NotFound, False, "check the name or ARN", id="sm-not-found"),
        pytest.param("ParameterNotFound", 400, "GetParameters", NotFound, False, "check the name", id="ssm-not-found"),
        pytest.param(
            "AccessDeniedException", 400, "GetSecretValue", PermissionDenied, False, "secretsmanager:GetSecretValue", id="sm-denied"
        ),
        pytest.param("AccessDeniedException", 400, "GetParameters", PermissionDenied, False, "ssm:GetParameters", id="ssm-denied"),
        pytest.param(
            "AccessDenied", 403, "AssumeRoleWithWebIdentity", PermissionDenied, False, "sts:AssumeRoleWithWebIdentity", id="sts-denied"
        ),
        pytest.param("AccessDenied", 403, "AssumeRole", PermissionDenied, False, "sts:AssumeRole", id="chain-denied"),
        pytest.param("InvalidIdentityToken", 400, "AssumeRoleWithWebIdentity", PermissionDenied, False, "OIDC provider", id="bad-token"),
        pytest.param("ExpiredTokenException", 400, "GetSecretValue", PermissionDenied, False, "expired", id="expired"),
        pytest.param("ExpiredToken", 400, "AssumeRoleWithWebIdentity", PermissionDenied, False, "expired", id="expired-sts"),
        pytest.param("DecryptionFailure", 400, "GetSecretValue", PermissionDenied, False, "kms:Decrypt", id="kms"),
        pytest.param("InvalidKeyId", 400, "GetParameters", InvalidArgument, False, "KMS key", id="ssm-kms-key"),
        pytest.param("InvalidParameterException", 400, "GetSecretValue", InvalidArgument, False, "", id="invalid-parameter"),
        pytest.param(
            "InvalidRequestException", 400, "GetSecretValue", InvalidArgument, False, "scheduled for deletion", id="invalid-request"
        ),
        pytest.param("ThrottlingException", 400, "GetSecretValue", Unavailable, True, "throttled", id="throttled"),
        pytest.param("TooManyRequestsException", 429, "GetParameters", Unavailable, True, "throttled", id="too-many"),
        pytest.param("InternalServiceError", 500, "GetSecretValue", Unavailable, True, "server error", id="5xx"),
        pytest.param("SomethingNew", 503, "GetParameters", Unavailable, True, "server error", id="unknown-5xx"),
        pytest.param("SomethingNew", 400, "GetParameters", InvalidArgument, False, "", id="unknown-4xx"),
        pytest.param("SomethingNew", 403, "GetParameters", PermissionDenied, False, "", id="unknown-403"),
    ],
)
def test_client_errors(code: str, status: int, operation: str, cls: type, retryable: bool, hint: str) -> None:
    error = classify(client_error(code, status, operation=operation), operation)
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.reason == code
    assert error.message.startswith(f"{operation} failed: {code}: aws says no")
    assert hint in error.message


@pytest.mark.parametrize(
    ("exc", "cls", "retryable"),
    [
        pytest.param(boto.ReadTimeoutError(endpoint_url="https://x"), DeadlineExceeded, True, id="read-timeout"),
        pytest.param(boto.ConnectTimeoutError(endpoint_url="https://x"), DeadlineExceeded, True, id="connect-timeout"),
        pytest.param(boto.EndpointConnectionError(endpoint_url="https://x"), Unavailable, True, id="connection"),
        pytest.param(boto.ConnectionClosedError(endpoint_url="https://x"), Unavailable, True, id="closed"),
        pytest.param(boto.NoCredentialsError(), PermissionDenied, False, id="no-credentials"),
        pytest.param(boto.ParamValidationError(report="Invalid length for parameter VersionId"), InvalidArgument, False, id="validation"),
        pytest.param(RuntimeError("boom"), Internal, False, id="unexpected"),
    ],
)
def test_sdk_errors(exc: Exception, cls: type, retryable: bool) -> None:
    error = classify(exc, "GetSecretValue")
    assert type(error) is cls and error.retryable is retryable


def test_known_tokens_are_redacted_and_messages_bounded() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.secret-token"
    error = from_code("InvalidIdentityToken", f"token {token} rejected " + "x" * 1000, "AssumeRoleWithWebIdentity", redact=[token])
    assert token not in error.message and "[redacted]" in error.message
    assert len(error.message) < 700


def test_retry_attempts_from_responses_and_errors() -> None:
    assert retry_attempts({"ResponseMetadata": {"RetryAttempts": 1}}) == 1
    assert retry_attempts(client_error("Throttling", 400)) == 2
    assert retry_attempts(RuntimeError()) == 0
