"""Planning: from a parsed request to a :class:`~gateway.model.MountPlan`, before any fetch.

Chooses the class's dialect, parses the objects (see :mod:`gateway.objects`), asks each
backend in use for its ordered locations, and runs the checks that need them (a failover
object needs a failover location; each backend's :meth:`~gateway.backend.Backend.check_object_locations`).
Every problem found is reported at once.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import re
from collections.abc import Mapping, Sequence
from typing import Any

from gateway import parsetransfer, yaml11
from gateway.backend import Backend, BackendRegistry
from gateway.budget import DEFAULT_BUDGETS, Budgets, check_failover_locations, oversized_parameters
from gateway.dialect import DIALECT_PARAMETER, Dialect, DialectRegistry
from gateway.errors import GatewayError, InvalidArgument, ResourceExhausted, Unavailable
from gateway.layout import ObjectLayout
from gateway.model import MountPlan, MountRequest, ObjectSpec
from gateway.objects import Loader, ParsedObjects, load_in_process, parse_objects
from gateway.parsecache import ParseCache
from gateway.plugins import LoadFailure
from gateway.workers import WorkerCrashed, WorkerPool, WorkerTimeout, WorkerUnavailable
from gateway.yamlbudget import YamlLimits
from gateway.yamlflavour import YamlFlavour

log = logging.getLogger("gateway.planner")

MAX_PROBLEMS_SHOWN = 5
OBJECT_LABEL = re.compile(r'objects\[\d+\](?: "(?:[^"\\\\]|\\\\.)*")?')
#: the parameters :func:`~gateway.objects.parse_objects` reads — with the dialect's, the key of the parse cache
PARSE_PARAMETERS = ("objects", "pathTranslation", "failoverMode", "defaultObjectType", DIALECT_PARAMETER)
#: a larger ``objects`` text is parsed off the event loop: its YAML in a worker process, the rest in a thread
OFF_LOOP_TEXT_BYTES = 8 * 1024
PARSE_WORKERS = 2
#: location checks kept per parsed class: one per region pair it is mounted with
MAX_LOCATION_SETS_KEPT = 8


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
        budgets: Budgets = DEFAULT_BUDGETS,
        workers: WorkerPool | None = None,
    ) -> None:
        self.registry = registry
        self.budgets = budgets
        self.dialects = dialects or DialectRegistry()
        self.provider_name = provider_name
        self.strict = strict
        self.max_objects = max_objects
        self.load_failures = list(load_failures)
        self.default_type = default_type
        # Parsing is pure and the same SecretProviderClass is mounted by many pods and on every
        # rotation, so results are kept by the parameters they depend on (no secrets involved).
        self._parsed: ParseCache[ParsedObjects] = ParseCache()
        self._workers = workers or WorkerPool(PARSE_WORKERS)  # shared with the value stages (gateway.app)

    def start_workers(self, *, wait: bool = False) -> None:
        """Start the parse workers now, in the background unless ``wait``; otherwise each starts when a large text first needs it.

