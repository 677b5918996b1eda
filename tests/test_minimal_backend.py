"""A backend with only ``name`` and ``fetch_many`` serves a mount whose class sets nothing but ``objects``,
and passes the contract suite without a ``batch_context`` (it has no locations)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gateway.backend import Backend
from gateway.errors import NotFound
from gateway.model import FetchBatch, Fetched, FetchFailure, FetchOutcome
from gateway.testing import mount_request, running_gateway
from gateway.testing.contract import BackendContract, Seeded

VALUES = {"a": b"value of a", "b/c": b"value of b/c"}


class Minimal(Backend):
    name = "minimal"

    def __init__(self) -> None:
        self.batches: list[FetchBatch] = []

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        self.batches.append(batch)
        return [
            Fetched(item.key, VALUES[item.ref.name], "1") if item.ref.name in VALUES else FetchFailure(item.key, NotFound("no such entry"))
            for item in batch.items
        ]


async def test_a_minimal_backend_serves_a_mount_without_parameters() -> None:
    backend = Minimal()
    async with running_gateway(backends=[backend]) as gw:
        result = await gw.mount(mount_request([{"objectName": "a", "objectType": "minimal"}, {"objectName": "b/c", "objectType": "minimal"}]))
    assert [(f.path, f.contents) for f in result.files] == [("a", b"value of a"), ("b_c", b"value of b/c")]
    assert [(batch.location, len(batch.items), batch.dialect) for batch in backend.batches] == [("", 2, "secrets-gateway")]


class TestMinimalContract(BackendContract):
    @pytest.fixture
    def backend(self) -> Minimal:
        return Minimal()

    @pytest.fixture
    def seeded(self) -> list[Seeded]:
        return [Seeded(name, value) for name, value in VALUES.items()]

    @pytest.fixture
    def missing_name(self) -> str:
        return "nope"
