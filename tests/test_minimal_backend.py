"""A backend with only ``name`` and ``fetch_many`` serves a mount whose class sets nothing but ``objects``."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.backend import Backend
from gateway.model import FetchBatch, Fetched, FetchOutcome
from gateway.testing import mount_request, running_gateway


class Minimal(Backend):
    name = "minimal"

    def __init__(self) -> None:
        self.batches: list[FetchBatch] = []

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        self.batches.append(batch)
        return [Fetched(item.key, f"value of {item.ref.name}".encode(), "1") for item in batch.items]


async def test_a_minimal_backend_serves_a_mount_without_parameters() -> None:
    backend = Minimal()
    async with running_gateway(backends=[backend]) as gw:
        result = await gw.mount(mount_request([{"objectName": "a", "objectType": "minimal"}, {"objectName": "b/c", "objectType": "minimal"}]))
    assert [(f.path, f.contents) for f in result.files] == [("a", b"value of a"), ("b_c", b"value of b/c")]
    assert [(batch.location, len(batch.items), batch.dialect) for batch in backend.batches] == [("", 2, "secrets-gateway")]
