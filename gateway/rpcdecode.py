"""The provider service's registration, with request decoding that fails as InvalidArgument.

grpc's generated registration decodes requests before the servicer runs; bytes that are not the
message answer ``Unknown`` with the decoder's exception text. Here a request that does not decode
becomes a :class:`Malformed` marker, and the method answers ``InvalidArgument`` naming the message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from gateway.grpcmetrics import GrpcServerMetrics
from gateway.providerpb import service_pb2 as pb

SERVICE = "v1alpha1.CSIDriverProvider"


class Malformed:
    """A request whose bytes are not the message the method takes."""


def _decoder(message: Any) -> Callable[[bytes], Any]:
    def decode(data: bytes) -> Any:
        try:
            return message.FromString(data)
        except (DecodeError, ValueError):
            return Malformed()

    return decode


def _guarded(method: Callable[[Any, Any], Awaitable[Any]], message: Any) -> Callable[[Any, Any], Awaitable[Any]]:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Malformed):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the request is not a valid {message.DESCRIPTOR.full_name} (malformed protobuf bytes)",
            )
        return await method(request, context)

    return handle


def add_provider_service(servicer: Any, server: grpc.aio.Server, metrics: GrpcServerMetrics | None = None) -> None:
    """Register ``servicer``'s Version and Mount like the generated code does, with tolerant decoding
    (and counted in ``metrics``, when given)."""

    def behavior(name: str, request: Any) -> Callable[[Any, Any], Awaitable[Any]]:
        guarded = _guarded(getattr(servicer, name), request)
        return metrics.observe(SERVICE, name, guarded) if metrics is not None else guarded

    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            behavior(name, request),
            request_deserializer=_decoder(request),
            response_serializer=response.SerializeToString,
        )
        for name, request, response in (
            ("Version", pb.VersionRequest, pb.VersionResponse),
            ("Mount", pb.MountRequest, pb.MountResponse),
        )
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)
