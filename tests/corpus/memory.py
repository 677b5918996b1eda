"""The memory figure of the corpus: ``python -m tests.corpus.memory`` (run by test_corpus.py).

A child process with the server in process runs the whole corpus once (every case except the known
crashers) and prints JSON with its RSS before and after. The parent starts it with glibc's
``MALLOC_ARENA_MAX=1`` and ``MALLOC_MMAP_THRESHOLD_=131072``: with the defaults, the server thread's
own malloc arena and the dynamic mmap threshold keep tens of MiB of freed multi-MB request strings
as fragmentation that ``malloc_trim`` cannot return, which would hide what the process really holds
(measured: ~70 MiB of noise with default settings vs ~30 MiB with these).
"""

from __future__ import annotations

import ctypes
import gc
import json
import resource
import sys

import psutil

from tests.corpus import harness

#: what the parent sets for the child (see the module docstring)
ALLOCATOR_ENV = {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_THRESHOLD_": "131072"}


def rss(trim: bool) -> int:
    gc.collect()
    if trim:
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # pragma: no cover - not glibc
            pass
    return psutil.Process().memory_info().rss


def main() -> int:
    cases = [case for case in harness.load_cases() if not case.isolate]
    gateway = harness.acquire()
    try:
        for _ in range(20):  # warm up code paths and allocator pools before the baseline
            harness.check_good(gateway.mount(harness.good_request()))
            gateway.mount_outcome(harness.build_request({"objects": "- {objectName: nope, objectType: fake}\n"}))
        before = rss(trim=True)
        for case in cases:
            gateway.mount_outcome(case.build(), timeout=case.deadline)
        harness.check_good(gateway.mount(harness.good_request()))
        untrimmed = rss(trim=False)
        after = rss(trim=True)
    finally:
        harness.release(gateway)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"before": before, "after": after, "after_untrimmed": untrimmed, "peak": peak,
                      "cases": len(cases), "heavy": sum(case.heavy for case in cases)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
