"""Budgets for everything a tenant's SecretProviderClass makes the gateway compute (design principle 9).

One frozen record built from the server settings and handed to the stages that spend it: the planner
(parameter sizes, YAML expansion, failover locations) and the value stages (JMESPath work, derived
value sizes). Each over-budget case is a ``ResourceExhausted`` that names the object and the limit.
The limits and their flags are listed in docs/reliability.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gateway.errors import ResourceExhausted
from gateway.limits import JmesLimits, YamlLimits
from gateway.text import preview

MIB = 1024 * 1024


@dataclass(frozen=True)
class Budgets:
    max_parameter_bytes: int = 2 * MIB  # each SecretProviderClass parameter, objects included (etcd holds 1.5 MiB)
    max_failover_locations: int = 3  # failover locations per backend, after the primary
    max_value_bytes: int = 4 * MIB  # every value, fetched or derived by jmesPath/expandKeys
    max_parse_seconds: float = 10.0  # parsing one large objects text in a worker process
    yaml: YamlLimits = field(default_factory=YamlLimits)
    jmes: JmesLimits = field(default_factory=JmesLimits)


DEFAULT_BUDGETS = Budgets()


def oversized_parameters(parameters: Mapping[str, str], limit: int) -> list[str]:
    """Problems for every parameter longer than ``limit`` bytes (checked before anything parses them)."""
    return [
        parameter_too_large(name, _utf8_length(value), limit)
        for name, value in parameters.items()
        if len(value) > limit // 4 and _utf8_length(value) > limit
    ]  # fmt: skip


def parameter_too_large(name: str, size: int, limit: int, *, exact: bool = True) -> str:
    """The problem of a parameter of ``size`` UTF-8 bytes (at least that many, unless ``exact``)."""
    at_least = "" if exact else "at least "
    return f'parameter "{preview(name, 64)}" is {at_least}{size} bytes, above the limit of {limit} bytes per parameter (--max-parameter-bytes)'


def check_failover_locations(backend: str, locations: Sequence[str], limit: int) -> None:
    """Refuse more than ``limit`` failover locations (each one may cost a backend call and a client)."""
    failover = len(locations) - 1
    if failover > limit:
        raise ResourceExhausted(
            f"backend {backend}: {failover} failover locations listed, the limit is {limit} (--max-failover-locations)"
        )


def check_derived_value(value: bytes, owner: str, limit: int) -> bytes:
    """Hold a value made by jmesPath or expandKeys to the per-value limit fetched values are held to."""
    if len(value) > limit:
        raise ResourceExhausted(f"{owner}: the derived value is {len(value)} bytes, above the limit of {limit} bytes per value")
    return value


def _utf8_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
