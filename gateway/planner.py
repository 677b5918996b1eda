"""Planning: from a parsed request to a :class:`~gateway.model.MountPlan`, before any fetch.

Parses the objects (see :mod:`gateway.objects`), asks each backend in use for its ordered
locations, and runs the checks that need them (ASCP's ARN-region and failover rules).
Every problem found is reported at once.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence

from gateway.arn import parse_arn
from gateway.backend import BackendRegistry
from gateway.concurrency import ExpiringCache
from gateway.errors import GatewayError, InvalidArgument, ResourceExhausted, Unavailable
from gateway.model import MountPlan, MountRequest, ObjectSpec
from gateway.objects import ParsedObjects, parse_objects
from gateway.plugins import LoadFailure
from gateway.text import preview

MAX_PROBLEMS_SHOWN = 5
#: the parameters :func:`~gateway.objects.parse_objects` reads — the key of the parse cache
PARSE_PARAMETERS = ("objects", "pathTranslation", "failoverMode", "defaultObjectType")
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
    ) -> None:
        self.registry = registry
        self.strict = strict
        self.max_objects = max_objects
        self.load_failures = list(load_failures)
        self.default_type = default_type
        # Parsing is pure and the same SecretProviderClass is mounted by many pods and on every
        # rotation, so results are kept by the parameters they depend on (no secrets involved).
        self._parsed: ExpiringCache[tuple[str, str, str], ParsedObjects] = ExpiringCache(max_entries=256)

    def parse(self, parameters: Mapping[str, str]) -> ParsedObjects:
        """Static parsing and validation, no I/O (also what ``secrets-gateway validate`` runs).

        The result is shared between callers: treat it as read-only.
        """
        key = tuple(parameters.get(name, "") for name in PARSE_PARAMETERS)
        parsed = self._parsed.get(key)  # type: ignore[arg-type]
        if parsed is None:
            parsed = parse_objects(
                parameters, self.registry, strict=self.strict, max_objects=self.max_objects, default_type=self.default_type
            )
            if not parsed.problems and sum(map(len, key)) <= MAX_CACHED_TEXT:  # bounded by size, not only count
                self._parsed.put(key, parsed, math.inf)  # type: ignore[arg-type]
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
    """ASCP's location-dependent rules: ARN regions and failover objects."""
    problems = []
    for obj in objects:
        where = locations.get(obj.backend)
        if not where:
            continue
        backend = registry.get(obj.backend)
        if obj.failover_ref is not None and len(where) < 2:
            problems.append(f"{obj.label}: failover object allowed only when failover region is defined: {obj.ref.name}")
        if backend is None or not backend.arn_services:
            continue
        for ref, location in ((obj.ref, where[0]), (obj.failover_ref, where[1] if len(where) > 1 else None)):
            arn = parse_arn(ref.name) if ref is not None else None
            if arn is not None and location is not None and arn.region != location:
                problems.append(f"{obj.label}: ARN region must match region {preview(location)}: {preview(ref.name)}")  # type: ignore[union-attr]
    return problems


def summarize(problems: Sequence[str]) -> str:
    """All problems in one message (the first few, and how many more)."""
    shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
    hidden = len(problems) - MAX_PROBLEMS_SHOWN
    if hidden > 0:
        shown += f"; and {hidden} more problem{'s' if hidden > 1 else ''} (run `secrets-gateway validate` to list all)"
    return shown
