"""go-grpc-prometheus style server metrics (``grpc_server_*``) as a grpc.aio interceptor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from gateway.errors import go_code_name
from gateway.metriclabels import Children

HANDLING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class GrpcServerMetrics(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no type hints
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter("grpc_server_started", "RPCs started on the server.", labels, registry=registry)
        self.handled = Counter("grpc_server_handled", "RPCs completed on the server, by status code.", [*labels, "grpc_code"], registry=registry)
        self.received = Counter("grpc_server_msg_received", "RPC messages received on the server.", labels, registry=registry)
        self.sent = Counter("grpc_server_msg_sent", "RPC messages sent by the server.", labels, registry=registry)
        self.seconds = Histogram(
            "grpc_server_handling_seconds", "Response latency of RPCs handled by the server.", labels,
            registry=registry, buckets=HANDLING_BUCKETS,
        )
        self.started_by, self.received_by, self.sent_by, self.handled_by, self.seconds_by = (
            Children(metric) for metric in (self.started, self.received, self.sent, self.handled, self.seconds)
        )

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        service, _, method = handler_call_details.method.lstrip("/").partition("/")
        labels = ("unary", service, method)
        behavior = handler.unary_unary

        async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            self.started_by(*labels).inc()
            self.received_by(*labels).inc()
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                response = await behavior(request, context)
                self.sent_by(*labels).inc()
                return response
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except BaseException:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                self.handled_by(*labels, go_code_name(code)).inc()
                self.seconds_by(*labels).observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            observed, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )
