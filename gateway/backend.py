"""What a backend is, and the registry plugins add backends to.

A backend turns a :class:`~gateway.model.FetchBatch` (objects of one mount at one location)
into one outcome per item: :class:`~gateway.model.Fetched` or
:class:`~gateway.model.FetchFailure` carrying a typed :class:`~gateway.errors.GatewayError`
whose ``retryable`` decides failover. Batching within a call is the backend's business;
concurrency across batches, deadlines, failover and everything after the fetch are the core's.

A backend may also implement :meth:`Backend.fetch_in_order`, the lean form of the same contract
(answers by position, no object per answer); the core then calls it instead of ``fetch_many``.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from gateway.errors import InvalidArgument, StartupError
from gateway.model import FetchBatch, Fetched, FetchFailure, FetchOutcome, MountRequest, ObjectSpec
from gateway.text import preview

#: the location of a backend that declares none: ``FetchBatch.location`` is the empty string
NO_LOCATION = ""


class Backend(abc.ABC):
    """Base class for backends. Subclasses set ``name`` and implement :meth:`fetch_many`.

    Class attributes describe the backend to the core:

    - ``name``: the ``objectType`` value that routes objects here (see also :meth:`claims`).
    - ``object_options``: extra per-object descriptor keys this backend reads (compared
      case-insensitively, handed over in ``FetchItem.options`` with lower-cased keys).
    - ``structured_options``: those of them that may hold a YAML mapping or list; it is
      handed over as JSON text (scalars stay plain strings).
    - ``location_parameter`` / ``failover_parameter``: SecretProviderClass parameters naming
      the primary location and the comma-separated failover locations. Both optional: a
      backend that declares no ``location_parameter`` has one location, ``default_location``
      (:data:`NO_LOCATION`, the empty string, unless set), and is called once per batch.
    - ``default_location``: used when the parameter is absent (empty with a
      ``location_parameter``: the parameter is required).
    - ``location_noun``: what a location is called in messages ("address", "zone").
    - ``all_locations_failed``: the headline of an object's error when every location failed,
      also the only one, with ``{nouns}`` (the plural location noun) and ``{name}`` (the object
      name). Unset, the core's generic headline, shown only when there were several locations.
    """

    name: str = ""
    description: str = ""
    object_options: frozenset[str] = frozenset()
    structured_options: frozenset[str] = frozenset()
    location_parameter: str = ""
    failover_parameter: str = ""
    default_location: str = NO_LOCATION
    location_noun: str = "location"
    all_locations_failed: str | None = None
    #: class parameters this backend reads besides its location ones (``validate`` suggests them for near-miss names)
    parameters: frozenset[str] = frozenset()

    def check_parameters(self, parameters: Mapping[str, str]) -> list[str]:
        """Problems in the class parameters this backend reads, without I/O or the pod's identity
        (``validate`` shows them; a mount meets the same ones in :meth:`check_request`)."""
        return []

    #: the names of the objects without an ``objectType`` that belong here (e.g. resource names that say which
    #: service they are in), as a pattern matched at a name's start; being data, a parse worker routes by it too
    claimed_names: re.Pattern[str] | None = None

    def claims(self, object_name: str) -> bool:
        """Routing by name: True when an object named ``object_name`` without an ``objectType``
        belongs here; by default when :attr:`claimed_names` matches. No I/O. Override it only where a
        pattern cannot say it: a parse worker does not have backend code, so a large class with objects
        that omit ``objectType`` is then routed in the serving process."""
        return self.claimed_names is not None and self.claimed_names.match(object_name) is not None

    def claims_need_code(self) -> bool:
        """Whether routing by name runs code of this backend's own (:meth:`claims` overridden)."""
        return type(self).claims is not Backend.claims

    def check_object(self, obj: ObjectSpec) -> list[str]:
        """Backend-specific validation of one object without I/O; return problem messages."""
        return []

    def check_object_locations(self, obj: ObjectSpec, locations: tuple[str, ...]) -> list[str]:
        """Validation of one object against this mount's ordered ``locations`` (no I/O);
        return problem messages. Runs after :meth:`locations`, and in ``validate`` when the
        locations are known from the parameters."""
        return []

    def static_locations(self, parameters: Mapping[str, str]) -> tuple[str, ...] | None:
        """Locations known from the parameters alone; None when the primary needs a lookup."""
        if not self.location_parameter:
            return (self.default_location,)
        primary = parameters.get(self.location_parameter, "") or self.default_location
        if not primary:
            return None
        failover = parameters.get(self.failover_parameter, "") if self.failover_parameter else ""
        return (primary, *parse_failover_locations(primary, failover, self.location_noun))

    def check_request(self, request: MountRequest) -> None:
        """Request-level checks without I/O (e.g. that the needed token is there), run once per
        mount after :meth:`locations`; raise a :class:`~gateway.errors.GatewayError`."""

    def unknown_parameters(self, parameters: Mapping[str, str]) -> list[str]:
        """Class parameters meant for this backend that it does not read (a typo, an unsupported
        name), each described (e.g. ``"rolename" (did you mean "roleName"?)``); no I/O. The core
        never ignores them silently: a warning on every mount and in ``validate``, an error under
        ``--strict-objects``. The default finds none."""
        return []

    def cache_evidence(self, batch: FetchBatch) -> str:
        """What of the request proves the caller to this backend, beyond namespace and service account.

        The fetch cache adds it to every key, so a hit needs the same proof a miss would present
        (e.g. a digest of the pod token a login uses, or the pod uid credentials are issued for).
        Computed without I/O; raises exactly the :class:`~gateway.errors.GatewayError` the miss
        would raise for a missing, unusable or foreign proof. The default adds nothing.
        """
        return ""

    async def locations(self, request: MountRequest) -> tuple[str, ...]:
        """Ordered locations for this mount, primary first. Override to look them up."""
        found = self.static_locations(request.attributes)
        if found is None:
            raise InvalidArgument(
                f'{self.name}: no location: set the SecretProviderClass parameter "{self.location_parameter}"'
            )
        return found

    @abc.abstractmethod
    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        """Fetch every item of ``batch``; return exactly one outcome per item key.

        Raising a :class:`~gateway.errors.GatewayError` fails all items of the batch with it.
        """

    async def fetch_in_order(self, batch: FetchBatch) -> Sequence[tuple[bytes, str] | FetchFailure]:
        """Optional, the lean form of :meth:`fetch_many` for backends that answer many objects per call:
        one outcome per item *in the order of* ``batch.items`` — a ``(value, version)`` pair or a
        :class:`~gateway.model.FetchFailure`. The core calls it instead of ``fetch_many`` when a subclass
        implements it. ``fetch_many`` stays required (wrappers such as the fetch cache call it):
        :func:`keyed_outcomes` makes it from these outcomes. Every answer is cacheable; a backend
        with answers that must never be cached (``Fetched(..., cacheable=False)``) implements only ``fetch_many``.
        """
        raise NotImplementedError

    @classmethod
    def answers_in_order(cls) -> bool:
        """Whether this backend implements :meth:`fetch_in_order`."""
        return cls.fetch_in_order is not Backend.fetch_in_order

    async def aclose(self) -> None:
        """Release clients and connections at shutdown."""


