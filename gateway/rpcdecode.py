"""The provider service's registration, with request decoding that fails as InvalidArgument.

grpc's generated registration decodes requests before the servicer runs; bytes that are not the
message answer ``Unknown`` with the decoder's exception text. Here a request that does not decode
becomes a :class:`Malformed` marker, and the method answers ``InvalidArgument`` naming the message.
A Mount request too large to decode (:mod:`gateway.requestscan`, judged from its raw bytes) becomes an
:class:`Oversized` marker, answered ``ResourceExhausted`` without decoding any of it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from gateway.grpcmetrics import GrpcServerMetrics
from gateway.providerpb import service_pb2 as pb
from gateway.requestscan import DEFAULT_REQUEST_LIMITS, RequestLimits, oversized_request

SERVICE = "v1alpha1.CSIDriverProvider"
log = logging.getLogger("gateway.rpcdecode")


class Malformed:
    """A request whose bytes are not the message the method takes."""


@dataclass(frozen=True)
class Oversized:
    """A request refused from its raw bytes, before decoding: ``message`` says which limit."""

    size: int
    message: str


def _decoder(message: Any, limits: RequestLimits | None = None) -> Callable[[bytes], Any]:
    """The request deserializer grpc calls (on the event loop): judges the raw bytes against ``limits``, when given."""

    def decode(data: bytes) -> Any:
        refusal = oversized_request(data, limits) if limits is not None else None
        if refusal is not None:
            return Oversized(len(data), refusal)
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
        if isinstance(request, Oversized):
            log.warning("refused a %d-byte Mount request before decoding it: %s", request.size, request.message)
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, request.message)
        return await method(request, context)

    return handle


def add_provider_service(
    servicer: Any, server: grpc.aio.Server, metrics: GrpcServerMetrics | None = None, limits: RequestLimits = DEFAULT_REQUEST_LIMITS
) -> None:
    """Register ``servicer``'s Version and Mount like the generated code does, with tolerant decoding
    (and counted in ``metrics``, when given). A Mount request over ``limits`` is refused undecoded."""

    def behavior(name: str, request: Any) -> Callable[[Any, Any], Awaitable[Any]]:
        guarded = _guarded(getattr(servicer, name), request)
        return metrics.observe(SERVICE, name, guarded) if metrics is not None else guarded

    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            behavior(name, request),
            request_deserializer=_decoder(request, limits if request is pb.MountRequest else None),
            response_serializer=response.SerializeToString,
        )
        for name, request, response in (
            ("Version", pb.VersionRequest, pb.VersionResponse),
            ("Mount", pb.MountRequest, pb.MountResponse),
        )
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)
