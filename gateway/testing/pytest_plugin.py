"""The ``secrets-gateway`` pytest plugin (entry point ``pytest11``), active wherever the gateway is installed.

It runs ``async def`` tests that no other plugin claims — the contract suite
(:class:`gateway.testing.contract.BackendContract`) and tests using :func:`gateway.testing.running_gateway` —
each in a fresh event loop, so a plugin's own repository needs plain ``pytest`` and no
pytest-asyncio configuration. Tests pytest-asyncio handles (auto mode, or marked) are left to it.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None  # synchronous, or already wrapped by an async plugin
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(function(**arguments))
    return True
