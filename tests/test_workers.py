"""The worker pool: answers and errors come back, an overrunning or dying worker is replaced."""

from __future__ import annotations

import multiprocessing.spawn
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gateway import yaml11
from gateway.workers import WorkerCrashed, WorkerPool, WorkerTimeout, WorkerUnavailable


@pytest.fixture
def pool() -> WorkerPool:
    workers = WorkerPool(size=1)
    yield workers
    workers.close()


def test_answers_and_errors_come_back(pool: WorkerPool) -> None:
    assert pool.call(yaml11.load, "[a, 1]", yaml11.Yaml11Loader, yaml11.DEFAULT_LIMITS, timeout=60) == ["a", 1]
    with pytest.raises(yaml11.YamlError, match="line 2"):
        pool.call(yaml11.load, "[a", yaml11.Yaml11Loader, yaml11.DEFAULT_LIMITS, timeout=60)


def test_an_overrunning_worker_is_killed_and_replaced(pool: WorkerPool) -> None:
    pool.call(os.getpid, timeout=60)
    (first,) = pool._idle
    with pytest.raises(WorkerTimeout, match=r"longer than 0\.5s"):
        pool.call(time.sleep, 30, timeout=0.5)
    assert not first.process.is_alive()
    assert pool.call(os.getpid, timeout=60) != first.process.pid


def test_a_dying_worker_is_a_typed_failure(pool: WorkerPool) -> None:
    with pytest.raises(WorkerCrashed):
        pool.call(_die, timeout=60)
    assert pool.call(yaml11.load, "ok", yaml11.Yaml11Loader, yaml11.DEFAULT_LIMITS, timeout=60) == "ok"


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_that_exits_before_it_is_ready_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child closes its end without saying "ready" (here: an executable that exits at once)."""
    monkeypatch.setattr(multiprocessing.spawn, "_python_exe", os.fsencode("/bin/true"))
    workers = WorkerPool(size=1)
    try:
        with pytest.raises(WorkerUnavailable, match="exited before it was ready"):
            workers.call(os.getpid, timeout=60)
    finally:
        workers.close()


def test_one_tenant_leaves_a_worker_for_the_others(tmp_path: Path) -> None:
    pool = WorkerPool(size=2)
    started, release = tmp_path / "started", tmp_path / "release"
    try:
        with ThreadPoolExecutor(1) as executor:
            holding = executor.submit(pool.call, _hold, started, release, timeout=60, tenant="a")
            while not started.exists():  # the worker runs: tenant a holds its whole share (one worker of two)
                assert not holding.done(), holding.exception()
                time.sleep(0.01)
            with pytest.raises(WorkerTimeout, match=r"tenant's share of 1 worker\(s\) stayed busy"):
                pool.call(os.getpid, timeout=0.2, tenant="a")
            assert pool.call(os.getpid, timeout=60, tenant="b") > 0  # another tenant gets the other worker
            release.touch()
            assert holding.result(timeout=60) == "released"
        assert pool.call(os.getpid, timeout=60, tenant="a") > 0  # the share is back
    finally:
        pool.close()


def _hold(started: Path, release: Path) -> str:
    started.touch()
    while not release.exists():
        time.sleep(0.01)
    return "released"

