"""Failover decisions: by the error's retryable property, per mode."""

from __future__ import annotations

import pytest

from gateway.errors import DeadlineExceeded, NotFound, PermissionDenied, Unavailable
from gateway.failover import ObjectAttempts
from gateway.model import FailoverMode, Fetched, ObjectRef, ObjectSpec

OBJ = ObjectSpec(index=0, backend="secretsmanager", ref=ObjectRef("prod/db"), alias="db")
LOCATIONS = ("us-east-1", "us-west-2", "eu-west-1")
OK = Fetched(0, b"v", "1")


def unavailable() -> Unavailable:
    return Unavailable("ServiceUnavailable: try later")


@pytest.mark.parametrize(
    ("mode", "outcomes", "launches", "answer", "failure"),
    [
        pytest.param(FailoverMode.ON_ERROR, [(0, OK)], [[0], []], "us-east-1", None, id="primary-ok"),
        pytest.param(FailoverMode.ON_ERROR, [(0, unavailable()), (1, OK)], [[0], [1], []], "us-west-2", None, id="retryable-then-ok"),
        pytest.param(
            FailoverMode.ON_ERROR, [(0, NotFound("ResourceNotFoundException"))], [[0], []], None,
            'objects[0] "prod/db" (secretsmanager @ us-east-1): ResourceNotFoundException', id="non-retryable-stops",
        ),
        pytest.param(
            FailoverMode.ON_ERROR, [(0, unavailable()), (1, PermissionDenied("AccessDeniedException"))], [[0], [1], []], None,
            'objects[0] "prod/db" (secretsmanager): us-east-1: Unavailable: ServiceUnavailable: try later; '
            "us-west-2: PermissionDenied: AccessDeniedException",
            id="retryable-then-denied",
        ),
        pytest.param(
            FailoverMode.ON_ERROR, [(0, unavailable()), (1, unavailable()), (2, DeadlineExceeded("no answer"))], [[0], [1], [2], []], None,
            "Failed to fetch secret from all regions. Verify secret exists and required permissions are granted for: prod/db — "
            'objects[0] "prod/db" (secretsmanager): us-east-1: Unavailable',
            id="all-regions-failed",
        ),
        pytest.param(FailoverMode.ALL, [(1, OK), (0, OK), (2, OK)], [[0, 1, 2], [], [], []], "us-east-1", None, id="all-primary-wins"),
        pytest.param(FailoverMode.ALL, [(2, OK), (0, unavailable()), (1, OK)], [[0, 1, 2], [], [], []], "us-west-2", None, id="all-first-usable"),
        pytest.param(
            FailoverMode.ALL, [(1, OK), (0, NotFound("gone")), (2, OK)], [[0, 1, 2], [], [], []], None,
            "(secretsmanager @ us-east-1): gone", id="all-client-error-fails",
        ),
        pytest.param(
            FailoverMode.ALL, [(0, OK), (1, PermissionDenied("AccessDeniedException")), (2, OK)], [[0, 1, 2], [], [], []], None,
            'objects[0] "prod/db" (secretsmanager @ us-west-2): AccessDeniedException', id="all-4xx-after-primary-answered-fails",
        ),
        pytest.param(
            FailoverMode.ALL, [(0, OK), (1, unavailable()), (2, unavailable())], [[0, 1, 2], [], [], []], "us-east-1", None,
            id="all-5xx-elsewhere-is-ignored",
        ),
        pytest.param(
            FailoverMode.ALL, [(0, NotFound("gone")), (1, NotFound("gone")), (2, unavailable())], [[0, 1, 2], [], [], []], None,
            "Failed to fetch secret from all regions. Verify secret exists and required permissions are granted for: prod/db — ",
            id="all-every-region-failed-headline",
        ),
    ],
)
def test_decisions(mode, outcomes, launches, answer, failure) -> None:  # type: ignore[no-untyped-def]
    attempts = ObjectAttempts(OBJ, LOCATIONS, mode, "region")
    seen = [attempts.start()]
    for attempt, outcome in outcomes:
        seen.append(attempts.record(attempt, outcome))
    assert seen == launches
    if answer is None:
        assert attempts.answer is None and attempts.failure is not None and failure in attempts.failure.message
    else:
        assert attempts.failure is None and attempts.answer == (OK, answer)


def test_composed_error_keeps_the_final_code_and_retryability() -> None:
    attempts = ObjectAttempts(OBJ, LOCATIONS[:2], FailoverMode.ON_ERROR)
    attempts.start()
    attempts.record(0, unavailable())
    attempts.record(1, unavailable())
    assert isinstance(attempts.failure, Unavailable) and attempts.failure.retryable


def test_failover_object_name_is_used_at_failover_locations() -> None:
    obj = ObjectSpec(index=0, backend="x", ref=ObjectRef("a"), alias="f", failover_ref=ObjectRef("b"))
    assert [obj.ref_at(i).name for i in range(3)] == ["a", "b", "b"]


def test_all_addresses_failed_headline_uses_the_backends_noun() -> None:
    attempts = ObjectAttempts(OBJ, ("https://a", "https://b"), FailoverMode.ON_ERROR, location_noun="address")
    attempts.start()
    attempts.record(0, unavailable())
    attempts.record(1, unavailable())
    assert attempts.failure is not None and attempts.failure.message.startswith("Failed to fetch secret from all addresses.")


def test_all_mode_client_fault_decides_the_code_when_every_region_failed() -> None:
    attempts = ObjectAttempts(OBJ, LOCATIONS[:2], FailoverMode.ALL, "region")
    attempts.start()
    attempts.record(0, NotFound("gone"))
    attempts.record(1, unavailable())
    assert isinstance(attempts.failure, NotFound) and not attempts.failure.retryable


@pytest.mark.parametrize(
    ("locations", "headline", "outcomes", "starts"),
    [
        pytest.param(("us-east-1",), None, [unavailable()], 'objects[0] "prod/db" (secretsmanager @ us-east-1)', id="one-location-no-headline"),
        pytest.param(("us-east-1",), "All {nouns} failed for {name}", [unavailable()], "All regions failed for prod/db — ", id="backend-headline-one-location"),
        pytest.param(("",), "All {nouns} failed for {name}", [unavailable()], 'objects[0] "prod/db" (secretsmanager)', id="no-locations-no-headline"),
        pytest.param(LOCATIONS[:2], "All {nouns} failed for {name}", [unavailable(), unavailable()], "All regions failed for prod/db — ", id="backend-headline"),
        pytest.param(LOCATIONS[:2], "All {nouns} failed for {name}", [NotFound("gone")], 'objects[0] "prod/db" (secretsmanager @ us-east-1)', id="not-every-location-tried"),
    ],
)
def test_headline_when_every_location_failed(locations, headline, outcomes, starts) -> None:  # type: ignore[no-untyped-def]
    attempts = ObjectAttempts(OBJ, locations, FailoverMode.ON_ERROR, "region", headline)
    attempts.start()
    for attempt, outcome in enumerate(outcomes):
        attempts.record(attempt, outcome)
    assert attempts.failure is not None and attempts.failure.message.startswith(starts)