def keyed_outcomes(batch: FetchBatch, ordered: Sequence[tuple[bytes, str] | FetchFailure]) -> list[FetchOutcome]:
    """:meth:`Backend.fetch_in_order`'s outcomes as :meth:`Backend.fetch_many` returns them (one per item key)."""
    return [
        outcome if isinstance(outcome, FetchFailure) else Fetched(item.key, outcome[0], outcome[1])
        for item, outcome in zip(batch.items, ordered, strict=True)
    ]


def parse_failover_locations(primary: str, value: str, noun: str = "location") -> tuple[str, ...]:
    """Comma-separated failover locations; each must differ from the primary and the others."""
    found: dict[str, None] = {}  # ordered, and a linear-time duplicate check however long the list
    for location in (part.strip() for part in value.split(",")):
        if not location:
            continue
        if location == primary:
            raise InvalidArgument(f"{preview(location)}: failover {noun} cannot be the same as the primary {noun}")
        if location in found:
            raise InvalidArgument(f"{preview(location)}: failover {noun} listed twice")
        found[location] = None
    return tuple(found)


@dataclass(frozen=True)
class PluginInfo:
    """Where a plugin comes from: entry-point name and distribution (with version)."""

    name: str
    distribution: str = ""
    version: str = ""

    def describe(self) -> str:
        if self.distribution:
            return f"{self.distribution} {self.version}".strip()
        return self.name


@dataclass(frozen=True)
class RegisteredBackend:
    backend: Backend
    plugin: PluginInfo


class BackendRegistry:
    """Backends by name, filled once at startup by the plugins."""

    def __init__(self) -> None:
        self._by_name: dict[str, RegisteredBackend] = {}
        self._registering: PluginInfo = PluginInfo("builtin")

    @contextmanager
    def registering(self, plugin: PluginInfo) -> Iterator[None]:
        """Attribute the backends added inside the block to ``plugin``."""
        previous, self._registering = self._registering, plugin
        try:
            yield
        finally:
            self._registering = previous

    def add(self, backend: Backend) -> None:
        """Register ``backend``; a name registered twice is a startup error."""
        if not backend.name:
            raise StartupError(f"plugin {self._registering.describe()}: backend {type(backend).__name__} has no name")
        existing = self._by_name.get(backend.name)
        if existing is not None:
            raise StartupError(
                f'backend name "{backend.name}" is registered by both {existing.plugin.describe()} '
                f"and {self._registering.describe()}; disable one of them with --plugins"
            )
        self._by_name[backend.name] = RegisteredBackend(backend, self._registering)

    def replace(self, backend: Backend) -> None:
        """Swap the backend registered under ``backend.name`` for a wrapper of it (same plugin)."""
        entry = self._by_name[backend.name]
        self._by_name[backend.name] = RegisteredBackend(backend, entry.plugin)

    def get(self, name: str) -> Backend | None:
        entry = self._by_name.get(name)
        return entry.backend if entry else None

    def claimants(self, object_name: str) -> list[Backend]:
        """The backends that claim ``object_name`` (see :meth:`Backend.claims`), by name."""
        return [entry.backend for entry in self.entries() if entry.backend.claims(object_name)]

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def entries(self) -> list[RegisteredBackend]:
        return [self._by_name[name] for name in self.names()]

    async def aclose(self) -> None:
        for entry in self._by_name.values():
            await entry.backend.aclose()
