"""What an idle ``secrets-gateway serve`` holds, by import: ``-X importtime`` for memory.

    uv run python benchmarks/import_memory.py [--plugins aws,vault,fake] [--min-kib 50] [--idle-seconds 8] [-- SERVE FLAGS]

Starts a real ``serve`` (compiled bytecode, as in the image) with tracemalloc on from the first line and, once idle,
prints each module's import as a tree: the traced Python memory its import kept (inclusive of what it imported first),
and the thread that imported it (``MainThread`` before the socket, the start thread behind it). Traced memory is the
interpreter's own allocations (code, objects); RSS adds the C libraries' heaps and allocator overhead, roughly
1.3-1.5x of it here. tracemalloc slows the start several times, so this measures no time, and its idle RSS is not the
figure of ``benchmarks/startup.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from startup import bytecode_environment, serve_command  # benchmarks/startup.py: the image's compiled bytecode

# Run in the child: wrap every module's execution to note the traced memory it kept; dump the list at idle.
PROBE = """
import importlib.abc, os, sys, threading, time, tracemalloc
tracemalloc.start(1)
out, idle_seconds = sys.argv[1], float(sys.argv[2])
records, local = [], threading.local()

class Measured(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader
    def create_module(self, spec):
        return self._loader.create_module(spec)
    def exec_module(self, module):
        stack = local.__dict__.setdefault("stack", [])
        before, index = tracemalloc.get_traced_memory()[0], len(records)
        records.append(None)
        stack.append(module.__name__)
        try:
            self._loader.exec_module(module)
        finally:
            stack.pop()
            kept = tracemalloc.get_traced_memory()[0] - before
            records[index] = (len(stack), module.__name__, kept, threading.current_thread().name)
    def __getattr__(self, name):
        return getattr(self._loader, name)

class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = Measured(spec.loader)
                return spec
        return None

sys.meta_path.insert(0, Finder())

def dump():
    time.sleep(idle_seconds)
    with open(out + ".part", "w") as report:
        for depth, name, kept, thread in filter(None, list(records)):
            report.write(f"{depth}\\t{name}\\t{kept}\\t{thread}\\n")
        report.write(f"-1\\tTOTAL traced at idle\\t{tracemalloc.get_traced_memory()[0]}\\t-\\n")
    os.rename(out + ".part", out)

threading.Thread(target=dump, daemon=True).start()
from gateway.cli import main
sys.exit(main(sys.argv[3:]))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plugins", default="fake")
    parser.add_argument("--min-kib", type=float, default=50, help="hide imports that kept less (default 50 KiB)")
    parser.add_argument("--idle-seconds", type=float, default=8.0, help="when the tree is taken after the start (default 8)")
    parser.add_argument("flags", nargs="*", help="more serve flags, after --")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="sgw-imports-", dir="/tmp"))
    report = directory / "imports.tsv"
    command = [sys.executable, "-c", PROBE, str(report), str(args.idle_seconds),
               *serve_command(directory, args.plugins, tuple(args.flags))]
    server = subprocess.Popen(command, env=bytecode_environment())
    try:
        deadline = time.monotonic() + args.idle_seconds + 60
        while not report.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve exited or never reported (status {server.poll()})")
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"serve --plugins {args.plugins} {' '.join(args.flags)}: traced Python memory kept by each import "
          f"(inclusive, KiB; imports under {args.min_kib:g} KiB hidden), at idle after {args.idle_seconds:g} s")
    for line in report.read_text().splitlines():
        depth, name, kept, thread = line.split("\t")
        if int(depth) < 0 or int(kept) >= args.min_kib * 1024:
            print(f"{int(kept) / 1024:8.0f}  {'  ' * max(int(depth), 0)}{name}  [{thread}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
