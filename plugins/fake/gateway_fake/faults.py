"""Fault injection for the fake backend: latency and errors per secret and location."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.plugin import GatewayError, InvalidArgument, NotFound, PermissionDenied, ResourceExhausted, Unavailable

#: error kinds a fault may inject, and whether failover may try the next location
ERRORS: dict[str, tuple[type[GatewayError], bool, str]] = {
    "unavailable": (Unavailable, True, "injected fault: service unavailable"),
    "throttled": (Unavailable, True, "injected fault: rate exceeded (throttled)"),
    "notfound": (NotFound, False, "injected fault: not found"),
    "denied": (PermissionDenied, False, "injected fault: access denied"),
    "invalid": (InvalidArgument, False, "injected fault: invalid request"),
    "quota": (ResourceExhausted, False, "injected fault: quota exceeded"),
}
ANY_LOCATION = "*"
FAULT_KEYS = frozenset({"latencyMs", "jitterMs", "error", "rate", "seed"})


@dataclass
class Fault:
    """``latencyMs`` (plus up to ``jitterMs`` more, at random) before answering; then ``error``
    (one of :data:`ERRORS` or ``hang``) with probability ``rate``. ``seed`` makes the draws repeatable."""

    latency_ms: float = 0.0
    error: str = ""
    rate: float = 1.0
    seed: int | None = None
    jitter_ms: float = 0.0
    _random: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    async def apply(self) -> None:
        """Sleep the latency, then raise the injected error if this call draws one."""
        latency = self.latency_ms + (self._random.uniform(0, self.jitter_ms) if self.jitter_ms else 0.0)
        if latency:
            await asyncio.sleep(latency / 1000)
        if not self.error or self._random.random() >= self.rate:
            return
        if self.error == "hang":
            await asyncio.Event().wait()  # until the call's timeout cancels it
        cls, retryable, message = ERRORS[self.error]
        raise cls(message, retryable=retryable, reason=f"Injected{self.error.capitalize()}")


def parse_faults(value: Any, where: str) -> Mapping[str, Fault]:
    """``{location-or-*: {latencyMs, jitterMs, error, rate, seed}}``; a bare fault mapping means ``*``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a mapping of location -> fault")
    if value and set(value) <= FAULT_KEYS:
        value = {ANY_LOCATION: value}
    return {str(location): _fault(spec, f"{where}.{location}") for location, spec in value.items()}


def _fault(spec: Any, where: str) -> Fault:
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a mapping")
    unknown = set(spec) - FAULT_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    error = str(spec.get("error", "") or "")
    if error and error != "hang" and error not in ERRORS:
        raise ValueError(f"{where}: error must be one of {sorted([*ERRORS, 'hang'])}")
    try:
        latency = float(spec.get("latencyMs", 0))
        jitter = float(spec.get("jitterMs", 0))
        rate = float(spec.get("rate", 1.0))
        seed = None if spec.get("seed") is None else int(spec["seed"])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: latencyMs, jitterMs and rate must be numbers, seed an integer") from None
    if latency < 0 or jitter < 0 or not 0 <= rate <= 1:
        raise ValueError(f"{where}: latencyMs and jitterMs must be >= 0 and rate within 0..1")
    return Fault(latency, error, rate, seed, jitter)


def fault_for(faults: Mapping[str, Fault], location: str) -> Fault | None:
    return faults.get(location) or faults.get(ANY_LOCATION)
