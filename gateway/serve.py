"""``secrets-gateway serve``: the socket answers first, the pipeline follows, the plugins warm up last.

The driver fails a mount at once while the socket is missing, and kubelet's retries back off, so the
socket is published as soon as the core settings are known, before the plugins and the libraries
behind them are imported. Then, on a thread so the socket keeps answering, the plugins load, the full
command line (with the plugins' flags) is checked and the pipeline is built and attached; a ``Mount``
that arrived meanwhile waits for it. A start that fails there withdraws the socket and ends with the
same one-line error as a failure before it. Last, with ``--warm-up``, each plugin's ``gateway_server_started``
hook runs on a thread: warm-up (importing a client library, say) that must delay neither the socket nor a mount.
It is off by default: a preloaded library is resident from the start on every node, also where no class ever uses
its backend (botocore: ~8 MiB of the idle process), while without it only a backend's first mount pays the import.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway import gcpolicy
from gateway.errors import StartupError
from gateway.http import OpsServer
from gateway.metrics import Metrics
from gateway.server import GatewayServer
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.app import Gateway

SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def serve(settings: Settings, http_address: tuple[str | None, int] | None, build: Callable[[Metrics], Gateway]) -> None:
    """Serve until SIGTERM or SIGINT. ``build`` makes the gateway with the server's metrics (on a thread:
    it imports the plugins) or raises :class:`StartupError` (or ``SystemExit``, from argparse)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    metrics = Metrics(provider=settings.provider_name)
    server = GatewayServer(settings, metrics)
    ops = OpsServer(*http_address, metrics.registry, server.readiness) if http_address else None
    try:
        if ops is not None:  # first: a port taken by another instance stops the start before the socket appears
            await ops.start(log_serving=False)
        await server.start()
        gateway = await _attach_pipeline(server, build, metrics)
        gcpolicy.settle_after_startup()
        server.log_serving()  # only now: a start that fails has its one-line error alone
        if ops is not None:
            ops.log_serving()
        warm_up = asyncio.ensure_future(_warm_up(gateway)) if settings.warm_up else None
        await stop.wait()
        if warm_up is not None:
            warm_up.cancel()  # the thread itself finishes its work; the server stops meanwhile
    finally:
        for signum in SIGNALS:
            loop.remove_signal_handler(signum)
        if ops is not None:
            await ops.stop()
        await server.stop()


async def _attach_pipeline(server: GatewayServer, build: Callable[[Metrics], Gateway], metrics: Metrics) -> Gateway:
    try:
        gateway = await asyncio.to_thread(build, metrics)
    except StartupError as exc:
        server.fail(str(exc))
        raise
    except SystemExit:
        server.fail("its command line is invalid (see the provider log)")
        raise
    server.attach(gateway)
    return gateway


async def _warm_up(gateway: Gateway) -> None:
    await asyncio.to_thread(gateway.plugins.server_started, gateway.settings)
    gcpolicy.settle_after_startup()  # what the warm-up loaded leaves the collector's generations too
