"""A real HTTP fake of the Kubernetes API for the reader's tests, shared by the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.testing.kube import FakeKubernetes


@pytest.fixture(scope="session")
def kube_server() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as server:
        yield server


@pytest.fixture
def kube(kube_server: FakeKubernetes) -> FakeKubernetes:
    """The session's fake API server, emptied."""
    kube_server.reset()
    return kube_server
