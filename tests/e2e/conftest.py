"""Fixtures of the end-to-end tests: one stack per session (see stack.py), skipped with the
reason where this machine cannot run it (not root, no Go, no unshare)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import build_binaries
from tests.e2e.stack import Peers, Stack, running_stack


def missing_requirement() -> str:
    """Why this machine cannot run the end-to-end tests ("" when it can)."""
    if os.geteuid() != 0:
        return "not root: the driver mounts a tmpfs per volume (inside unshare --mount)"
    if shutil.which("go") is None:
        return "Go toolchain not found: scripts/e2e-binaries.sh builds etcd, kube-apiserver and the driver with it"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) not found: the driver runs in its own mount namespace"
    return ""


@pytest.fixture(scope="session")
def binaries() -> dict[str, str]:
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    return build_binaries()


@pytest.fixture(scope="session")
def peers() -> Iterator[Peers]:
    from gateway_aws.testing import FakePodIdentityAgent, MotoServer
    from gateway_vault.testing.openbao import OpenBao

    with MotoServer() as moto, FakePodIdentityAgent() as agent, OpenBao() as bao:
        yield Peers(moto, agent, bao)


@pytest.fixture(scope="session")
def stack(binaries: dict[str, str], peers: Peers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work: Path = tmp_path_factory.mktemp("e2e")
    with running_stack(binaries, peers, work) as running:
        yield running


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed case shows the tails of the driver's and the gateways' logs (they run as processes)."""
    report = yield
    running = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(running, Stack):
        for process in (running.driver, running.main.process, running.ascp.process):
            report.sections.append((f"{process.name} log (tail)", process.tail(60)))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "tests/e2e/" in r.nodeid.replace("\\", "/")]
    if skipped:
        reason = skipped[0].longrepr[2] if isinstance(skipped[0].longrepr, tuple) else str(skipped[0].longrepr)
        terminalreporter.write_line(f"NOTE: {len(skipped)} end-to-end tests (tests/e2e) were skipped: {reason}", yellow=True)
