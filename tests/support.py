"""In-process test doubles for core unit tests (real peers are used everywhere else)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gateway.backend import Backend, BackendRegistry
from gateway.errors import GatewayError, NotFound
from gateway.model import FetchBatch, Fetched, FetchFailure, FetchOutcome, ObjectSpec


@dataclass
class ScriptedBackend(Backend):
    """Answers from a script: ``values[(location, name)]`` or ``values[name]`` → (bytes, version);
    ``errors[(location, name)]`` / ``errors[name]`` → error. Anything else is NotFound.
    Records every batch; optional ``delay`` per batch; ``raises`` fails whole batches; names
    starting with ``claimed_prefix`` route here without an objectType. Locations come from the
    parameters ``zone`` / ``failoverZones``."""

    name: str = "scripted"
    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    delay: float = 0.0
    raises: BaseException | None = None
    claimed_prefix: str = ""
    object_options: frozenset[str] = frozenset()
    location_parameter: str = "zone"
    failover_parameter: str = "failoverZones"
    location_noun: str = "zone"
    default_location: str = "here"
    batches: list[FetchBatch] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    extra_check: str = ""
    default: tuple[bytes, str] | None = None  # answer for names not in ``values``

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        self.batches.append(batch)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.raises is not None:
                raise self.raises
            return [self._one(batch.location, item.key, item.ref.name, item.ref.version) for item in batch.items]
        finally:
            self.in_flight -= 1

    def _one(self, location: str, key: int, name: str, version: str) -> FetchOutcome:
        error = self.errors.get((location, name), self.errors.get(name))
        if error is not None:
            return FetchFailure(key, error)
        found = self.values.get((location, name), self.values.get(name, self.default))
        if found is None:
            return FetchFailure(key, NotFound(f'no object "{name}"'))
        value, found_version = found
        return Fetched(key, value, version or found_version)

    def claims(self, object_name: str) -> bool:
        return bool(self.claimed_prefix) and object_name.startswith(self.claimed_prefix)

    def check_object(self, obj: ObjectSpec) -> list[str]:
        if self.extra_check and obj.ref.version and obj.ref.version_label:
            return [f"{self.extra_check}: {obj.ref.name}"]
        return []

    def calls(self, location: str | None = None) -> int:
        return sum(1 for b in self.batches if location is None or b.location == location)


def registry_of(*backends: Backend) -> BackendRegistry:
    registry = BackendRegistry()
    for backend in backends:
        registry.add(backend)
    return registry


def routing_like() -> BackendRegistry:
    """A backend claiming names (``store:``), one needing its ``zone`` parameter, and a plain one."""
    return registry_of(
        ScriptedBackend(name="store", claimed_prefix="store:", default_location=""),
        ScriptedBackend(name="checked", default_location="", extra_check="checked objects pin a version or a label, not both"),
        ScriptedBackend(name="fake"),
    )


def error(cls: type[GatewayError], message: str = "boom", **kwargs: object) -> GatewayError:
    return cls(message, **kwargs)  # type: ignore[arg-type]


def plan_for(objects: str, registry: BackendRegistry, locations: dict[str, tuple[str, ...]] | None = None, **parameters: str):
    """A MountPlan for an objects YAML, with explicit locations per backend (default: ("here",))."""
    import textwrap

    from gateway.model import MountPlan, MountRequest
    from gateway.objects import parse_objects

    parsed = parse_objects({"objects": textwrap.dedent(objects), **parameters}, registry)
    assert parsed.problems == [], parsed.problems
    where = {obj.backend: (locations or {}).get(obj.backend, ("here",)) for obj in parsed.objects}
    request = MountRequest(attributes={"objects": objects, **parameters})
    return MountPlan(request, tuple(parsed.objects), where, parsed.translation, parsed.failover_mode)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


#: sets RLIMIT_NOFILE to (argv[1], argv[2]), then execs the interpreter with the rest of argv
_EXEC_WITH_NOFILE = (
    "import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2])));"
    " os.execv(sys.executable, [sys.executable, *sys.argv[3:]])"
)


def serve_fake(
    directory: Path, store: Path, *flags: str, log: str = "warning", nofile: tuple[int, int] | None = None, **popen: Any,
) -> subprocess.Popen[str]:
    """The real ``secrets-gateway serve`` with only the fake plugin, as a child process.

    ``nofile`` is its (soft, hard) RLIMIT_NOFILE, set by a small interpreter that then execs ``serve``. Not with
    ``preexec_fn``: that makes subprocess fork() instead of vfork(), so gRPC's at-fork handlers run in the child;
    with a live channel in this process they restart gRPC's poller there, the child closes every descriptor before
    exec, and the poller aborts it ("epoll_wait error: Bad file descriptor", grpc/grpc#43055) before ``serve`` runs.
    """
    assert "preexec_fn" not in popen, "preexec_fn forks through gRPC's at-fork handlers; use nofile="
    limit = [sys.executable, "-c", _EXEC_WITH_NOFILE, *map(str, nofile)] if nofile else [sys.executable]
    return subprocess.Popen(
        [*limit, "-m", "gateway", "--log-level", log, "--log-format", "json", "serve", "--providers-dir", str(directory),
         "--plugins", "fake", "--fake-store", str(store), *flags],
        text=True, **popen,
    )


def load_benchmark(name: str) -> Any:
    """The module ``benchmarks/<name>.py`` (benchmarks are scripts, not a package)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def uv_or_skip(needed_for: str) -> str:
    """The ``uv`` command (``$UV``, else the one on PATH); the test is skipped, saying what for, without one."""
    uv = os.environ.get("UV") or shutil.which("uv")
    if not uv:
        pytest.skip(f"uv is needed to {needed_for}")
    return uv
