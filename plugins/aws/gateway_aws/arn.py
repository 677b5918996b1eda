"""Amazon Resource Names, as far as routing and ASCP's validation need them.

The AWS backends claim the ARNs of their service (:func:`service_arns`), check an ARN
against ``objectType`` and the mount's regions, and the ASCP dialect words the problems of
ARNs that no backend claims.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.plugin import preview

#: the services whose ARNs the AWS provider knows (ASCP's type map): another one is ``Invalid service in ARN``
SERVICES = frozenset({"secretsmanager", "ssm"})


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str


def looks_like_arn(name: str) -> bool:
    return name.startswith("arn:")


def parse_arn(name: str) -> Arn | None:
    """Split ``arn:partition:service:region:account:resource``; None when malformed.

    Mirrors the AWS SDK's parser that ASCP uses: six colon-separated sections, the last
    one may itself contain colons.
    """
    if not looks_like_arn(name):
        return None
    sections = name.split(":", 5)
    if len(sections) != 6:
        return None
    _, partition, service, region, account, resource = sections
    return Arn(partition, service, region, account, resource)


def service_arns(service: str) -> re.Pattern[str]:
    """The names :func:`parse_arn` reads as ARNs of ``service``, as a pattern matched at a name's start (a
    backend's ``claimed_names``, by which a parse worker routes too): ``arn:``, then five more sections of
    which the second is ``service``."""
    return re.compile(f"arn:[^:]*:{re.escape(service)}:[^:]*:[^:]*:")


def invalid_service(service: str) -> str:
    """ASCP's message for an ARN of a service it does not serve."""
    return f"Invalid service in ARN: {preview(service)}"
