"""The plugin API: everything a plugin author imports, from one module.

``from gateway.plugin import Backend, Fetched, NotFound, Option, hookimpl, ...`` — the names in
:data:`__all__` are the supported surface, kept compatible within a plugin API version
(:data:`PLUGIN_API_VERSION`). Every other ``gateway.*`` module is internal and may change
without notice; tests use :mod:`gateway.testing` (also a pytest plugin).

A plugin module may declare ``GATEWAY_PLUGIN_API = 1`` (the version it was written for, or a
tuple of versions it supports); the core refuses to load it, with a message saying why, when
it does not provide that version.
"""

from __future__ import annotations

from gateway.backend import Backend, BackendRegistry, keyed_outcomes, parse_failover_locations
from gateway.callclock import outside_call_timeout
from gateway.concurrency import Backoff, ExpiringCache, SingleFlight, retry
from gateway.dialect import DIALECT_PARAMETER, Dialect, DialectRegistry
from gateway.errors import (
    ERROR_CLASSES,
    DeadlineExceeded,
    GatewayError,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    StartupError,
    Unavailable,
)
from gateway.fairshare import FairLimiter
from gateway.hookspecs import PLUGIN_API_VERSION, hookimpl
from gateway.metrics import Metrics
from gateway.middleware.base import MiddlewareRegistry, Piece, Stage
from gateway.model import (
    NATIVE_NAME,
    FetchBatch,
    Fetched,
    FetchFailure,
    FetchItem,
    FetchOutcome,
    MountPlan,
    MountRequest,
    ObjectRef,
    ObjectSpec,
    PodIdentity,
    ServiceAccountToken,
    frozen_mapping,
)
from gateway.options import (
    POSITIVE,
    Check,
    Option,
    OptionError,
    OptionRegistry,
    OptionValueError,
    at_least,
    between,
    parse_bool,
    parse_names,
)
from gateway.outbound import CONNECT, MALFORMED, TIMEOUT, TLS, TOO_LARGE, HttpAnswer, HttpProblem, OutboundHttp
from gateway.redact import redact
from gateway.request import POD_NAMESPACE
from gateway.settings import DEFAULT_PROVIDER_NAME, Settings
from gateway.text import preview
from gateway.yamlflavour import GO_YAML_V2, GO_YAML_V3, YamlFlavour, go_int

__all__ = [
    "CONNECT",
    "DEFAULT_PROVIDER_NAME",
    "DIALECT_PARAMETER",
    "ERROR_CLASSES",
    "GO_YAML_V2",
    "GO_YAML_V3",
    "MALFORMED",
    "NATIVE_NAME",
    "PLUGIN_API_VERSION",
    "POD_NAMESPACE",
    "POSITIVE",
    "TIMEOUT",
    "TLS",
    "TOO_LARGE",
    "Backend",
    "BackendRegistry",
    "Backoff",
    "Check",
    "DeadlineExceeded",
    "Dialect",
    "DialectRegistry",
    "ExpiringCache",
    "FairLimiter",
    "FetchBatch",
    "FetchFailure",
    "FetchItem",
    "FetchOutcome",
    "Fetched",
    "GatewayError",
    "HttpAnswer",
    "HttpProblem",
    "Internal",
    "InvalidArgument",
    "Metrics",
    "MiddlewareRegistry",
    "MountPlan",
    "MountRequest",
    "NotFound",
    "ObjectRef",
    "ObjectSpec",
    "Option",
    "OptionError",
    "OptionRegistry",
    "OptionValueError",
    "OutboundHttp",
    "PermissionDenied",
    "Piece",
    "PodIdentity",
    "ResourceExhausted",
    "ServiceAccountToken",
    "Settings",
    "SingleFlight",
    "Stage",
    "StartupError",
    "Unavailable",
    "YamlFlavour",
    "at_least",
    "between",
    "frozen_mapping",
    "go_int",
    "hookimpl",
    "keyed_outcomes",
    "outside_call_timeout",
    "parse_bool",
    "parse_failover_locations",
    "parse_names",
    "preview",
    "redact",
    "retry",
]
