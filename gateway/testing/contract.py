"""The backend contract: what every backend must do, as a reusable pytest suite.

Subclass :class:`BackendContract` in your plugin's tests and provide three fixtures (a fourth,
``batch_context``, when your backend has locations)::

    class TestMyBackendContract(BackendContract):
        @pytest.fixture
        def backend(self):                 # the backend under test
            return MyBackend(...)

        @pytest.fixture
        def seeded(self, backend):         # objects that exist, with their values
            return [Seeded("app/one", b"first"), Seeded("app/two", b"second")]

        @pytest.fixture
        def missing_name(self):            # an object name that does not exist
            return "app/missing"

        @pytest.fixture
        def batch_context(self):           # location, identity and request for the batches
            return BatchContext(location="zone-a")   # default: BatchContext(), no location

Optionally override ``pinned`` to return a :class:`Seeded` with ``version`` set to a
non-current version, so version selection is checked too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from gateway.backend import NO_LOCATION, Backend
from gateway.errors import GatewayError
from gateway.model import FetchBatch, Fetched, FetchFailure, FetchItem, FetchOutcome, MountRequest, ObjectRef, PodIdentity


@dataclass(frozen=True)
class Seeded:
    """An object the fixture created: name, exact value, and optionally the version to pin."""

    name: str
    value: bytes = field(repr=False)
    version: str = ""
    version_label: str = ""


@dataclass(frozen=True)
class BatchContext:
    location: str = NO_LOCATION
    identity: PodIdentity = field(default_factory=PodIdentity)
    request: MountRequest = field(default_factory=MountRequest)


class BackendContract:
    """The suite. All tests are async and use only the public Backend API."""

    @pytest.fixture
    def pinned(self) -> Seeded | None:
        return None

    @pytest.fixture
    def batch_context(self) -> BatchContext:
        return BatchContext()

    @staticmethod
    def batch(backend: Backend, context: BatchContext, items: list[FetchItem]) -> FetchBatch:
        return FetchBatch(backend.name, context.location, context.identity, context.request, tuple(items))

    @staticmethod
    def by_key(outcomes: object) -> dict[int, FetchOutcome]:
        assert isinstance(outcomes, (list, tuple)), f"fetch_many must return a list or tuple, got {type(outcomes).__name__}"
        found = {}
        for outcome in outcomes:
            assert isinstance(outcome, (Fetched, FetchFailure)), f"unexpected outcome type {type(outcome).__name__}"
            assert outcome.key not in found, f"two outcomes for key {outcome.key}"
            found[outcome.key] = outcome
        return found

    def test_backend_declares_a_name(self, backend: Backend) -> None:
        assert backend.name and backend.name == backend.name.strip()
        assert all(isinstance(option, str) for option in backend.object_options)

    async def test_fetches_every_seeded_object(self, backend: Backend, seeded: list[Seeded], batch_context: BatchContext) -> None:
        items = [FetchItem(100 + i, ObjectRef(s.name)) for i, s in enumerate(seeded)]
        outcomes = self.by_key(await backend.fetch_many(self.batch(backend, batch_context, items)))
        assert set(outcomes) == {item.key for item in items}
        for item, expected in zip(items, seeded, strict=True):
            outcome = outcomes[item.key]
            assert isinstance(outcome, Fetched), f"{expected.name}: {getattr(outcome, 'error', outcome)}"
            assert outcome.value == expected.value
            assert isinstance(outcome.version, str) and outcome.version

    async def test_missing_object_is_a_non_retryable_not_found(
        self, backend: Backend, seeded: list[Seeded], missing_name: str, batch_context: BatchContext
    ) -> None:
        items = [FetchItem(7, ObjectRef(missing_name)), FetchItem(3, ObjectRef(seeded[0].name))]
        outcomes = self.by_key(await backend.fetch_many(self.batch(backend, batch_context, items)))
        failure = outcomes[7]
        assert isinstance(failure, FetchFailure)
        assert isinstance(failure.error, GatewayError)
        assert failure.error.status_name == "NotFound"
        assert failure.error.retryable is False
        assert isinstance(outcomes[3], Fetched), "one missing object must not fail the others in the batch"

    async def test_messages_never_contain_values(
        self, backend: Backend, seeded: list[Seeded], missing_name: str, batch_context: BatchContext
    ) -> None:
        items = [FetchItem(1, ObjectRef(missing_name)), FetchItem(2, ObjectRef(seeded[0].name, version="no-such-version"))]
        outcomes = self.by_key(await backend.fetch_many(self.batch(backend, batch_context, items)))
        for outcome in outcomes.values():
            if isinstance(outcome, FetchFailure):
                for secret in seeded:
                    assert secret.value.decode("utf-8", "replace") not in outcome.error.message
                    assert secret.value.decode("utf-8", "replace") not in repr(outcome.error)

    async def test_answers_in_order_are_those_of_fetch_many(
        self, backend: Backend, seeded: list[Seeded], missing_name: str, batch_context: BatchContext
    ) -> None:
        """Only for a backend that implements ``fetch_in_order``: one outcome per item, in item order, the same answers."""
        if not backend.answers_in_order():
            pytest.skip("the backend answers through fetch_many only")
        items = [FetchItem(5, ObjectRef(missing_name)), *(FetchItem(10 + i, ObjectRef(s.name)) for i, s in enumerate(seeded))]
        batch = self.batch(backend, batch_context, items)
        ordered = await backend.fetch_in_order(batch)
        keyed = self.by_key(await backend.fetch_many(batch))
        assert isinstance(ordered, (list, tuple)) and len(ordered) == len(items), "fetch_in_order returns one outcome per item"
        for item, outcome in zip(items, ordered, strict=True):
            expected = keyed[item.key]
            if isinstance(outcome, FetchFailure):
                assert isinstance(expected, FetchFailure) and outcome.error.status_name == expected.error.status_name
            else:
                assert isinstance(outcome, tuple) and len(outcome) == 2, f"an answer is a (value, version) pair, got {outcome!r:.60}"
                assert isinstance(expected, Fetched) and outcome == (expected.value, expected.version)

    async def test_empty_batch_returns_no_outcomes(self, backend: Backend, batch_context: BatchContext) -> None:
        assert list(await backend.fetch_many(self.batch(backend, batch_context, []))) == []

    async def test_same_name_twice_in_one_batch(self, backend: Backend, seeded: list[Seeded], batch_context: BatchContext) -> None:
        name = seeded[0].name
        outcomes = self.by_key(
            await backend.fetch_many(self.batch(backend, batch_context, [FetchItem(1, ObjectRef(name)), FetchItem(2, ObjectRef(name))]))
        )
        assert isinstance(outcomes[1], Fetched) and isinstance(outcomes[2], Fetched)
        assert outcomes[1].value == outcomes[2].value == seeded[0].value

    async def test_concurrent_batches_do_not_interfere(self, backend: Backend, seeded: list[Seeded], batch_context: BatchContext) -> None:
        async def one(offset: int) -> dict[int, FetchOutcome]:
            items = [FetchItem(offset + i, ObjectRef(s.name)) for i, s in enumerate(seeded)]
            return self.by_key(await backend.fetch_many(self.batch(backend, batch_context, items)))

        results = await asyncio.gather(*(one(1000 * n) for n in range(5)))
        for n, outcomes in enumerate(results):
            for i, expected in enumerate(seeded):
                outcome = outcomes[1000 * n + i]
                assert isinstance(outcome, Fetched) and outcome.value == expected.value

    async def test_pinned_version_is_honoured(self, backend: Backend, pinned: Seeded | None, batch_context: BatchContext) -> None:
        if pinned is None:
            pytest.skip("the fixture 'pinned' gives no pinned version for this backend")
        ref = ObjectRef(pinned.name, pinned.version, pinned.version_label)
        outcomes = self.by_key(await backend.fetch_many(self.batch(backend, batch_context, [FetchItem(9, ref)])))
        outcome = outcomes[9]
        assert isinstance(outcome, Fetched), getattr(outcome, "error", outcome)
        assert outcome.value == pinned.value
        if pinned.version:
            assert outcome.version == pinned.version

    async def test_close_is_safe_twice(self, backend: Backend) -> None:
        await backend.aclose()
        await backend.aclose()
