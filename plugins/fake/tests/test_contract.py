"""The fake backend passes the backend contract every plugin must pass."""

from __future__ import annotations

import pytest

from gateway.testing.contract import BackendContract, BatchContext, Seeded
from gateway_fake.backend import FakeBackend
from gateway_fake.store import parse_store

STORE = """
secrets:
  app/one: first value
  app/two: '{"json": true}'
  app/binary: {binary: AAEC/w==}
  app/versioned:
    versions:
      - {id: v1, value: old, labels: [AWSPREVIOUS]}
      - {id: v2, value: new, labels: [AWSCURRENT]}
"""


class TestFakeBackendContract(BackendContract):
    @pytest.fixture
    def backend(self) -> FakeBackend:
        return FakeBackend(store=parse_store(STORE, "test"))

    @pytest.fixture
    def seeded(self) -> list[Seeded]:
        return [
            Seeded("app/one", b"first value"),
            Seeded("app/two", b'{"json": true}'),
            Seeded("app/binary", b"\x00\x01\x02\xff"),
            Seeded("app/versioned", b"new"),
        ]

    @pytest.fixture
    def pinned(self) -> Seeded:
        return Seeded("app/versioned", b"old", version="v1")

    @pytest.fixture
    def missing_name(self) -> str:
        return "app/missing"

    @pytest.fixture
    def batch_context(self) -> BatchContext:
        return BatchContext(location="local")
