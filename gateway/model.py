"""The gateway's own types: a parsed mount request, the objects it asks for, and the files it yields.

Everything here is frozen. Proto messages never leave :mod:`gateway.server`; the rest of
the code base (and every plugin) sees only these types. Fields that hold secret material
are excluded from ``repr`` so that a stray log line or traceback cannot leak them.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from gateway.errors import GatewayError
from gateway.text import preview

#: the native dialect's name (:mod:`gateway.dialect`): here, so that the types need not import the dialects and YAML
NATIVE_NAME = "secrets-gateway"

if TYPE_CHECKING:
    from gateway.layout import ObjectLayout

EMPTY_MAPPING: Mapping[str, str] = MappingProxyType({})


def _empty() -> Mapping[str, str]:
    return EMPTY_MAPPING


def frozen_mapping(values: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """A read-only copy of ``values``, so frozen dataclasses stay immutable all the way down."""
    return MappingProxyType(dict(values or {}))


# --------------------------------------------------------------------------- identity


@dataclass(frozen=True)
class ServiceAccountToken:
    """One projected service-account token, as kubelet hands it to the driver."""

    audience: str
    token: str = field(repr=False)
    expiration: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expiration is not None and self.expiration <= now


@dataclass(frozen=True)
class PodIdentity:
    """Who is asking: taken from the request's kubelet attributes, never guessed.

    ``tokens_provided`` distinguishes "the CSIDriver has no tokenRequests" (False) from
    "tokens were sent but not for the audience you need" (True with a missing key) so
    backends can tell users which of the two to fix.
    """

    namespace: str = ""
    pod_name: str = ""
    pod_uid: str = ""
    service_account: str = ""
    tokens: Mapping[str, ServiceAccountToken] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    tokens_provided: bool = False

    def token_for(self, audience: str) -> ServiceAccountToken | None:
        """The token for ``audience``; None when absent or empty."""
        token = self.tokens.get(audience)
        return token if token is not None and token.token else None

    @property
    def subject(self) -> str:
        """``namespace/serviceaccount`` — how logs and messages name the identity."""
        return f"{self.namespace or '?'}/{self.service_account or '?'}"


# --------------------------------------------------------------------------- request


@dataclass(frozen=True)
class MountRequest:
    """A Mount request after validation of its envelope (not yet of its objects).

    ``attributes`` holds the SecretProviderClass parameters, the pod's volume attributes and
    the kubelet keys exactly as sent; ``secrets`` the nodePublishSecretRef data.
    """

    attributes: Mapping[str, str] = field(default_factory=_empty, repr=False)
    secrets: Mapping[str, str] = field(default_factory=_empty, repr=False)
    permission: int = 0o644
    current_versions: Mapping[str, str] = field(default_factory=_empty)
    identity: PodIdentity = field(default_factory=PodIdentity)
    target_path: str = ""

    def param(self, name: str, default: str = "") -> str:
        """A SecretProviderClass parameter (or volume attribute); ``default`` when absent."""
        return self.attributes.get(name, default)

    @property
    def spc_name(self) -> str:
        return self.attributes.get("secretProviderClass", "")


# --------------------------------------------------------------------------- objects


@dataclass(frozen=True)
class ObjectRef:
    """What to fetch at one location: a backend object name and an optional version selector."""

    name: str
    version: str = ""
    version_label: str = ""

    def describe(self) -> str:
        """``name``, ``name@version`` or ``name#label`` — for messages and logs."""
        if self.version:
            return f"{self.name}@{self.version}"
        if self.version_label:
            return f"{self.name}#{self.version_label}"
        return self.name


class JmesEntry(NamedTuple):
    """One ``jmesPath`` entry: a JSON value extracted from the object into its own file.

    A named tuple, not a dataclass: a large class has tens of thousands, and a tuple is built (and
    unpickled) at a fraction of the cost, and holds no ``__dict__`` the collector walks.
    """

    path: str
    alias: str
    file_permission: int | None = None
    encoding: str = ""


class ExpandMode(enum.Enum):
    """How ``expandKeys`` names the files of a JSON object's top-level keys."""

    PREFIX = "prefix"  # <name><separator><key>
    DIRECTORY = "directory"  # <name>/<key>


@dataclass(frozen=True)
class KeyExpansion:
    mode: ExpandMode
    separator: str = "_"


