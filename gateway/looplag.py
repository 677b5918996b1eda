"""Event-loop lag: how late the loop wakes a task that asked to sleep a short interval.

Lag is the time some callback held the loop — the time every other pod's mount waited. Used by the
adversarial tests (the in-process server shares the test's loop) and the hostile-tenant benchmark.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType


class LoopLagMonitor:
    """``async with LoopLagMonitor() as lag: ...`` then ``lag.max_lag`` (seconds); :meth:`reset` between phases."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.max_lag = 0.0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    def reset(self) -> None:
        self.max_lag = 0.0
        self.samples = 0

    async def _sample(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.max_lag = max(self.max_lag, time.perf_counter() - started - self.interval)
            self.samples += 1

    async def __aenter__(self) -> LoopLagMonitor:
        self._task = asyncio.create_task(self._sample(), name="loop-lag-monitor")
        await asyncio.sleep(0)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
