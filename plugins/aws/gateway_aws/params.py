"""SecretProviderClass parameters that choose how a pod authenticates to AWS (ASCP's, plus assume-role).

``usePodIdentity`` and ``preferredAddressType`` are ASCP's; ``assumeRoleArn``,
``assumeRoleExternalId`` and ``assumeRoleDurationSeconds`` chain an ``sts:AssumeRole`` after
IRSA/Pod Identity for cross-account access. Parsing is pure; a bad value is an
:class:`~gateway.errors.InvalidArgument` naming the parameter (ASCP's text where it has one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.plugin import InvalidArgument, parse_bool

USE_POD_IDENTITY = "usePodIdentity"
PREFERRED_ADDRESS_TYPE = "preferredAddressType"
ASSUME_ROLE_ARN = "assumeRoleArn"
ASSUME_ROLE_EXTERNAL_ID = "assumeRoleExternalId"
ASSUME_ROLE_DURATION = "assumeRoleDurationSeconds"
AUTH_PARAMETERS = frozenset({USE_POD_IDENTITY, PREFERRED_ADDRESS_TYPE, ASSUME_ROLE_ARN, ASSUME_ROLE_EXTERNAL_ID, ASSUME_ROLE_DURATION})

ADDRESS_TYPES = ("auto", "ipv4", "ipv6")
MIN_DURATION, MAX_DURATION = 900, 43200
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")



@dataclass(frozen=True)
class AssumeRole:
    """One ``sts:AssumeRole`` step after the pod's own credentials."""

    role_arn: str
    external_id: str = ""
    duration_seconds: int | None = None


@dataclass(frozen=True)
class AuthParameters:
    use_pod_identity: bool = False
    address_type: str = "auto"
    assume_role: AssumeRole | None = None

    @property
    def chain(self) -> tuple[AssumeRole, ...]:
        return (self.assume_role,) if self.assume_role else ()


def parse_auth_parameters(parameters: Mapping[str, str]) -> AuthParameters:
    """Read the authentication parameters of one mount; raise :class:`InvalidArgument`."""
    return AuthParameters(
        use_pod_identity=_use_pod_identity(parameters.get(USE_POD_IDENTITY, "")),
        address_type=_address_type(parameters.get(PREFERRED_ADDRESS_TYPE, "")),
        assume_role=_assume_role(parameters),
    )


def _use_pod_identity(value: str) -> bool:
    if value == "":
        return False
    try:
        return parse_bool(value)  # Go's strconv.ParseBool, which ASCP uses for usePodIdentity
    except ValueError:
        raise InvalidArgument(f'failed to parse usePodIdentity value, error: strconv.ParseBool: parsing "{value}": invalid syntax') from None


def _address_type(value: str) -> str:
    """Lower-cased; an unknown value is kept (ASCP treats it as ``auto``: see :meth:`IdentityResolver._endpoints`)."""
    return value.strip().lower() or "auto"


def _assume_role(parameters: Mapping[str, str]) -> AssumeRole | None:
    role_arn = parameters.get(ASSUME_ROLE_ARN, "").strip()
    external_id = parameters.get(ASSUME_ROLE_EXTERNAL_ID, "")
    duration_text = parameters.get(ASSUME_ROLE_DURATION, "").strip()
    if not role_arn:
        if external_id or duration_text:
            given = ASSUME_ROLE_EXTERNAL_ID if external_id else ASSUME_ROLE_DURATION
            raise InvalidArgument(f"{given} is set but {ASSUME_ROLE_ARN} is not")
        return None
    if not ROLE_ARN.match(role_arn):
        raise InvalidArgument(f'{ASSUME_ROLE_ARN} must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), got "{role_arn}"')
    if external_id and not EXTERNAL_ID.match(external_id):
        raise InvalidArgument(f"{ASSUME_ROLE_EXTERNAL_ID} must be 2-1224 characters of letters, digits and +=,.@:/-")
    duration: int | None = None
    if duration_text:
        try:
            duration = int(duration_text)
        except ValueError:
            duration = None
        if duration is None or not MIN_DURATION <= duration <= MAX_DURATION:
            raise InvalidArgument(f'{ASSUME_ROLE_DURATION} must be an integer from {MIN_DURATION} to {MAX_DURATION}, got "{duration_text}"')
    return AssumeRole(role_arn, external_id, duration)
