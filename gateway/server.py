"""The gRPC provider server on the driver's unix socket.

This is the only place where proto messages meet the gateway's types, and the only place
where exceptions become gRPC statuses.

The server can start before its pipeline exists (``serve`` does: the socket answers ``Version``
while the plugins load); :meth:`GatewayServer.attach` hands it the gateway, and a ``Mount`` that
arrived before waits for it. So this module imports nothing of the mount pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING, Any

import grpc

from gateway import __version__, wire
from gateway.errors import GatewayError
from gateway.metrics import Metrics
from gateway.providerpb import service_pb2 as pb
from gateway.providerpb import service_pb2_grpc as pb_grpc
from gateway.rpcdecode import add_provider_service
from gateway.settings import Settings
from gateway.socketfile import SocketFile
from gateway.text import bounded

if TYPE_CHECKING:
    from gateway.app import Gateway

API_VERSION = "v1alpha1"
MAX_STATUS_MESSAGE = 3000  # keep pod events readable and within metadata limits
#: gRPC core keeps calls the server has not picked up yet in a queue; past its soft limit (1000 by
#: default) it cancels them at random, silently, before they reach the service. Admission is ours
#: (gateway.admission answers overload with a counted Unavailable), so that queue must never fill.
PENDING_CALLS_LIMIT = 100_000
#: how long a thread holds the interpreter lock while another waits for it (Python's default is 5 ms). A large
#: mount's value stages and encoding run in a thread; each time the event loop gives the lock up for a system call
#: it waits this long to get it back, so at 5 ms every other tenant's small mount and Version took several times
#: longer while one tenant's 1,000-object class was mounted.
GIL_SWITCH_SECONDS = 0.001
log = logging.getLogger("gateway.server")


class ProviderServicer(pb_grpc.CSIDriverProviderServicer):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.gateway: Gateway | None = None
        self.failure = ""  # why the pipeline will never come (the server is about to stop)
        self._settled = asyncio.Event()

    def attach(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._settled.set()

    def fail(self, reason: str) -> None:
        self.failure = reason
        self._settled.set()

    async def _attached(self, context: grpc.aio.ServicerContext) -> Gateway:
        """The gateway once attached: a Mount that arrives while ``serve`` still loads the plugins waits here."""
        await self._settled.wait()
        if self.gateway is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, status_message(f"secrets-gateway could not start: {self.failure}"))
        assert self.gateway is not None
        return self.gateway

    async def Version(self, request: pb.VersionRequest, context: grpc.aio.ServicerContext) -> pb.VersionResponse:
        return pb.VersionResponse(version=API_VERSION, runtime_name=self.settings.provider_name, runtime_version=__version__)

    async def Mount(self, request: pb.MountRequest, context: grpc.aio.ServicerContext) -> pb.MountResponse:
        gateway = self.gateway or await self._attached(context)
        # the status is sent outside the handlers: gRPC keeps its abort exception for a while, and one raised in a
        # handler would keep the mount's exception chain, its frames and the secret values in them alive with it
        failure: tuple[grpc.StatusCode, str] | None = None
        try:
            result = await gateway.service.mount(
                wire.from_mount_request(request), time_remaining=context.time_remaining()
            )
        except GatewayError as exc:
            failure = exc.code, status_message(exc.message)
        except Exception:  # MountService already maps these; this is the last line of defence
            log.exception("unexpected error serving Mount")
            failure = grpc.StatusCode.INTERNAL, "internal error in secrets-gateway (see the provider log)"
        if failure is not None:
            await context.abort(*failure)
        if isinstance(result.response, pb.MountResponse):  # built by the size check
            return result.response
        return wire.to_mount_response(result)


def status_message(message: str) -> str:
    """What the pod event shows: valid UTF-8, nothing that hides or fakes text, bounded."""
    return bounded(message, MAX_STATUS_MESSAGE)


class GatewayServer:
    """Owns the socket file and the grpc.aio server for one gateway.

    ``GatewayServer.of(gateway)`` serves a built gateway. ``GatewayServer(settings, metrics)`` can start
    before the gateway is built (``metrics`` is the one the gateway will be built with); ``attach`` hands it over.
    """

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.socket = SocketFile(settings.socket_path)
        self.grace_period = settings.grace_period
        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", settings.max_request_bytes),
                ("grpc.max_send_message_length", -1),
                ("grpc.server.max_pending_requests", PENDING_CALLS_LIMIT),
                ("grpc.server.max_pending_requests_hard_limit", PENDING_CALLS_LIMIT),
            ]
        )
        self.servicer = ProviderServicer(settings)
        # malformed bytes: InvalidArgument, not Unknown; an oversized Mount refused before it is decoded
        add_provider_service(self.servicer, self.server, metrics.grpc_server, settings.request_limits)
        self.serving = False

    @classmethod
    def of(cls, gateway: Gateway) -> GatewayServer:
        server = cls(gateway.settings, gateway.metrics)
        server.attach(gateway)
        return server

    @property
    def gateway(self) -> Gateway | None:
        return self.servicer.gateway

    def attach(self, gateway: Gateway) -> None:
        """Serve Mount with ``gateway`` (built from these settings and metrics); waiting calls go ahead."""
        self.servicer.attach(gateway)

    def fail(self, reason: str) -> None:
        """The gateway will not come: waiting and later Mount calls get ``Unavailable`` naming ``reason``."""
        self.servicer.fail(reason)

    async def start(self) -> None:
        """Claim the socket path, start serving on a staging name, then publish the socket."""
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        self.socket.claim()
        try:
            self.server.add_insecure_port(self.socket.bind_address)
            await self.server.start()
            self.socket.publish(self.settings.socket_mode)
        except BaseException:
            await self.server.stop(None)
            self.socket.withdraw()
            self.socket.release()
            raise
        self.serving = True
        if self.gateway is not None:
            self.log_serving()

    def log_serving(self) -> None:
        """The log line that says the provider serves (``start`` writes it when the gateway is attached already)."""
        assert self.gateway is not None
        backends = ", ".join(self.gateway.backends.names()) or "none"
        log.info("serving provider %s on %s (backends: %s)", self.settings.provider_name, self.socket.path, backends)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready when the socket is served and every plugin loaded (detail for /readyz)."""
        gateway = self.gateway
        failures = [failure.describe() for failure in gateway.plugins.failures] if gateway else []
        backends = gateway.backends.names() if gateway else []
        detail = {
            "socket": str(self.socket.path) if self.serving else None,
            "starting": gateway is None,  # serve's socket is up, its plugins are still loading
            "backends": backends,
            "plugins": [info.name for info in gateway.plugins.loaded] if gateway else [],
            "plugin_failures": failures,
        }
        return self.serving and not failures and bool(backends), detail

    async def stop(self) -> None:
        """Withdraw the socket, let in-flight mounts finish within the grace period, release."""
        if not self.serving:
            return
        self.serving = False
        self.socket.withdraw()
        if self.gateway is not None:  # else a start failed behind the socket: its error is the one line to show
            log.info("stopping: waiting up to %gs for in-flight mounts", self.grace_period)
        await self.server.stop(self.grace_period)  # mounts that waited for a failed start get its Unavailable
        self.socket.release()
        if self.gateway is not None:
            await self.gateway.aclose()
