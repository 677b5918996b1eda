"""The bad-input corpus, through the real socket: one test per case (see README.md in this folder).

One real provider server for the session (``harness.SessionGateway``: ``running_gateway`` with the
real fake plugin and its store file). For every case: the exact gRPC status; every expected message
fragment; a message of at most 4,096 characters with no planted secret value; no file set; and a
known-good mount succeeding right after it. At the end: the server still serves, and a server
process's RSS grew by less than ``RSS_GROWTH_BOUND`` over the whole corpus (10,000-object and
multi-MB cases included; measured in a child process, see memory.py).
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from gateway.client import MountFailure
from gateway.model import MountResult
from tests.corpus import harness
from tests.corpus.harness import MAX_MESSAGE_CHARS, PLANTED, RSS_GROWTH_BOUND, Case
from tests.corpus.memory import ALLOCATOR_ENV

CASES = harness.load_cases()
REPO = Path(__file__).resolve().parents[2]
MIN_CASES = 200
#: the memory figures of this run, printed by test_memory_stays_bounded
FIGURES: dict[str, float] = {}
NOT_SERVING_AFTER: list[str] = []


@pytest.fixture(scope="module")
def gateway():  # type: ignore[no-untyped-def]
    """One real provider server for every corpus case (harness.SessionGateway)."""
    gateway = harness.acquire()
    harness.check_good(gateway.mount(harness.good_request()))
    yield gateway
    harness.release(gateway)


@pytest.fixture(scope="module")
def memory_child(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The memory run (tests/corpus/memory.py) in a child process, started once for the module."""
    with tempfile.TemporaryFile("w+") as stderr:  # a file, not a pipe: the child logs a lot
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.corpus.memory"],
            cwd=REPO, env={**os.environ, **ALLOCATOR_ENV}, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
        child.stderr_file = stderr  # type: ignore[attr-defined]
        yield child
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.fixture(scope="module", autouse=True)
def memory_child_early(request: pytest.FixtureRequest) -> None:
    """Start the memory run with the module when test_memory_stays_bounded is selected, so it runs
    alongside the per-case tests instead of after them."""
    if any(item.name == "test_memory_stays_bounded" for item in request.session.items):
        request.getfixturevalue("memory_child")


def test_corpus_is_well_formed() -> None:
    assert len(CASES) >= MIN_CASES, f"the corpus has {len(CASES)} cases, fewer than {MIN_CASES}"
    ids = collections.Counter(case.id for case in CASES)
    assert [i for i, n in ids.items() if n > 1] == [], "case ids must be unique"
    fingerprints = collections.Counter(case.fingerprint() for case in CASES)
    assert [c.id for c in CASES if fingerprints[c.fingerprint()] > 1] == [], "two cases send the same request"
    for case in CASES:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", case.id), case.id
        assert case.description.strip() and "\n" not in case.description, case.id
        assert case.fragments and all(isinstance(f, str) and f for f in case.fragments), f"{case.id}: no message fragments"
        assert not case.xfail or case.xfail.startswith("bug: "), f"{case.id}: an xfail reason starts with 'bug: '"


def params():  # type: ignore[no-untyped-def]
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", list(params()))
def test_case(case: Case, gateway: harness.SessionGateway) -> None:
    if case.isolate:
        outcome, serving = run_isolated(case)
    else:
        outcome = gateway.mount_outcome(case.build(), timeout=case.deadline)
        serving = still_serving(gateway)
    if not serving:
        NOT_SERVING_AFTER.append(case.id)
    check_outcome(case, outcome)
    assert serving, f"the known-good mount failed after {case.id}"


def check_outcome(case: Case, outcome: MountResult | MountFailure) -> None:
    if isinstance(outcome, MountResult):
        pytest.fail(f"{case.id}: the mount succeeded with files {[f.path for f in outcome.files][:20]}; expected {case.code}")
    message = outcome.message
    shown = message[:1000]
    assert outcome.code_name == case.code, f"{case.id}: status {outcome.code_name}, expected {case.code}: {shown!r}"
    assert message.strip(), f"{case.id}: empty message"
    missing = [fragment for fragment in case.fragments if fragment not in message]
    assert not missing, f"{case.id}: missing {missing!r} in {shown!r}"
    present = [fragment for fragment in case.absent if fragment in message]
    assert not present, f"{case.id}: unwanted {present!r} in {shown!r}"
    assert len(message) <= MAX_MESSAGE_CHARS, f"{case.id}: message of {len(message)} characters"
    assert PLANTED not in message, f"{case.id}: a planted secret value leaked into the message"


