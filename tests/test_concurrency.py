"""SingleFlight: shared calls, and no exception left unretrieved when every caller has left."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from gateway.concurrency import SingleFlight


def test_a_failure_after_every_caller_left_is_not_reported_as_never_retrieved() -> None:
    reported: list[dict[str, Any]] = []

    async def scenario() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context))
        release = asyncio.Event()
        flights: SingleFlight[str, str] = SingleFlight()

        async def slow_failure() -> str:
            await release.wait()
            raise TimeoutError("read timeout from the backend")

        callers = [asyncio.create_task(flights.do("key", slow_failure)) for _ in range(3)]
        await asyncio.sleep(0)
        for caller in callers:
            caller.cancel()  # every caller gives up (its deadline passed) before the call fails
        await asyncio.gather(*callers, return_exceptions=True)
        release.set()
        while len(flights):
            await asyncio.sleep(0)

    asyncio.run(scenario())
    gc.collect()  # asyncio reports an unretrieved exception when the task is collected
    assert [context["message"] for context in reported] == []


async def test_callers_of_one_key_share_one_call_and_its_exception() -> None:
    calls = 0
    release = asyncio.Event()
    flights: SingleFlight[str, str] = SingleFlight()

    async def failing() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        raise ValueError("refused")

    callers = [asyncio.create_task(flights.do("key", failing)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert calls == 1 and all(isinstance(r, ValueError) for r in results) and len(flights) == 0
    with pytest.raises(ValueError):
        await flights.do("key", failing)
    assert calls == 2