``serve`` does not: idle, a server has no worker processes (they cost memory and, at start, CPU).
"""
        self._workers.prestart(wait=wait)

    def close(self) -> None:
        """Stop the parse workers."""
        self._workers.close()

    def parse(self, parameters: Mapping[str, str], *, in_worker: bool = False, tenant: str | None = None) -> ParsedObjects:
        """Static parsing and validation, no I/O (also what ``secrets-gateway validate`` runs); ``in_worker``:
        in a worker process (:mod:`gateway.parsetransfer`), from a thread, within ``tenant``'s share of the workers.

        The result is shared between callers: treat it as read-only.
        """
        oversized = oversized_parameters(parameters, self.budgets.max_parameter_bytes)
        if oversized:
            return ParsedObjects(problems=oversized, over_limit=True)
        try:
            dialect = self.dialects.choose(parameters, self.provider_name)
        except ValueError as exc:
            return ParsedObjects(problems=[str(exc)])
        names = (*PARSE_PARAMETERS, *sorted(dialect.parameters))
        texts = [dialect.name, *(parameters.get(name, "") for name in names)]
        key = ParseCache.key(texts)
        parsed = self._parsed.get(key)
        if parsed is None:
            if in_worker:
                parsed = self._parse_in_worker({name: parameters[name] for name in names if name in parameters}, dialect, tenant)
            else:
                parsed = self._parse_here(parameters, dialect)
            if not parsed.problems:
                if parsed.layout is None:  # with the parse: off the event loop when the text is large (a step per file)
                    parsed.layout = ObjectLayout.of(parsed.objects, parsed.translation, parsed.checked_names)
                self._parsed.put(key, parsed, parsed.kept_bytes(sum(map(len, texts))))
        return parsed

    async def parse_off_loop(self, parameters: Mapping[str, str], tenant: str | None = None) -> ParsedObjects:
        """:meth:`parse` for a mount: a large ``objects`` text never holds the event loop (design principle 9); one
        ``tenant`` (a pod namespace) parses in at most all workers but one, like its heavy jmesPath evaluations."""
        if len(parameters.get("objects", "")) <= OFF_LOOP_TEXT_BYTES:
            return self.parse(parameters)
        return await asyncio.to_thread(self.parse, parameters, in_worker=True, tenant=tenant)

    def _parse_here(self, parameters: Mapping[str, str], dialect: Dialect, load: Loader = load_in_process) -> ParsedObjects:
        return parse_objects(
            parameters,
            self.registry,
            dialect=dialect,
            strict=self.strict,
            max_objects=self.max_objects,
            default_type=self.default_type,
            yaml_limits=self.budgets.yaml,
            load=load,
        )

    def _parse_in_worker(self, parameters: Mapping[str, str], dialect: Dialect, tenant: str | None) -> ParsedObjects:
        """The parse in a worker process, within ``--max-parse-seconds``; in this thread for a dialect a worker cannot
        have (a plugin's YAML flavour) or when no worker starts."""
        if not parsetransfer.transferable(dialect):
            return self._parse_here(parameters, dialect)
        seconds = self.budgets.max_parse_seconds
        job = parsetransfer.ParseJob(
            parameters, parsetransfer.Routing.of(self.registry), dialect, self.strict, self.max_objects, self.default_type, self.budgets.yaml
        )
        try:
            reply = self._workers.call(parsetransfer.parse_job, pickle.dumps(job, pickle.HIGHEST_PROTOCOL), timeout=seconds, tenant=tenant)
        except WorkerTimeout:
            return self._parse_here(parameters, dialect, _refusing(f"parsing the YAML took longer than {seconds:g}s (--max-parse-seconds)"))
        except (WorkerCrashed, MemoryError):
            return self._parse_here(parameters, dialect, _refusing("parsing the YAML ran out of memory"))
        except (WorkerUnavailable, parsetransfer.JobNotLoadable) as exc:
            log.warning("parsing in this thread instead: %s", exc)
            return self._parse_here(parameters, dialect)
        if isinstance(reply, parsetransfer.Document):  # routing needs the backends' own code
            document = reply.document()
            return self._parse_here(parameters, dialect, lambda flavour, text, limits: document)
        return parsetransfer.received(reply, self.registry)

    async def plan(self, request: MountRequest) -> tuple[MountPlan, list[str]]:
        """The plan for ``request`` and the warnings found; raise one error for all problems."""
        parsed = await self.parse_off_loop(request.attributes, request.identity.namespace)
        if parsed.problems:
            raise self.problems_error(parsed)
        if not parsed.objects:
            raise InvalidArgument('no objects to mount: the SecretProviderClass parameter "objects" is missing or empty')
        backend_names = sorted({obj.backend for obj in parsed.objects})
        backends = [self.registry.get(name) for name in backend_names]
        if len(backends) == 1:  # the common case: no task to schedule and wake
            found = [await backends[0].locations(request)]  # type: ignore[union-attr]
        else:
            found = await asyncio.gather(*(backend.locations(request) for backend in backends))  # type: ignore[union-attr]
        for backend in backends:
            backend.check_request(request)  # type: ignore[union-attr]
        unknown = unknown_parameter_messages(backends, request.attributes)  # type: ignore[arg-type]
        if unknown and self.strict:
            raise InvalidArgument(summarize([f"{message} (strict mode)" for message in unknown]))
        locations = dict(zip(backend_names, found, strict=True))
        for name, where in locations.items():
            check_failover_locations(name, where, self.budgets.max_failover_locations)
        problems = self._location_problems(parsed, locations)
        if problems:
            raise InvalidArgument(summarize(problems))
        plan = MountPlan(
            request=request,
            objects=tuple(parsed.objects),
            locations=locations,
            translation=parsed.translation,
            failover_mode=parsed.failover_mode,
            dialect=parsed.dialect,
            checked_names=parsed.checked_names,
            layout=parsed.layout,
        )
        return plan, [*parsed.warnings, *(f"{message} ignored" for message in unknown)]

    def _location_problems(self, parsed: ParsedObjects, locations: Mapping[str, tuple[str, ...]]) -> list[str]:
        """:func:`check_locations`, computed once per parsed class and set of locations (it is pure)."""
        key = tuple(sorted(locations.items()))
        problems = parsed.location_problems.get(key)
        if problems is None:
            problems = check_locations(parsed.objects, locations, self.registry)
            if len(parsed.location_problems) < MAX_LOCATION_SETS_KEPT:
                parsed.location_problems[key] = problems
        return problems

    def problems_error(self, parsed: ParsedObjects) -> GatewayError:
        message = summarize(parsed.problems)
        if parsed.over_limit:
            return ResourceExhausted(message)
        if parsed.unloaded_types and self.load_failures:
            failed = "; ".join(failure.describe() for failure in self.load_failures)
            return Unavailable(f"{message}; these object types may belong to a plugin that failed to load: {failed}")
        return InvalidArgument(message)


def _refusing(reason: str) -> Loader:
    """A loader that refuses the text with ``reason`` (what the worker found), as :class:`~gateway.yaml11.YamlTooLarge`."""

    def load(flavour: YamlFlavour, text: str, limits: YamlLimits) -> Any:
        raise yaml11.YamlTooLarge(reason)

    return load


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


def unknown_parameter_messages(backends: Sequence[Backend], parameters: Mapping[str, str]) -> list[str]:
    """One message per backend naming the class parameters meant for it that it does not read."""
    messages = []
    for backend in backends:
        found = backend.unknown_parameters(parameters)
        if found:
            messages.append(f"{backend.name}: unknown SecretProviderClass parameter{'s' if len(found) > 1 else ''} {', '.join(found)}")
    return messages


def summarize(problems: Sequence[str]) -> str:
    """All problems in one message: the first few in full, then where every other one is (compactly)."""
    shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
    hidden = problems[MAX_PROBLEMS_SHOWN:]
    if hidden:
        where = ", ".join(dict.fromkeys(_subject(problem) for problem in hidden))
        shown += f"; and {len(hidden)} more problem{'s' if len(hidden) > 1 else ''} in {where} (run `secrets-gateway validate` to list all)"
    return shown


def _subject(problem: str) -> str:
    """What a problem is about: its object's label (``objects[2] "prod/db"``), else the problem itself."""
    match = OBJECT_LABEL.match(problem)
    return match.group(0) if match else problem
