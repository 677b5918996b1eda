"""A backend call's timeout that a plugin can stop while it waits for something other than the backend.

The dispatcher (and the fetch cache) run each ``fetch_many`` under :func:`call_timeout`. A plugin
whose call must first wait for another service — the Kubernetes API's rate limit, a ServiceAccount
read — wraps that wait in :func:`outside_call_timeout`: the backend's timeout stops while the block
runs and resumes with what was left, so a queue in front of the Kubernetes API can never turn into a
"no answer from secretsmanager" timeout. The mount's own deadline is not stopped: it bounds everything.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType


@dataclass
class CallClock:
    """One backend call's timeout; :attr:`waiting_for` names what it waits for while paused ("" when running)."""

    timeout: asyncio.Timeout
    parent: CallClock | None
    paused: int = 0
    remaining: float = 0.0
    waiting_for: str = ""

    def pause(self, loop: asyncio.AbstractEventLoop, waiting_for: str) -> None:
        if self.paused == 0:
            self.waiting_for = waiting_for
            when = self.timeout.when()
            self.remaining = max(0.0, when - loop.time()) if when is not None else -1.0
            if when is not None and not self.timeout.expired():
                self.timeout.reschedule(None)
        self.paused += 1
        if self.parent is not None:
            self.parent.pause(loop, waiting_for)

    def resume(self, loop: asyncio.AbstractEventLoop, cancelled: bool) -> None:
        """Run on with what was left; a wait ended by cancellation (the mount's deadline) stays named."""
        self.paused -= 1
        if self.paused == 0:
            if not cancelled:
                self.waiting_for = ""
            if self.remaining >= 0 and not self.timeout.expired():
                self.timeout.reschedule(loop.time() + self.remaining)
        if self.parent is not None:
            self.parent.resume(loop, cancelled)


_current: ContextVar[CallClock | None] = ContextVar("backend_call_clock", default=None)


def call_timeout(seconds: float) -> CallTimeout:
    """``async with call_timeout(seconds) as clock``: ``asyncio.timeout(seconds)`` for one backend call, pausable by
    :func:`outside_call_timeout` inside it."""
    return CallTimeout(asyncio.timeout(seconds))


class CallTimeout:
    """What :func:`call_timeout` returns (a class, not a generator-based context manager: it runs on every backend call)."""

    def __init__(self, timeout: asyncio.Timeout) -> None:
        self._timeout = timeout

    async def __aenter__(self) -> CallClock:
        clock = CallClock(await self._timeout.__aenter__(), _current.get())
        self._token = _current.set(clock)
        return clock

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        _current.reset(self._token)
        await self._timeout.__aexit__(kind, error, trace)


@asynccontextmanager
async def outside_call_timeout(waiting_for: str = "another service") -> AsyncIterator[None]:
    """Run the block without charging its time to the enclosing backend calls' timeouts (none: no effect).

    ``waiting_for`` ("the Kubernetes API") is named if the mount's deadline passes meanwhile."""
    clock = _current.get()
    if clock is None:
        yield
        return
    loop = asyncio.get_running_loop()
    clock.pause(loop, waiting_for)
    cancelled = False
    try:
        yield
    except asyncio.CancelledError:
        cancelled = True
        raise
    finally:
        clock.resume(loop, cancelled)