@dataclass(frozen=True)
class ObjectSpec:
    """One entry of the ``objects`` list, validated and routed to a backend.

    ``index`` is the entry's position in the list; together with ``ref.name`` it is how
    every message names the object. ``failover_ref`` replaces ``ref`` at failover
    locations (``failoverObject``). ``options`` holds the descriptor keys the
    backend declared as its own (keys lower-cased).
    """

    index: int
    backend: str
    ref: ObjectRef
    alias: str = ""
    failover_ref: ObjectRef | None = None
    file_permission: int | None = None
    jmes: tuple[JmesEntry, ...] = ()
    encoding: str = ""
    expand: KeyExpansion | None = None
    options: Mapping[str, str] = field(default_factory=_empty)
    object_type: str = ""

    @property
    def file_name(self) -> str:
        """The file name before path translation: the alias, else the object name."""
        return self.alias or self.ref.name

    @property
    def label(self) -> str:
        """How messages name this object: ``objects[2] "prod/db"`` (escaped, and cut when huge)."""
        return f'objects[{self.index}] "{preview(self.ref.name, 120)}"'

    def ref_at(self, attempt: int) -> ObjectRef:
        """The reference to fetch at the ``attempt``-th location (0 = primary)."""
        if attempt > 0 and self.failover_ref is not None:
            return self.failover_ref
        return self.ref

    def item_at(self, attempt: int) -> FetchItem:
        """What a backend is asked for at the ``attempt``-th location (built once while the parse is cached)."""
        if attempt > 0 and self.failover_ref is not None:
            return self._failover_item
        return self._primary_item

    @functools.cached_property
    def _primary_item(self) -> FetchItem:
        return FetchItem(self.index, self.ref, self.options)

    @functools.cached_property
    def _failover_item(self) -> FetchItem:
        return FetchItem(self.index, self.ref_at(1), self.options)


class FailoverMode(enum.Enum):
    """When failover locations are queried."""

    ON_ERROR = "on-error"  # only after a retryable failure at the previous location (default)
    ALL = "all"  # every location on every mount (two-location Go providers do this); the first usable answer wins


@dataclass(frozen=True)
class MountPlan:
    """Everything needed to fetch and render one mount, decided before any backend call."""

    request: MountRequest
    objects: tuple[ObjectSpec, ...]
    locations: Mapping[str, tuple[str, ...]]  # backend name -> ordered locations, primary first
    translation: str | None = "_"  # None: translation off (slashes make sub-directories)
    failover_mode: FailoverMode = FailoverMode.ON_ERROR
    dialect: str = NATIVE_NAME  # how the class was read (gateway.dialect)
    #: file names the parser already found safe and unique after translation, in pipeline order
    checked_names: tuple[str, ...] = ()
    #: what the objects ask of the fetch and the files, kept with the parse (None: worked out when needed)
    layout: ObjectLayout | None = field(default=None, repr=False, compare=False)

    def locations_for(self, obj: ObjectSpec) -> tuple[str, ...]:
        return self.locations[obj.backend]


# --------------------------------------------------------------------------- backend I/O


@dataclass(frozen=True)
class FetchItem:
    """One object in a backend batch. ``key`` maps the outcome back to its object."""

    key: int
    ref: ObjectRef
    options: Mapping[str, str] = field(default_factory=_empty)


@dataclass(frozen=True)
class FetchBatch:
    """All objects one backend should fetch at one location for one mount.

    ``location`` is ``""`` for a backend that declares no locations. ``dialect`` names the
    dialect the class was read in, for backends whose behaviour follows it.
    """

    backend: str
    location: str
    identity: PodIdentity
    request: MountRequest
    items: tuple[FetchItem, ...]
    dialect: str = NATIVE_NAME


@dataclass(frozen=True)
class Fetched:
    """A backend's answer for one item: the raw value and its version id.

    ``cacheable=False`` keeps it out of the node-local cache even when the operator enabled it
    for this backend — for answers that must be unique per request (issued certificates, leases).
    """

    key: int
    value: bytes = field(repr=False)
    version: str
    cacheable: bool = True


@dataclass(frozen=True)
class FetchFailure:
    """A backend's typed failure for one item."""

    key: int
    error: GatewayError


FetchOutcome = Fetched | FetchFailure


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class MountedFile:
    """One file of the volume plus the object version recorded for it."""

    path: str
    mode: int
    contents: bytes = field(repr=False)
    version: str
    object_index: int


class MountResult:
    """A mount's complete file set, and the driver's response message for it when already built.

    Built from the response (the fast path of a direct class, :mod:`gateway.layout`), ``files`` is read from it on first use.
    """

    __slots__ = ("_files", "_read_files", "response")

    def __init__(
        self,
        files: tuple[MountedFile, ...] = (),
        response: object = None,
        *,
        read_files: Callable[[], tuple[MountedFile, ...]] | None = None,
    ) -> None:
        self._files = files
        self._read_files = read_files
        self.response = response

    @property
    def files(self) -> tuple[MountedFile, ...]:
        if self._read_files is not None:
            self._files, self._read_files = self._read_files(), None
        return self._files

    @property
    def file_count(self) -> int:
        """``len(files)``, without reading the files from the response."""
        if self._read_files is not None:
            return len(self.response.files)  # type: ignore[attr-defined]
        return len(self._files)

    @property
    def object_versions(self) -> tuple[tuple[str, str], ...]:
        """``(id, version)`` per file; the id is the file path, as the Go providers do."""
        return tuple((f.path, f.version) for f in self.files)

    def __repr__(self) -> str:
        return f"MountResult({len(self.files)} files)"
