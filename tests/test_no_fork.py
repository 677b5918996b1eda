"""``serve`` starts its parse workers without fork(), so gRPC's at-fork handlers never run.

gRPC registers at-fork handlers that restart its poller in a forked child; a child that then closes
its descriptors before exec can be aborted by that poller (grpc/grpc#43055, met by this test suite's
harness). The parse workers are ``multiprocessing`` ``spawn`` children, which CPython starts with
vfork() and exec — no at-fork handler runs — so ``serve`` needs no ``GRPC_ENABLE_FORK_SUPPORT``
setting. The real ``serve`` runs here with a tripwire: an at-fork handler that aborts any child
made by fork(). A mount whose class is large enough to be parsed in a worker must still succeed,
with the worker alive beside it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from gateway.client import DriverClient
from gateway.planner import OFF_LOOP_TEXT_BYTES
from gateway.testing import mount_request

#: registers abort() as an at-fork child handler (C level, as gRPC's are), then runs ``python -m gateway`` with argv
_SERVE_WITH_FORK_TRIPWIRE = (
    "import ctypes, runpy, sys; libc = ctypes.CDLL(None);"
    " assert libc.__register_atfork(None, None, ctypes.cast(libc.abort, ctypes.c_void_p), None) == 0;"
    " sys.argv = ['secrets-gateway', *sys.argv[1:]]; runpy.run_module('gateway', run_name='__main__', alter_sys=True)"
)


def children_of(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_a_forked_child_trips_the_wire() -> None:
    """The tripwire itself: a child made by fork() (subprocess with ``preexec_fn``) is aborted, one made by vfork() is not."""
    script = (
        _SERVE_WITH_FORK_TRIPWIRE.split(" sys.argv =")[0]
        + " import subprocess; print(subprocess.run(['true']).returncode, subprocess.run(['true'], preexec_fn=lambda: None).returncode)"
    )
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split() == ["0", "-6"]


async def test_serve_starts_its_parse_worker_without_fork(tmp_path: Path) -> None:
    store = tmp_path / "store.yaml"
    store.write_text("secrets: {a: alpha}\n")
    objects = [{"objectName": "a", "objectType": "fake", "objectAlias": f"copy-{i:04d}"} for i in range(300)]
    request = mount_request(objects)
    assert len(json.loads(request.attributes)["objects"]) > OFF_LOOP_TEXT_BYTES  # parsed in a worker process
    directory = Path(tempfile.mkdtemp(prefix="sgw-", dir="/tmp"))
    path = directory / "secrets-gateway.sock"
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVE_WITH_FORK_TRIPWIRE, "--log-level", "warning", "serve", "--providers-dir", str(directory),
         "--plugins", "fake", "--fake-store", str(store), "--http-address", ""],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        while not path.exists():
            assert server.poll() is None, server.stderr.read() if server.stderr else "server exited"
            await asyncio.sleep(0.02)
        async with DriverClient(path) as client:
            result = await client.mount(request, timeout=120)
            assert {f.path for f in result.files} == {f"copy-{i:04d}" for i in range(300)}
            assert children_of(server.pid), "no parse worker was started"
            assert (await client.version()).runtime_name == "secrets-gateway"
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0, stderr
