"""One exception hierarchy for everything that can fail a mount.

Each class carries the gRPC status code the driver receives; :mod:`gateway.server`
maps exceptions to statuses in exactly one place. Messages are what users read in the
pod's FailedMount event, so they name the object, backend, location and cause — and
never contain a secret value or a token.
"""

from __future__ import annotations

import grpc


class GatewayError(Exception):
    """Base class: a failure with a gRPC status and a user-facing message.

    ``retryable`` tells failover and retry logic whether trying again (later, or at
    another location) may succeed. It defaults per class and can be overridden per
    instance, e.g. a backend's throttling error is retryable while a quota error is not.
    """

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    default_retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.retryable = self.default_retryable if retryable is None else retryable
        #: short machine-readable cause (e.g. a service's error code) for logs and metrics labels
        self.reason = reason or type(self).__name__

    @property
    def status_name(self) -> str:
        """The status as the driver prints it, e.g. ``NotFound``."""
        return go_code_name(self.code)

    def __str__(self) -> str:
        return self.message


def go_code_name(code: grpc.StatusCode) -> str:
    """Go's spelling of a status code, as in the driver's ``rpc error: code = NotFound``."""
    special = {grpc.StatusCode.OK: "OK", grpc.StatusCode.CANCELLED: "Canceled"}
    return special.get(code) or "".join(part.capitalize() for part in code.name.split("_"))


class InvalidArgument(GatewayError):
    """The request, SecretProviderClass or secret content is malformed."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(GatewayError):
    """The backend has no such object (or version)."""

    code = grpc.StatusCode.NOT_FOUND


class PermissionDenied(GatewayError):
    """The pod's identity may not read the object, or its token was refused."""

    code = grpc.StatusCode.PERMISSION_DENIED


class Unavailable(GatewayError):
    """The backend (or a plugin) cannot serve right now; trying again may help."""

    code = grpc.StatusCode.UNAVAILABLE
    default_retryable = True


class DeadlineExceeded(GatewayError):
    """The mount, or one backend call, ran out of time."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_retryable = True


class ResourceExhausted(GatewayError):
    """A configured limit was hit (sizes, object count) or the backend is throttling."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Internal(GatewayError):
    """A bug or broken contract inside the gateway or a plugin."""

    code = grpc.StatusCode.INTERNAL


#: When several objects fail with different codes, the mount reports the first code in
#: this order: a problem that retrying cannot fix outranks one that it might, so the
#: driver does not retry (it retries only UNAVAILABLE) a mount that cannot succeed.
CODE_PRECEDENCE: tuple[grpc.StatusCode, ...] = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNAVAILABLE,
)

ERROR_CLASSES: dict[grpc.StatusCode, type[GatewayError]] = {
    cls.code: cls
    for cls in (InvalidArgument, NotFound, PermissionDenied, Unavailable, DeadlineExceeded, ResourceExhausted, Internal)
}


class StartupError(Exception):
    """The server cannot start (socket owned by a live server, conflicting plugins, bad flags)."""
