"""Failover: which location answers for each object.

Each object has ordered locations (primary first) and, per location, the reference to
fetch there (``failoverObject`` replaces the primary's name at failover locations).
Decisions rest on the error's ``retryable`` property, never on message text:

- ``on-error`` (default): the next location is tried only after a retryable failure.
- ``all`` (what single-vendor providers with two locations do, ASCP exactly): every location is
  queried at once and every answer awaited; a non-retryable failure at any location fails the
  object, even when the primary answered; otherwise the first location in order with an answer wins.

An object whose every location failed has a headline in front of its causes, ASCP's
"Failed to fetch secret from all regions…" unless its backend chose one
(``all_locations_failed``, then also when its only location failed), so runbooks that grep
for it keep matching.

It sits beside :mod:`gateway.dispatch`, its only user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.errors import ERROR_CLASSES, GatewayError, Internal
from gateway.model import FailoverMode, ObjectSpec
from gateway.text import at, plural

ALL_LOCATIONS_FAILED = "Failed to fetch secret from all {nouns}. Verify secret exists and required permissions are granted for: {name}"


@dataclass
class ObjectAttempts:
    """One object's attempts across its locations, and the decision what to do next.

    An outcome is an answer (whatever the dispatcher keeps of one) or the :class:`GatewayError` of a failed attempt.
    """

    obj: ObjectSpec
    locations: tuple[str, ...]
    mode: FailoverMode
    location_noun: str = "location"
    headline: str | None = None
    outcomes: dict[int, Any] = field(default_factory=dict)
    launched: set[int] = field(default_factory=set)
    answer: tuple[Any, str] | None = None  # (the answer, its location)
    failure: GatewayError | None = None

    @property
    def decided(self) -> bool:
        return self.answer is not None or self.failure is not None

    @property
    def in_flight(self) -> list[str]:
        return [self.locations[i] for i in sorted(self.launched) if i not in self.outcomes]

    def start(self) -> list[int]:
        """Attempts to launch first: the primary, or every location in ``all`` mode."""
        first = list(range(len(self.locations))) if self.mode is FailoverMode.ALL else [0]
        self.launched.update(first)
        return first

    def record(self, attempt: int, outcome: Any) -> list[int]:
        """Store an outcome; return further attempts to launch (empty when waiting or decided)."""
        self.outcomes[attempt] = outcome
        if attempt == 0 and self.mode is FailoverMode.ON_ERROR and not isinstance(outcome, GatewayError):
            self.answer = (outcome, self.locations[0])  # the primary answered: the common case, decided at once
            return []
        if self.decided:
            return []
        if self.mode is FailoverMode.ALL:
            self._decide_all()
            return []
        for index in range(len(self.locations)):
            result = self.outcomes.get(index)
            if result is None:
                if index in self.launched:
                    return []  # wait for the earlier location before deciding
                self.launched.add(index)
                return [index]
            if not isinstance(result, GatewayError):
                self.answer = (result, self.locations[index])
                return []
            if not result.retryable:
                self.failure = self._compose(index, exhausted=False)
                return []
        self.failure = self._compose(len(self.locations) - 1, exhausted=True)
        return []

    def _decide_all(self) -> None:
        """``all`` mode, once every location answered: any client fault fails the object."""
        if len(self.outcomes) < len(self.locations):
            return
        ordered = [self.outcomes[i] for i in range(len(self.locations))]
        refused = [i for i, result in enumerate(ordered) if isinstance(result, GatewayError) and not result.retryable]
        answered = [i for i, result in enumerate(ordered) if not isinstance(result, GatewayError)]
        if refused and answered:
            self.failure = self._compose(refused[-1], exhausted=False)
        elif refused:  # every location failed: all of them named, the client fault decides the code
            self.failure = self._compose(len(self.locations) - 1, exhausted=True, decisive=ordered[refused[0]])
        elif answered:
            self.answer = (ordered[answered[0]], self.locations[answered[0]])
        else:
            self.failure = self._compose(len(self.locations) - 1, exhausted=True)

    def _headlined(self, exhausted: bool, tried: int) -> bool:
        """Every location failed: several of them, or the only one when the backend chose a headline."""
        every = exhausted or tried == len(self.locations)
        return every and any(self.locations) and (len(self.locations) > 1 or self.headline is not None)

    def _compose(self, last: int, *, exhausted: bool, decisive: GatewayError | None = None) -> GatewayError:
        """One error for the object naming every location tried and its real cause."""
        tried = [(self.locations[i], self.outcomes[i]) for i in range(last + 1) if isinstance(self.outcomes.get(i), GatewayError)]
        final = decisive or tried[-1][1]
        assert isinstance(final, GatewayError)
        if len(tried) == 1:
            message = f"{self.obj.label} ({at(self.obj.backend, tried[0][0])}): {final.message}"
        else:
            causes = "; ".join(f"{location}: {error.status_name}: {error.message}" for location, error in tried)
            message = f"{self.obj.label} ({self.obj.backend}): {causes}"
        if self._headlined(exhausted, len(tried)):
            headline = (self.headline or ALL_LOCATIONS_FAILED).format(nouns=plural(self.location_noun), name=self.obj.ref.name)
            message = f"{headline} — {message}"
        return ERROR_CLASSES.get(final.code, Internal)(message, retryable=final.retryable, reason=final.reason)
