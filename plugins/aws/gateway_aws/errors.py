"""Every AWS failure is classified here, once: botocore/AWS error → typed gateway error.

Client faults (not found, denied, invalid, KMS decryption, expired or rejected tokens) are
not retryable: another region would say the same. Throttling, 5xx, timeouts and connection
errors are retryable: botocore has already retried them with jittered backoff, and the
core's failover may try the next region. Messages name the operation, the AWS error code,
AWS's own message and a hint at the usual fix (e.g. the IAM action that is missing); known
tokens are redacted from them, and AWS never echoes secret values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from gateway.plugin import CONNECT, TIMEOUT, TLS, DeadlineExceeded, GatewayError, Internal, InvalidArgument, NotFound, PermissionDenied, Unavailable
from gateway.plugin import redact as redact_secrets

if TYPE_CHECKING:
    from botocore import exceptions as boto

MAX_AWS_MESSAGE = 300
#: ASCP's headlines when every region failed for an object (``all_locations_failed`` of the backends)
SECRET_ALL_REGIONS_FAILED = "Failed to fetch secret from all {nouns}. Verify secret exists and required permissions are granted for: {name}"
PARAMETER_ALL_REGIONS_FAILED = "Failed to fetch parameters from all {nouns}. Verify the parameter exists and required permissions are granted for: {name}"

NOT_FOUND = frozenset({"ResourceNotFoundException", "ParameterNotFound", "ParameterVersionNotFound", "NoSuchEntity"})
DENIED = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "DecryptionFailure",
        "KMSAccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidIdentityToken",
        "IDPRejectedClaim",
        "RegionDisabledException",
    }
)
INVALID = frozenset(
    {
        "InvalidParameterException",
        "InvalidRequestException",
        "ValidationException",
        "ValidationError",
        "InvalidParameters",
        "InvalidKeyId",
        "InvalidNextTokenException",
        "MalformedPolicyDocument",
        "PackedPolicyTooLarge",
        "UnsupportedParameterType",
    }
)
THROTTLED = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
SERVER = frozenset(
    {
        "InternalServiceError",
        "InternalServiceErrorException",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "IDPCommunicationError",
    }
)
BAD_ANSWER = "BadAnswer"
#: codes after which cached credentials must not be reused
STALE_CREDENTIALS = frozenset({"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"})

_SM_READ = "the pod's IAM role needs secretsmanager:GetSecretValue on this secret (and kms:Decrypt if it uses a customer managed key)"
_SSM_READ = "the pod's IAM role needs ssm:GetParameters on this parameter (and kms:Decrypt for a SecureString with a customer managed key)"
HINTS: dict[tuple[str, str], str] = {
    ("denied", "GetSecretValue"): _SM_READ,
    ("denied", "BatchGetSecretValue"): _SM_READ,
    ("denied", "GetParameters"): _SSM_READ,
    ("denied", "AssumeRoleWithWebIdentity"): "the role's trust policy must allow sts:AssumeRoleWithWebIdentity for "
    "system:serviceaccount:<namespace>:<serviceaccount> from the cluster's OIDC provider",
    ("denied", "AssumeRole"): "the assumeRoleArn role's trust policy must allow sts:AssumeRole by the pod's role "
    "(and require the same assumeRoleExternalId, if set)",
    (
        "InvalidIdentityToken",
        "",
    ): "the cluster's OIDC provider must be registered in IAM and the token's audience must be sts.amazonaws.com",
    ("IDPRejectedClaim", ""): "the role's trust policy conditions (aud/sub) do not match this service account",
    ("ExpiredToken", ""): "the credentials or token expired; the next mount uses fresh ones",
    ("ExpiredTokenException", ""): "the credentials expired; the next mount uses fresh ones",
    ("DecryptionFailure", ""): "the pod's IAM role needs kms:Decrypt on the secret's KMS key",
    ("InvalidKeyId", ""): "the parameter's KMS key is disabled, deleted or not usable by this role",
    ("InvalidRequestException", "GetSecretValue"): "e.g. the secret is scheduled for deletion",
    ("notfound", ""): "check the name or ARN, the region and the version or label",
    ("throttled", ""): "AWS throttled the request after retries; lower the request rate or raise --aws-max-attempts",
    ("server", ""): "AWS answered with a server error after retries",
}


def classify(exc: BaseException, operation: str, redact: Iterable[str] = ()) -> GatewayError:
    """The gateway error for an exception raised by a boto3 call of ``operation``."""
    if isinstance(exc, GatewayError):
        return exc
    from botocore import exceptions as boto  # here: an idle server, which has classified nothing yet, holds no AWS SDK

    if isinstance(exc, boto.ClientError):
        return client_error(exc, operation, redact)
    if isinstance(exc, (boto.ConnectTimeoutError, boto.ReadTimeoutError)):
        return DeadlineExceeded(f"{operation}: no answer from AWS in time ({_clean(str(exc), redact)})", reason="Timeout")
    if isinstance(exc, (boto.EndpointConnectionError, boto.ConnectionClosedError, boto.HTTPClientError)):
        return Unavailable(f"{operation}: cannot reach AWS ({_clean(str(exc), redact)})", reason="ConnectionError")
    if isinstance(exc, (boto.NoCredentialsError, boto.PartialCredentialsError, boto.CredentialRetrievalError)):
        return PermissionDenied(f"{operation}: no usable AWS credentials ({type(exc).__name__})", reason="NoCredentials")
    if isinstance(exc, (boto.ParamValidationError, boto.NoRegionError, boto.InvalidRegionError)):
        return InvalidArgument(f"{operation}: request refused before sending: {_clean(str(exc), redact)}", reason="ParamValidation")
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return Unavailable(f"{operation}: cannot reach AWS ({type(exc).__name__})", reason="ConnectionError")
    return Internal(f"{operation}: unexpected {type(exc).__name__} from the AWS SDK (see the provider log)", reason=type(exc).__name__)


def http_problem(kind: str, detail: str, operation: str) -> GatewayError:
    """The gateway error for a request the plugin sends itself (:mod:`gateway.outbound`) that got no usable
    answer: the texts and reasons :func:`classify` gives botocore's timeouts and connection errors."""
    if kind == TIMEOUT:
        return DeadlineExceeded(f"{operation}: no answer from AWS in time ({detail})", reason="Timeout")
    if kind == CONNECT:
        return Unavailable(f"{operation}: cannot reach AWS ({detail})", reason="ConnectionError")
    if kind == TLS:
        return Unavailable(f"{operation}: cannot reach AWS (TLS: {_clean(detail, ())})", reason="TLS")
    return bad_answer(operation, detail)


