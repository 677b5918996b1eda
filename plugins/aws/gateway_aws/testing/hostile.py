"""An AWS endpoint that answers as no AWS service does, for the plugin's own requests (gateway.testing.hostile)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from gateway.plugin import GatewayError
from gateway.testing.hostile import HostileServer


async def failure_against(
    behaviour: str,
    variable: str,
    monkeypatch: pytest.MonkeyPatch,
    send: Callable[[], Awaitable[object]],
    close: Callable[[], Awaitable[None]],
) -> GatewayError:
    """The error ``send`` ends in while the endpoint variable ``variable`` (``AWS_ENDPOINT_URL_STS``…) names a
    :class:`HostileServer` with ``behaviour``; asserts the request failed and, once ``close`` closed the client's
    idle connections, that no connection was left open."""
    with HostileServer(behaviour) as hostile:
        monkeypatch.setenv(variable, hostile.address)
        with pytest.raises(GatewayError) as failed:
            await send()
        await close()
        assert await asyncio.to_thread(hostile.wait_all_closed), "a connection to the hostile endpoint stayed open"
    return failed.value
