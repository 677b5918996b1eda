"""Fuzzing request parsing and the whole Mount handler, seeded with the bad-input corpus.

Property-based (hypothesis) with a fixed budget and ``derandomize=True`` in CI, so every run tries
the same inputs; ``SGW_FUZZ_EXAMPLES=<n>`` makes a longer, randomised run (see README.md here).

- ``test_parsing``: the envelope parser and the objects parser, in process: a typed
  InvalidArgument or a request; problems that are non-empty strings; and when the objects parse
  cleanly, every statically known file path is one the driver accepts.
- ``test_mount``: the real provider server of the session (tests/corpus/harness.py) through its
  socket: files the driver accepts, or one clean typed error (never Internal, never a hang) whose
  message is bounded and carries no planted secret value; the server keeps serving.

Every corpus case that is neither heavy nor a known bug is also run as an explicit example.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, event, example, given, settings

from gateway import paths
from gateway.client import MountFailure
from gateway.errors import InvalidArgument
from gateway.model import MountResult
from gateway.objects import file_names
from gateway.request import RawMountRequest, parse_request
from gateway.testing import start_gateway
from tests.corpus import harness
from tests.fuzz.strategies import SEED_REQUESTS, VALID_REQUESTS, mutated_requests
from tests.test_properties import driver_accepts

LONG_RUN = os.environ.get("SGW_FUZZ_EXAMPLES", "")
PARSE_EXAMPLES = int(LONG_RUN or 2000)
MOUNT_EXAMPLES = int(LONG_RUN or 1500)
#: a long run takes longer than the suite's per-test timeout (pyproject: 120 s)
pytestmark = [pytest.mark.timeout(0)] if LONG_RUN else []
#: the client's deadline per fuzzed mount: far above any answer (milliseconds) - a hang fails
MOUNT_DEADLINE = 10.0
#: a clean answer: what the gateway may say about a malformed or unlucky request
CLEAN_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def profile(examples: int):  # type: ignore[no-untyped-def]
    return settings(
        max_examples=examples,
        derandomize=not LONG_RUN,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def with_corpus_examples(test):  # type: ignore[no-untyped-def]
    for raw in SEED_REQUESTS + VALID_REQUESTS:
        test = example(raw=raw)(test)
    return test


# --------------------------------------------------------------------------- parsing, in process

_PROVIDERS = Path(tempfile.mkdtemp(prefix="sgw-fuzz-", dir="/tmp"))  # never served: the parser only
atexit.register(shutil.rmtree, _PROVIDERS, ignore_errors=True)
PARSER = start_gateway(harness.PLUGINS, settings=harness.SETTINGS, providers_dir=_PROVIDERS)


@profile(PARSE_EXAMPLES)
@with_corpus_examples
@given(raw=mutated_requests())
def test_parsing(raw: RawMountRequest) -> None:
    try:
        request = parse_request(raw)
    except InvalidArgument as exc:
        assert exc.message.strip()
        event("envelope refused")
        return
    parsed = PARSER.planner.parse(request.attributes)
    assert all(isinstance(problem, str) and problem.strip() for problem in parsed.problems)
    if parsed.problems:
        event("objects refused")
        return
    event("objects parsed")
    for obj in parsed.objects:
        assert PARSER.backends.get(obj.backend) is not None
        for name, owner in file_names(obj):
            path = paths.translate(name, parsed.translation)
            assert driver_accepts(path), f"{owner}: the driver would refuse {path!r}"


# --------------------------------------------------------------------------- the Mount handler, through the socket


@pytest.fixture(scope="module")
def server():  # type: ignore[no-untyped-def]
    gateway = harness.acquire()
    yield gateway
    harness.release(gateway)


@profile(MOUNT_EXAMPLES)
@with_corpus_examples
@given(raw=mutated_requests())
def test_mount(server: harness.SessionGateway, raw: RawMountRequest) -> None:
    outcome = server.mount_outcome(raw, timeout=MOUNT_DEADLINE)
    if isinstance(outcome, MountFailure):
        check_failure(outcome)
    else:
        check_files(outcome)


def test_server_kept_serving(server: harness.SessionGateway) -> None:
    harness.check_good(server.mount(harness.good_request()))


def check_failure(failure: MountFailure) -> None:
    event(f"failed {failure.code_name}")
    assert failure.code in CLEAN_CODES, f"not a clean typed error: {failure.rpc_error()[:1000]}"
    assert failure.message.strip()
    assert len(failure.message) <= harness.MAX_MESSAGE_CHARS, len(failure.message)
    assert harness.PLANTED not in failure.message, "a planted secret value leaked into the message"


def check_files(result: MountResult) -> None:
    event("mounted")
    files = [f.path for f in result.files]
    assert files, "success always carries files (and object versions)"
    assert all(driver_accepts(path) for path in files), files
    assert len(set(files)) == len(files), f"two files share a path: {files}"
    directories = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    assert not directories & set(files), f"a file sits where another needs a directory: {files}"
    assert all(0 <= f.mode <= 0o777 for f in result.files)
    assert [object_id for object_id, _ in result.object_versions] == files