def answer_error(status: int, code: str, message: str, operation: str, redact: Iterable[str] = ()) -> GatewayError | None:
    """The error of an answer the plugin read itself (None for a success): AWS's error code when it sent one;
    throttling and server errors without one (a load balancer's page) by their status; any other answer that is not
    a success is not AWS's (another server, a redirect, a proxy's page)."""
    if code:
        return from_code(code, message, operation, status, redact)
    if status == 429 or status >= 500:
        return from_code(f"HTTP{status}", "", operation, status)
    if not 200 <= status < 300:
        return bad_answer(operation, f"HTTP {status} without an AWS error document")
    return None


def retried_in_place(exc: BaseException) -> bool:
    """Whether the plugin's own requests try ``exc`` again (as botocore's standard mode does): timeouts, connection
    errors, throttling and server errors — not refusals and not answers that are not AWS's."""
    return isinstance(exc, GatewayError) and exc.retryable and exc.reason != BAD_ANSWER


def bad_answer(operation: str, detail: str) -> GatewayError:
    """An answer that is not AWS's (garbage, HTML, truncated, oversized): retryable, never Internal."""
    return Unavailable(f"{operation}: not a usable answer from AWS ({detail})", reason=BAD_ANSWER)


def client_error(exc: boto.ClientError, operation: str, redact: Iterable[str] = ()) -> GatewayError:
    error = exc.response.get("Error", {}) if isinstance(exc.response, dict) else {}
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) if isinstance(exc.response, dict) else 0
    return from_code(str(error.get("Code") or f"HTTP{status}"), str(error.get("Message") or ""), operation, status, redact)


def from_code(code: str, aws_message: str, operation: str, status: int = 400, redact: Iterable[str] = ()) -> GatewayError:
    """Classify an AWS error code (also used for per-item errors inside batch answers)."""
    family = _family(code, status)
    cls: type[GatewayError]
    retryable = family in ("throttled", "server")
    if family == "notfound":
        cls = NotFound
    elif family == "denied":
        cls = PermissionDenied
    elif family == "invalid":
        cls = InvalidArgument
    elif retryable:
        cls = Unavailable
    else:
        cls = PermissionDenied if status in (401, 403) else InvalidArgument
    hint = HINTS.get((code, operation)) or HINTS.get((code, "")) or HINTS.get((family, operation)) or HINTS.get((family, ""))
    text = _clean(aws_message, redact)
    message = f"{operation} failed: {code}" + (f": {text}" if text else "") + (f" (hint: {hint})" if hint else "")
    return cls(message, retryable=retryable, reason=code)


def _family(code: str, status: int) -> str:
    if code in NOT_FOUND:
        return "notfound"
    if code in DENIED:
        return "denied"
    if code in INVALID:
        return "invalid"
    if code in THROTTLED or status == 429:
        return "throttled"
    if code in SERVER or status >= 500:
        return "server"
    return "other"


def headed(headline: str, error: GatewayError) -> GatewayError:
    """``error`` with ``headline`` in front of its message; class, retryability and reason kept."""
    return type(error)(f"{headline}: {error.message}", retryable=error.retryable, reason=error.reason)


def retry_attempts(value: BaseException | dict[str, object]) -> int:
    """botocore's ``RetryAttempts`` of a response or a ClientError (0 when unknown)."""
    from botocore import exceptions as boto  # here: see classify

    response = value.response if isinstance(value, boto.ClientError) else value
    if not isinstance(response, dict):
        return 0
    metadata = response.get("ResponseMetadata")
    return int(metadata.get("RetryAttempts") or 0) if isinstance(metadata, dict) else 0


def _clean(text: str, redact: Iterable[str]) -> str:
    text = " ".join(redact_secrets(text, redact).split())  # the token whole, and any long fragment of it
    return text if len(text) <= MAX_AWS_MESSAGE else text[: MAX_AWS_MESSAGE - 1] + "…"
