"""pytest fixtures for plugins that read the Kubernetes API: a real HTTP fake, shared by the session.

Import them into a ``conftest.py``: ``from gateway_kube.testing import kube, kube_server  # noqa: F401``.
"""

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
