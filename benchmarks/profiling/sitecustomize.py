"""Benchmarks only (never imported by the product): a deterministic profile of a gateway process's event loop.

A benchmark puts this directory first on the child's ``PYTHONPATH`` and names an output file in ``SGW_PROFILE``;
then SIGUSR1 starts cProfile on the main thread (where the event loop runs every mount), timing by the thread's
CPU time, and SIGUSR2 stops it and
writes the pstats file. Without ``SGW_PROFILE`` it does nothing.
"""

import os

if os.environ.get("SGW_PROFILE"):
    import cProfile
    import signal
    import time

    _profiler = cProfile.Profile(time.thread_time)  # the thread's CPU time, not the wall clock's

    def _start(signum: int, frame: object) -> None:
        _profiler.enable()

    def _stop(signum: int, frame: object) -> None:
        _profiler.disable()
        _profiler.dump_stats(os.environ["SGW_PROFILE"])

    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
