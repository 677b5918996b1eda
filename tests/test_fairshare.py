"""gateway.fairshare: a tenant holds at most its share, the others keep the rest; a full share is answered."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import Unavailable
from gateway.fairshare import OVERLOADED, FairLimiter


def limiter(total: int = 3, per_tenant: int = 2) -> FairLimiter:
    return FairLimiter("test calls", total=total, per_tenant=per_tenant, total_flag="--total", per_tenant_flag="--share")


async def hold(limits: FairLimiter, tenant: str, release: asyncio.Event, wait: float = 5.0) -> None:
    async with limits.slot(tenant, wait):
        await release.wait()


async def test_a_tenant_beyond_its_share_is_answered_while_another_tenant_gets_a_slot() -> None:
    limits, release = limiter(), asyncio.Event()
    holders = [asyncio.ensure_future(hold(limits, "busy", release)) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(Unavailable, match=r"too many test calls in flight for namespace 'busy': its share of 2 \(--share\)") as caught:
        async with limits.slot("busy", 0.05):
            pass
    async with limits.slot("quiet", 0.05):  # the third slot is the other tenant's
        pass
    release.set()
    await asyncio.gather(*holders)
    assert caught.value.reason == OVERLOADED and caught.value.retryable
    assert limits._shares == {}  # idle tenants are forgotten


async def test_a_full_node_is_answered_naming_the_total() -> None:
    limits, release = limiter(total=2, per_tenant=1), asyncio.Event()
    holders = [asyncio.ensure_future(hold(limits, tenant, release)) for tenant in ("a", "b")]
    await asyncio.sleep(0)
    with pytest.raises(Unavailable, match=r"all 2 \(--total\) stayed busy"):
        async with limits.slot("c", 0.05):
            pass
    release.set()
    await asyncio.gather(*holders)


async def test_a_waiter_gets_the_slot_a_holder_frees() -> None:
    limits, first, second = limiter(total=1, per_tenant=1), asyncio.Event(), asyncio.Event()
    holder = asyncio.ensure_future(hold(limits, "a", first))
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(hold(limits, "a", second))
    first.set()
    await holder
    second.set()
    await waiter  # no Unavailable: it waited for the freed slot
    assert limits._shares == {}
