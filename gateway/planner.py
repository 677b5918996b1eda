"""Planning: from a parsed request to a :class:`~gateway.model.MountPlan`, before any fetch.

Chooses the class's dialect, parses the objects (see :mod:`gateway.objects`), asks each
backend in use for its ordered locations, and runs the checks that need them (a failover
object needs a failover location; each backend's :meth:`~gateway.backend.Backend.check_object_locations`).
Every problem found is reported at once.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence

from gateway.backend import BackendRegistry
from gateway.concurrency import ExpiringCache
from gateway.dialect import DIALECT_PARAMETER, DialectRegistry
from gateway.errors import GatewayError, InvalidArgument, ResourceExhausted, Unavailable
from gateway.model import MountPlan, MountRequest, ObjectSpec
from gateway.objects import ParsedObjects, parse_objects
from gateway.plugins import LoadFailure

MAX_PROBLEMS_SHOWN = 5
#: the parameters :func:`~gateway.objects.parse_objects` reads — with the dialect's, the key of the parse cache
PARSE_PARAMETERS = ("objects", "pathTranslation", "failoverMode", "defaultObjectType", DIALECT_PARAMETER)
MAX_CACHED_TEXT = 64 * 1024  # larger (or invalid) classes are parsed every time: the cache stays under ~16 MiB


class Planner:
    def __init__(
        self,
        registry: BackendRegistry,
        *,
        strict: bool = False,
        max_objects: int | None = None,
        load_failures: Sequence[LoadFailure] = (),
        default_type: str = "",
        dialects: DialectRegistry | None = None,
        provider_name: str = "",
    ) -> None:
        self.registry = registry
        self.dialects = dialects or DialectRegistry()
        self.provider_name = provider_name
        self.strict = strict
        self.max_objects = max_objects
        self.load_failures = list(load_failures)
        self.default_type = default_type
        # Parsing is pure and the same SecretProviderClass is mounted by many pods and on every
        # rotation, so results are kept by the parameters they depend on (no secrets involved).
        self._parsed: ExpiringCache[tuple[str, ...], ParsedObjects] = ExpiringCache(max_entries=256)

    def parse(self, parameters: Mapping[str, str]) -> ParsedObjects:
        """Static parsing and validation, no I/O (also what ``secrets-gateway validate`` runs).

        The result is shared between callers: treat it as read-only.
        """
        try:
            dialect = self.dialects.choose(parameters, self.provider_name)
        except ValueError as exc:
            return ParsedObjects(problems=[str(exc)])
        names = (*PARSE_PARAMETERS, *sorted(dialect.parameters))
        key = (dialect.name, *(parameters.get(name, "") for name in names))
        parsed = self._parsed.get(key)
        if parsed is None:
            parsed = parse_objects(
                parameters,
                self.registry,
                dialect=dialect,
                strict=self.strict,
                max_objects=self.max_objects,
                default_type=self.default_type,
            )
            if not parsed.problems and sum(map(len, key)) <= MAX_CACHED_TEXT:  # bounded by size, not only count
                self._parsed.put(key, parsed, math.inf)
        return parsed

    async def plan(self, request: MountRequest) -> tuple[MountPlan, list[str]]:
        """The plan for ``request`` and the warnings found; raise one error for all problems."""
        parsed = self.parse(request.attributes)
        if parsed.problems:
            raise self.problems_error(parsed)
        if not parsed.objects:
            raise InvalidArgument('no objects to mount: the SecretProviderClass parameter "objects" is missing or empty')
        backend_names = sorted({obj.backend for obj in parsed.objects})
        backends = [self.registry.get(name) for name in backend_names]
        found = await asyncio.gather(*(backend.locations(request) for backend in backends))  # type: ignore[union-attr]
        for backend in backends:
            backend.check_request(request)  # type: ignore[union-attr]
        locations = dict(zip(backend_names, found, strict=True))
        problems = check_locations(parsed.objects, locations, self.registry)
        if problems:
            raise InvalidArgument(summarize(problems))
        plan = MountPlan(
            request=request,
            objects=tuple(parsed.objects),
            locations=locations,
            translation=parsed.translation,
            failover_mode=parsed.failover_mode,
            dialect=parsed.dialect,
        )
        return plan, parsed.warnings

    def problems_error(self, parsed: ParsedObjects) -> GatewayError:
        message = summarize(parsed.problems)
        if parsed.over_limit:
            return ResourceExhausted(message)
        if parsed.unloaded_types and self.load_failures:
            failed = "; ".join(failure.describe() for failure in self.load_failures)
            return Unavailable(f"{message}; these object types may belong to a plugin that failed to load: {failed}")
        return InvalidArgument(message)


def check_locations(
    objects: Sequence[ObjectSpec], locations: Mapping[str, tuple[str, ...]], registry: BackendRegistry
) -> list[str]:
    """The rules that need locations: a failover object needs a failover location, and each
    backend's own :meth:`~gateway.backend.Backend.check_object_locations`."""
    problems = []
    for obj in objects:
        where = locations.get(obj.backend)
        backend = registry.get(obj.backend)
        if not where or backend is None:
            continue
        if obj.failover_ref is not None and len(where) < 2:
            noun = backend.location_noun
            problems.append(f"{obj.label}: failover object allowed only when failover {noun} is defined: {obj.ref.name}")
        problems += [f"{obj.label}: {problem}" for problem in backend.check_object_locations(obj, where)]
    return problems


def summarize(problems: Sequence[str]) -> str:
    """All problems in one message (the first few, and how many more)."""
    shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
    hidden = len(problems) - MAX_PROBLEMS_SHOWN
    if hidden > 0:
        shown += f"; and {hidden} more problem{'s' if hidden > 1 else ''} (run `secrets-gateway validate` to list all)"
    return shown