def still_serving(gateway: harness.SessionGateway) -> bool:
    try:
        harness.check_good(gateway.mount(harness.good_request()))
    except (MountFailure, AssertionError):
        return False
    return True


class IsolatedRun:
    """One case in a child process with its own server (``python -m tests.corpus.isolated``)."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.stdout = tempfile.TemporaryFile("w+")
        self.stderr = tempfile.TemporaryFile("w+")
        self.child = subprocess.Popen(
            [sys.executable, "-m", "tests.corpus.isolated", case.source, case.id],
            cwd=REPO, stdout=self.stdout, stderr=self.stderr, text=True,
        )

    def outcome(self) -> tuple[MountResult | MountFailure, bool]:
        """The child's answer and whether its server still served afterwards; a crash fails the case."""
        case = self.case
        returncode = self.child.wait(timeout=case.deadline + 120)
        self.stdout.seek(0)
        self.stderr.seek(0)
        out, err = self.stdout.read(), self.stderr.read()
        if returncode != 0:
            died = f"signal {signal.Signals(-returncode).name}" if returncode < 0 else f"exit status {returncode}"
            pytest.fail(f"{case.id}: the provider process died ({died}): {err[-500:]}")
        report = json.loads(out.strip().splitlines()[-1])
        if report["code"] == "Hang":
            pytest.fail(f"{case.id}: {report['message']}")
        if report["files"] is not None:
            return MountResult(()), report["good"]
        return MountFailure(harness.CODES[report["code"]], report["message"]), report["good"]

    def close(self) -> None:
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait()
        self.stdout.close()
        self.stderr.close()


ISOLATED: dict[str, IsolatedRun] = {}


@pytest.fixture(scope="module", autouse=True)
def isolated_runs(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Start every selected isolated case's child at once, so they run alongside the other cases."""
    selected = {item.callspec.id for item in request.session.items if hasattr(item, "callspec") and item.name.startswith("test_case[")}
    for case in CASES:
        if case.isolate and case.id in selected:
            ISOLATED[case.id] = IsolatedRun(case)
    yield
    for run in ISOLATED.values():
        run.close()
    ISOLATED.clear()


def run_isolated(case: Case) -> tuple[MountResult | MountFailure, bool]:
    run = ISOLATED.get(case.id) or ISOLATED.setdefault(case.id, IsolatedRun(case))
    return run.outcome()


def test_server_kept_serving(gateway: harness.SessionGateway) -> None:
    """Also after the cases marked xfail (whose own liveness check an xfail would hide)."""
    assert NOT_SERVING_AFTER == []
    assert still_serving(gateway)


def test_memory_stays_bounded(memory_child: subprocess.Popen[str]) -> None:
    """RSS growth of a server process over the whole corpus (10,000-object and multi-MB cases included).

    The figure comes from ``tests/corpus/memory.py``: a child process with the server in process runs
    every case once; RSS (psutil) after ``gc.collect()`` and ``malloc_trim(0)``, with glibc's allocator
    settings that keep freed multi-MB strings from showing up as fragmentation (see that module).
    """
    out, _ = memory_child.communicate(timeout=300)
    if memory_child.returncode != 0:
        memory_child.stderr_file.seek(0)  # type: ignore[attr-defined]
        pytest.fail(f"the memory run failed: {memory_child.stderr_file.read()[-1500:]}")  # type: ignore[attr-defined]
    figures = json.loads(out.strip().splitlines()[-1])
    FIGURES.update(figures)
    mib = 1024 * 1024
    growth = figures["after"] - figures["before"]
    print(
        f"\ncorpus RSS: before {figures['before'] / mib:.1f} MiB, after {figures['after'] / mib:.1f} MiB "
        f"({figures['after_untrimmed'] / mib:.1f} MiB before malloc_trim), growth {growth / mib:+.1f} MiB "
        f"(bound {RSS_GROWTH_BOUND / mib:.0f} MiB), peak {figures['peak'] / mib:.1f} MiB; "
        f"{figures['cases']} cases, {figures['heavy']} heavy"
    )
    assert growth < RSS_GROWTH_BOUND, f"RSS grew by {growth / mib:.1f} MiB over the corpus"
