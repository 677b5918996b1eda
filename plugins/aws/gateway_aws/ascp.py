"""The ASCP dialect: SecretProviderClasses read exactly as the AWS provider (ASCP) reads them.

Chosen by ``--provider-name aws`` (or a class's parameter ``dialect: ascp``). ASCP decodes
``objects`` with ``sigs.k8s.io/yaml`` into string fields (YAML 1.1: unquoted ``0600`` is
``"384"``, ``yes`` is ``"true"``), takes ``filePermission`` only as four octal digits, translates
``/`` in file names to ``_`` by default, and routes an object without ``objectType`` by the
service of its ARN. The messages are ASCP's, so users' runbooks keep working.
"""

from __future__ import annotations

import re

from gateway.plugin import GO_YAML_V2, Dialect, DialectRegistry, hookimpl, preview
from gateway_aws.arn import invalid_service, looks_like_arn, parse_arn

FILE_PERMISSION = re.compile(r"[0-7]{4}")  # always fullmatch: "$" would accept a trailing newline


class AscpDialect(Dialect):
    name = "ascp"
    description = "the AWS provider's (ASCP): YAML 1.1, filePermission as 4 quoted octal digits, '/' translated to '_'"
    provider_names = ("aws",)
    yaml = GO_YAML_V2
    translation_default = "_"

    def file_permission(self, text: str) -> int:
        if not FILE_PERMISSION.fullmatch(text):
            hint = " (quote it: unquoted 0600 is the YAML number 384)" if text.isdigit() else ""
            raise ValueError(f"Invalid File Permission: {preview(text)}{hint}")
        return int(text, 8)

    def unclaimed_problem(self, object_name: str) -> str | None:
        """An ARN no backend claims is malformed or of a service no loaded backend serves."""
        if not looks_like_arn(object_name):
            return None
        arn = parse_arn(object_name)
        if arn is None:
            return f"Invalid ARN format in object name: {preview(object_name)}"
        return invalid_service(arn.service)

    def missing_type(self, object_name: str) -> str:
        return f"Must use objectType when a full ARN is not specified: {preview(object_name)}"


@hookimpl
def gateway_register_dialects(registry: DialectRegistry) -> None:
    registry.add(AscpDialect())
