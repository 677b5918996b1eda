"""Server settings: one table of typed options (:data:`CORE_OPTIONS`) and the frozen object built from it.

Each core setting is declared once here — flag, type, default, check, help. The CLI builds its flags
from the table, ``Settings`` takes its field defaults from it, and the pipeline's limits are read
from ``Settings``; no other module repeats a default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gateway.budget import Budgets
from gateway.limits import JmesLimits, YamlLimits
from gateway.model import frozen_mapping
from gateway.options import POSITIVE, Check, Option, at_least, parse_mode, parse_names
from gateway.requestscan import RequestLimits

T = TypeVar("T")

PROVIDER_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,30}$")  # the driver's rule for spec.provider
DRIVER_MAX_RECEIVE_BYTES = 4 * 1024 * 1024

SERVE = frozenset({"serve"})
RUNS_MOUNTS = frozenset({"serve", "mount"})
PLANS_MOUNTS = frozenset({"serve", "mount", "validate", "secret-objects"})
EVERY_COMMAND = frozenset({"serve", "mount", "validate", "secret-objects", "plugins", "version"})

_SAFE_SOCKET_MODE = Check[int](lambda mode: 0 <= mode <= 0o777 and not mode & 0o007, "without setuid/setgid/sticky or world bits")

LOG_LEVEL = Option("log-level", str, "info", "log level", choices=("debug", "info", "warning", "error"), commands=EVERY_COMMAND)
LOG_FORMAT = Option("log-format", str, "text", "log line format", choices=("text", "json"), commands=EVERY_COMMAND)
PLUGINS = Option[frozenset[str] | None](
    "plugins", parse_names, None, "comma-separated allow-list of plugins to load (default: all installed)", commands=EVERY_COMMAND
)
PROVIDERS_DIR = Option(
    "providers-dir", Path, Path("/var/run/secrets-store-csi-providers"), "directory the driver looks for provider sockets in", commands=SERVE
)
PROVIDER_NAME_OPTION = Option(
    "provider-name",
    str,
    "secrets-gateway",
    "socket name and SecretProviderClass spec.provider served; also chooses the dialect classes are read in, "
    "e.g. a plugin's dialect for classes written for another provider",
    check=Check(lambda name: bool(PROVIDER_NAME.match(name)), "matching ^[a-zA-Z0-9_-]{1,30}$ (the driver's rule)"),
)
DEFAULT_PROVIDER_NAME: str = PROVIDER_NAME_OPTION.default
SOCKET_MODE = Option("socket-mode", parse_mode, 0o600, "socket file mode", check=_SAFE_SOCKET_MODE, commands=SERVE)
GRACE_PERIOD = Option("grace-period", float, 10.0, "seconds in-flight mounts get at shutdown", check=at_least(0), commands=SERVE)
MOUNT_TIMEOUT = Option("mount-timeout", float, 30.0, "deadline of one mount in seconds", check=POSITIVE, commands=RUNS_MOUNTS)
BACKEND_TIMEOUT = Option("backend-timeout", float, 10.0, "timeout of one backend call in seconds", check=POSITIVE, commands=RUNS_MOUNTS)
MAX_PARALLEL_CALLS = Option("max-parallel-calls", int, 32, "concurrent backend calls per mount", check=at_least(1), commands=RUNS_MOUNTS)
MAX_CONCURRENT_MOUNTS = Option(
    "max-concurrent-mounts", int, 64, "mounts served at once; more wait in a queue", check=at_least(1), commands=RUNS_MOUNTS
)
MAX_MOUNTS_PER_NAMESPACE = Option(
    "max-mounts-per-namespace",
    int,
    32,
    "mount slots one namespace may hold at once (fair share of --max-concurrent-mounts)",
    check=at_least(1),
    commands=RUNS_MOUNTS,
)
MAX_QUEUED_MOUNTS = Option(
    "max-queued-mounts",
    int,
    1024,
    "mounts waiting for a slot; past that the namespace queueing the most is answered Unavailable",
    check=at_least(0),
    commands=RUNS_MOUNTS,
)
MAX_OBJECTS = Option("max-objects", int, 1000, "objects allowed per mount", check=at_least(1), commands=PLANS_MOUNTS)
MAX_VALUE_BYTES = Option(
    "max-value-bytes", int, DRIVER_MAX_RECEIVE_BYTES, "largest value accepted from a backend", check=at_least(1), commands=RUNS_MOUNTS
)
MAX_RESPONSE_BYTES = Option(
    "max-response-bytes",
    int,
    DRIVER_MAX_RECEIVE_BYTES,
    "largest Mount response (the driver refuses more than 4 MiB by default)",
    check=at_least(1),
    commands=RUNS_MOUNTS,
)
MAX_REQUEST_BYTES = Option(
    "max-request-bytes", int, 8 * 1024 * 1024,
    "largest Mount request accepted on the socket; gRPC refuses a larger one before it is decoded "
    "(each of its attributes and secrets is held to --max-parameter-bytes + 512 KiB before decoding, too)",
    check=at_least(1), commands=SERVE,
)  # fmt: skip
MAX_PARAMETER_BYTES = Option(
    "max-parameter-bytes", int, Budgets.max_parameter_bytes, "largest SecretProviderClass parameter, objects included",
    check=at_least(1), commands=PLANS_MOUNTS,
)  # fmt: skip
MAX_YAML_NODES = Option(
    "max-yaml-nodes", int, YamlLimits.max_nodes, "nodes the objects YAML may have after alias and merge-key expansion",
    check=at_least(1), commands=PLANS_MOUNTS,
)  # fmt: skip
MAX_JMESPATH_WORK = Option(
    "max-jmespath-work", int, JmesLimits.max_work, "work (about bytes visited and made) one jmesPath evaluation may take",
    check=at_least(1), commands=RUNS_MOUNTS,
)  # fmt: skip
MAX_FAILOVER_LOCATIONS = Option(
    "max-failover-locations", int, Budgets.max_failover_locations, "failover locations (e.g. failoverRegion entries) per backend",
    check=at_least(0), commands=RUNS_MOUNTS,
)  # fmt: skip
MAX_PARSE_SECONDS = Option(
    "max-parse-seconds", float, Budgets.max_parse_seconds, "time a worker process may take to parse one large objects YAML or run one mount's heavy jmesPath",
    check=POSITIVE, commands=RUNS_MOUNTS,
)  # fmt: skip
STRICT_OBJECTS = Option(
    "strict-objects", bool, False, "reject unknown keys in object descriptors instead of warning", commands=PLANS_MOUNTS
)
DEFAULT_OBJECT_TYPE = Option(
    "default-object-type",
    str,
    "",
    "backend for objects without objectType that no backend claims by name "
    "(an SPC may set the parameter defaultObjectType; a dialect may have its own)",
    commands=PLANS_MOUNTS,
)
HTTP_ADDRESS = Option(
    "http-address",
    str,
    ":8095",
    'host:port for /metrics, /healthz and /readyz (":port" = every interface, IPv4 and IPv6; empty disables)',
    commands=SERVE,
)
WARM_UP = Option(
    "warm-up",
    bool,
    False,
    "once the socket answers, let each plugin preload its client library (aws: botocore) so that no backend's "
    "first mount imports it; costs that memory from the start, whether or not a class ever uses the backend",
    commands=SERVE,
)
CACHE_TTL = Option(
    "cache-ttl",
    float,
    0.0,
    "seconds to keep fetched values in the node-local, identity-scoped cache; 0 disables it",
    check=at_least(0),
    commands=RUNS_MOUNTS,
)
CACHE_BACKENDS = Option[frozenset[str] | None](
    "cache-backends", parse_names, None, "comma-separated backends the cache covers (default: all)", commands=RUNS_MOUNTS
)
CACHE_MAX_ENTRIES = Option("cache-max-entries", int, 10_000, "cache size bound", check=at_least(1), commands=RUNS_MOUNTS)

#: every core setting, in the order ``--help`` lists them
CORE_OPTIONS: tuple[Option[Any], ...] = (
    LOG_LEVEL,
    LOG_FORMAT,
    PLUGINS,
    PROVIDERS_DIR,
    PROVIDER_NAME_OPTION,
    SOCKET_MODE,
    GRACE_PERIOD,
    MOUNT_TIMEOUT,
    BACKEND_TIMEOUT,
    MAX_PARALLEL_CALLS,
    MAX_CONCURRENT_MOUNTS,
    MAX_MOUNTS_PER_NAMESPACE,
    MAX_QUEUED_MOUNTS,
    MAX_OBJECTS,
    MAX_VALUE_BYTES,
    MAX_RESPONSE_BYTES,
    MAX_REQUEST_BYTES,
    MAX_PARAMETER_BYTES,
    MAX_YAML_NODES,
    MAX_JMESPATH_WORK,
    MAX_FAILOVER_LOCATIONS,
    MAX_PARSE_SECONDS,
    STRICT_OBJECTS,
    DEFAULT_OBJECT_TYPE,
    HTTP_ADDRESS,
    WARM_UP,
    CACHE_TTL,
    CACHE_BACKENDS,
    CACHE_MAX_ENTRIES,
)
#: the settings every subcommand accepts, before or after the subcommand's name
GLOBAL_OPTIONS = (LOG_LEVEL, LOG_FORMAT, PLUGINS)


@dataclass(frozen=True)
class Settings:
    """Typed values of every core option (field = option name with ``_``) plus the plugins' options."""

    log_level: str = LOG_LEVEL.default
    log_format: str = LOG_FORMAT.default
    plugins: frozenset[str] | None = PLUGINS.default  # allow-list of plugin names; None = every installed plugin
    providers_dir: Path = PROVIDERS_DIR.default
    provider_name: str = PROVIDER_NAME_OPTION.default
    socket_mode: int = SOCKET_MODE.default
    grace_period: float = GRACE_PERIOD.default
    mount_timeout: float = MOUNT_TIMEOUT.default
    backend_timeout: float = BACKEND_TIMEOUT.default
    max_parallel_calls: int = MAX_PARALLEL_CALLS.default
    max_concurrent_mounts: int = MAX_CONCURRENT_MOUNTS.default
    max_mounts_per_namespace: int = MAX_MOUNTS_PER_NAMESPACE.default  # fair share: one namespace's burst leaves slots for the others
    max_queued_mounts: int = MAX_QUEUED_MOUNTS.default  # waiting mounts; past that the longest queue is answered Unavailable
    max_objects: int = MAX_OBJECTS.default
    max_value_bytes: int = MAX_VALUE_BYTES.default
    max_response_bytes: int = MAX_RESPONSE_BYTES.default
    max_request_bytes: int = MAX_REQUEST_BYTES.default
    max_parameter_bytes: int = MAX_PARAMETER_BYTES.default  # tenant budgets: see gateway.budget
    max_yaml_nodes: int = MAX_YAML_NODES.default
    max_jmespath_work: int = MAX_JMESPATH_WORK.default
    max_failover_locations: int = MAX_FAILOVER_LOCATIONS.default
    max_parse_seconds: float = MAX_PARSE_SECONDS.default
    strict_objects: bool = STRICT_OBJECTS.default
    default_object_type: str = DEFAULT_OBJECT_TYPE.default  # routes objects without objectType that no backend claims; SPC parameter defaultObjectType wins
    http_address: str = HTTP_ADDRESS.default
    warm_up: bool = WARM_UP.default  # serve: run the plugins' gateway_server_started once the socket answers
    cache_ttl: float = CACHE_TTL.default  # node-local fetch cache; 0 = off (see gateway.cache)
    cache_backends: frozenset[str] | None = CACHE_BACKENDS.default  # None = every backend, when cache_ttl > 0
    cache_max_entries: int = CACHE_MAX_ENTRIES.default
    plugin_options: Mapping[str, object] = field(default_factory=lambda: frozen_mapping({}))

    @property
    def budgets(self) -> Budgets:
        """The tenant budgets these settings give (:mod:`gateway.budget`)."""
        return Budgets(
            max_parameter_bytes=self.max_parameter_bytes,
            max_failover_locations=self.max_failover_locations,
            max_value_bytes=self.max_value_bytes,
            max_parse_seconds=self.max_parse_seconds,
            yaml=YamlLimits(max_nodes=self.max_yaml_nodes),
            jmes=JmesLimits(max_work=self.max_jmespath_work, max_result=self.max_value_bytes),
        )

    @property
    def request_limits(self) -> RequestLimits:
        """What a Mount request's raw bytes are held to before decoding (:mod:`gateway.requestscan`)."""
        return RequestLimits(max_parameter_bytes=self.max_parameter_bytes)

    @property
    def socket_path(self) -> Path:
        return self.providers_dir / f"{self.provider_name}.sock"

    def option(self, option: Option[T]) -> T:
        """A plugin option's typed value (its default when not set)."""
        return option.value_in(self.plugin_options)


def settings_from(values: Mapping[str, object], plugin_options: Mapping[str, object]) -> Settings:
    """``Settings`` from parsed core values by option name (absent ones keep their defaults)."""
    core = {option.dest: values[option.name] for option in CORE_OPTIONS if option.name in values}
    return Settings(**core, plugin_options=frozen_mapping(dict(plugin_options)))  # type: ignore[arg-type]
