"""A driver-like gRPC client: calls a provider socket the way the CSI driver does.

Used by ``secrets-gateway mount --socket``/``--serve``, by :mod:`gateway.testing`, and by
the benchmarks. It dials ``unix://<socket>`` with ``:authority`` ``localhost`` and the
driver's 4 MiB receive limit, so oversized responses fail here as they would there.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import grpc

from gateway import wire
from gateway.errors import go_code_name
from gateway.model import MountedFile, MountResult
from gateway.providerpb import service_pb2 as pb
from gateway.providerpb import service_pb2_grpc as pb_grpc
from gateway.request import RawMountRequest
from gateway.settings import DRIVER_MAX_RECEIVE_BYTES

DRIVER_ATTEMPTS = 3  # the driver's attempts for an UNAVAILABLE Mount


class MountFailure(Exception):
    """A failed Mount as the driver sees it: the status code and message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    @property
    def code_name(self) -> str:
        """Go's spelling of the code, as in ``rpc error: code = NotFound``."""
        return go_code_name(self.code)

    def rpc_error(self) -> str:
        return f"rpc error: code = {self.code_name} desc = {self.message}"

    @property
    def retryable_by_driver(self) -> bool:
        """The driver retries only UNAVAILABLE."""
        return bool(self.code == grpc.StatusCode.UNAVAILABLE)

    driver_attempts = DRIVER_ATTEMPTS

    def pod_event(self, namespace: str = "default", pod: str = "pod", volume: str = "secrets-store-inline", *,
                  attempts: int = DRIVER_ATTEMPTS) -> str:
        """The FailedMount event text kubelet would show for this failure after ``attempts`` tries.

        The driver retries only UNAVAILABLE (3 attempts in all) and then says so; the wrapper is
        shown only when that many attempts were really made.
        """
        exhausted = self.retryable_by_driver and attempts >= DRIVER_ATTEMPTS
        retries = f"max retries exhausted: failed after {attempts} attempts: " if exhausted else ""
        return (
            f'MountVolume.SetUp failed for volume "{volume}" : rpc error: code = Unknown desc = failed to mount '
            f"secrets store objects for pod {namespace}/{pod}, err: {retries}{self.rpc_error()}"
        )

    def __str__(self) -> str:
        return self.rpc_error()


class DriverClient:
    """Async client for one provider socket. Use as ``async with DriverClient(path) as client``."""

    def __init__(self, socket_path: Path | str, max_receive_bytes: int = DRIVER_MAX_RECEIVE_BYTES) -> None:
        self.socket_path = Path(socket_path)
        self.channel = grpc.aio.insecure_channel(
            f"unix://{self.socket_path}",
            options=[
                ("grpc.default_authority", "localhost"),
                ("grpc.max_receive_message_length", max_receive_bytes),
                ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ],
        )
        self.stub = pb_grpc.CSIDriverProviderStub(self.channel)

    async def __aenter__(self) -> DriverClient:
        return self

    async def __aexit__(self, *exc: tuple[type[BaseException], BaseException, TracebackType]) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close()

    async def version(self, timeout: float = 5.0) -> pb.VersionResponse:
        response: pb.VersionResponse = await self.stub.Version(pb.VersionRequest(version="v1alpha1"), timeout=timeout)
        return response

    async def mount(self, request: RawMountRequest, timeout: float | None = None) -> MountResult:
        """Mount; return the files, or raise :class:`MountFailure` (including the driver's own checks)."""
        try:
            response = await self.stub.Mount(wire.to_mount_request(request), timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            raise MountFailure(exc.code(), exc.details() or "") from None
        if response.error.code:
            raise MountFailure(grpc.StatusCode.UNKNOWN, f"mount request failed with provider error code {response.error.code}")
        if not response.object_version:
            raise MountFailure(grpc.StatusCode.UNKNOWN, "missing object versions")
        versions = {v.id: v.version for v in response.object_version}
        return MountResult(
            tuple(MountedFile(f.path, f.mode, f.contents, versions.get(f.path, ""), -1) for f in response.files)
        )
