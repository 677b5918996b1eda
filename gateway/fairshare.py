"""Fair shares of something bounded (requests in flight) between tenants.

A :class:`FairLimiter` allows ``total`` holders at once and at most ``per_tenant`` of them for
one tenant (a pod namespace), so one tenant's slow endpoint or burst can occupy its own share
but never the whole: the others keep ``total - per_tenant`` slots. A caller waits for a slot at
most ``wait`` seconds and then gets a clear, retryable :class:`~gateway.errors.Unavailable`
naming the limit that was full — overload is answered, never a silent stall. Memory is bounded
by the tenants holding or waiting for a slot (idle tenants are forgotten).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from gateway.errors import Unavailable

log = logging.getLogger("gateway.fairshare")
OVERLOADED = "TenantOverloaded"


@dataclass
class _Share:
    semaphore: asyncio.Semaphore
    users: int = 0  # holding or waiting


class FairLimiter:
    def __init__(self, what: str, *, total: int, per_tenant: int, total_flag: str, per_tenant_flag: str) -> None:
        self.what = what  # e.g. "Vault requests"
        self.total = total
        self.per_tenant = min(per_tenant, total)
        self.total_flag = total_flag
        self.per_tenant_flag = per_tenant_flag
        self._all = asyncio.Semaphore(total)
        self._shares: dict[str, _Share] = {}

    @asynccontextmanager
    async def slot(self, tenant: str, wait: float) -> AsyncIterator[None]:
        """Hold one slot of ``tenant``'s share and of the total while the block runs."""
        share = self._shares.get(tenant) or self._shares.setdefault(tenant, _Share(asyncio.Semaphore(self.per_tenant)))
        share.users += 1
        try:
            if share.semaphore.locked() or self._all.locked():
                await self._acquire_within(tenant, share, wait)
            else:  # both free: taken at once, without a timer
                await share.semaphore.acquire()
                await self._all.acquire()
        except BaseException:
            self._forget(tenant, share)
            raise
        try:
            yield
        finally:
            self._all.release()
            share.semaphore.release()
            self._forget(tenant, share)

    async def _acquire_within(self, tenant: str, share: _Share, wait: float) -> None:
        """Both slots within ``wait`` seconds, or the overload error naming the one that stayed full."""
        stage = "tenant"
        try:
            async with asyncio.timeout(wait):
                await share.semaphore.acquire()
                try:
                    stage = "total"
                    await self._all.acquire()
                except BaseException:
                    share.semaphore.release()
                    raise
        except TimeoutError:
            raise self._overloaded(tenant, stage, wait) from None

    def _forget(self, tenant: str, share: _Share) -> None:
        share.users -= 1
        if share.users == 0 and self._shares.get(tenant) is share:
            del self._shares[tenant]

    def _overloaded(self, tenant: str, stage: str, wait: float) -> Unavailable:
        if stage == "tenant":
            text = (f"too many {self.what} in flight for namespace {tenant!r}: its share of {self.per_tenant} "
                    f"({self.per_tenant_flag}) stayed full for {wait:g}s")
        else:
            text = f"too many {self.what} in flight on this node: all {self.total} ({self.total_flag}) stayed busy for {wait:g}s"
        log.warning("overload: %s", text)
        return Unavailable(text, reason=OVERLOADED)
