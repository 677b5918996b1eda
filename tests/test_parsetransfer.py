"""A large class parsed whole in a worker process comes back exactly as the serving process would parse it."""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterator, Sequence
from dataclasses import fields

import pytest

from gateway import parsetransfer
from gateway.backend import Backend, BackendRegistry
from gateway.budget import Budgets
from gateway.cache import CacheSettings, wrap_backends
from gateway.dialect import Dialect, DialectRegistry
from gateway.metrics import Metrics
from gateway.model import FetchBatch, FetchOutcome, ObjectSpec
from gateway.objects import ParsedObjects
from gateway.planner import Planner
from gateway.workers import WorkerPool
from gateway.yamlflavour import FLAVOURS, GO_YAML_V2, GO_YAML_V3, YamlFlavour
from tests.support import ScriptedBackend, registry_of


class Plain(Backend):
    """A backend that claims no names, reads options of its own and checks versions."""

    name = "plain"
    object_options = frozenset({"region", "tags"})
    structured_options = frozenset({"tags"})
    location_noun = "region"

    def check_object(self, obj: ObjectSpec) -> list[str]:
        return [f"plain objects take no version label: {obj.ref.name}"] if obj.ref.version_label else []

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        raise NotImplementedError


class Patterned(Plain):
    """A backend that claims names by a pattern (data a worker has), not by code."""

    name = "patterned"
    claimed_names = re.compile(r"pat:")


class GoV2(Dialect):
    name = "go-v2"
    yaml = GO_YAML_V2


class GoV3(Dialect):
    name = "go-v3"
    yaml = GO_YAML_V3


class PluginFlavour(Dialect):
    name = "plugin-flavour"
    yaml = YamlFlavour("plugin-yaml", GO_YAML_V2.load, GO_YAML_V2.text, GO_YAML_V2.data)


def direct(count: int = 300) -> str:
    """Plain objects with field-path jmesPath entries: more files than one part of a reply holds."""
    lines = []
    for n in range(count):
        lines.append(f"- objectName: o{n}\n  objectType: plain\n  objectAlias: a{n}\n  jmesPath:\n")
        lines += [f"    - {{path: username, objectAlias: a{n}-{e}}}\n" for e in range(3)]
    return "".join(lines)


MIXED = """\
- {objectName: x/one, objectType: plain, region: eu, tags: {team: a, k: [1, 2]}, filePermission: "0600"}
- {objectName: two, objectType: plain, objectVersion: "7", objectAlias: two, failoverObject: {objectName: two-b, objectVersion: "7"}}
- {objectName: three, objectType: plain, expandKeys: "true", expandKeysSeparator: "-", encoding: base64}
- {objectName: four, objectType: plain, expandKeys: directory}
- {objectName: five, objectType: plain, jmesPath: [{path: "a.b", objectAlias: f1, encoding: hex}, {path: "length(@)", objectAlias: f2}]}
"""

PROBLEMS = """\
- {objectName: one, objectType: plain, objectVersionLabel: l1}
- {objectName: two, objectType: nope}
- {objectName: three, objectType: plain, filePermission: rw, jmesPath: [{path: "", objectAlias: x}, {path: "[", objectAlias: y}]}
- {objectName: four, objectType: plain, objectVersionLabel: l4, colour: blue}
- {objectName: four, objectType: plain}
- objectType: plain
- {objectName: six, objectType: plain, objectAlias: one}
- {objectName: seven, objectType: plain, objectVersionLabel: l7}
- {objectName: eight, objectType: plain, tags: {"1": a, 2: b}, region: [x]}
"""

COLLISIONS = """\
- {objectName: a/b, objectType: plain}
- {objectName: a_b, objectType: plain, colour: blue}
- {objectName: c, objectType: plain, objectVersionLabel: l}
"""

CLASSES = [
    pytest.param(direct(), {}, id="direct-many-parts"),
    pytest.param(MIXED, {}, id="options-failover-expand-encodings"),
    pytest.param(MIXED, {"pathTranslation": "False", "failoverMode": "all"}, id="translation-off"),
    pytest.param(PROBLEMS, {}, id="problems-and-backend-checks"),
    pytest.param(PROBLEMS, {"strict": "yes"}, id="problems-strict"),
    pytest.param(COLLISIONS, {}, id="path-collision-with-backend-check"),
    pytest.param("- {objectName: store:x}\n- {objectName: y, objectType: plain}\n", {}, id="routed-by-claims"),
    pytest.param("- {objectName: pat:x}\n- {objectName: y, objectType: plain}\n- {objectName: none}\n", {}, id="routed-by-pattern"),
    pytest.param("- {objectName: x}\n", {"defaultObjectType": "plain"}, id="default-type"),
    pytest.param("objectName: x\n", {}, id="not-a-list"),
    pytest.param("- [a\n", {}, id="not-yaml"),
    pytest.param("# nothing\n", {}, id="empty"),
    pytest.param(direct(20), {"max-objects": "10"}, id="too-many-objects"),
]


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    workers = WorkerPool(size=1)
    yield workers
    workers.close()


def planner(pool: WorkerPool, **options: object) -> Planner:
    dialects = DialectRegistry()
    for dialect in (GoV2(), GoV3(), PluginFlavour()):
        dialects.add(dialect)
    registry = options.pop("registry", None) or registry_with_claims()
    return Planner(registry, dialects=dialects, workers=pool, **options)  # type: ignore[arg-type]


def registry_with_claims() -> BackendRegistry:
    return registry_of(Plain(), Patterned(), ScriptedBackend(name="store", claimed_prefix="store:", default_location=""))


def as_fields(parsed: ParsedObjects) -> dict[str, object]:
    return {f.name: getattr(parsed, f.name) for f in fields(parsed)}


@pytest.mark.parametrize("dialect", ["secrets-gateway", "go-v2", "go-v3"])
@pytest.mark.parametrize(("objects", "parameters"), CLASSES)
def test_a_class_parsed_in_a_worker_is_the_one_parsed_here(
    pool: WorkerPool, monkeypatch: pytest.MonkeyPatch, objects: str, parameters: dict[str, str], dialect: str
) -> None:
    parameters = dict(parameters)
    options: dict[str, object] = {"strict": bool(parameters.pop("strict", "")), "max_objects": int(parameters.pop("max-objects", 0)) or None}
    if "store:" not in objects:
        options["registry"] = registry_of(Plain(), Patterned())
    class_parameters = {"objects": objects, "dialect": dialect, **parameters}
    replies = []
    received = parsetransfer.received
    monkeypatch.setattr(parsetransfer, "received", lambda reply, registry: replies.append(reply) or received(reply, registry))
    here = planner(pool, **options).parse(class_parameters)
    there = planner(pool, **options).parse(class_parameters, in_worker=True)
    assert as_fields(there) == as_fields(here)
    routed_by_claims = "store:" in objects
    assert len(replies) == (0 if routed_by_claims else 1)  # a class that needs backend code comes back as its document


@pytest.mark.parametrize(
    ("backend", "in_worker"),
    [
        pytest.param(Patterned(), True, id="pattern-routes-in-the-worker"),
        pytest.param(ScriptedBackend(name="store", claimed_prefix="pat:", default_location=""), False, id="code-routes-here"),
    ],
)
def test_the_cache_in_front_of_a_backend_keeps_its_routing(
    pool: WorkerPool, monkeypatch: pytest.MonkeyPatch, backend: Backend, in_worker: bool
) -> None:
    registry = registry_of(Plain(), backend)
    wrap_backends(registry, CacheSettings(ttl=60), Metrics(), call_timeout=10)
    replies = []
    received = parsetransfer.received
    monkeypatch.setattr(parsetransfer, "received", lambda reply, registry: replies.append(reply) or received(reply, registry))
    parsed = planner(pool, registry=registry).parse({"objects": "- {objectName: pat:x}\n- {objectName: y, objectType: plain}\n"}, in_worker=True)
    assert parsed.problems == [] and [o.backend for o in parsed.objects] == [backend.name, "plain"]
    assert len(replies) == (1 if in_worker else 0)


def test_a_class_in_a_plugins_yaml_flavour_is_parsed_here(pool: WorkerPool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parsetransfer, "parse_job", _not_called)
    parsed = planner(pool).parse({"objects": direct(3), "dialect": "plugin-flavour"}, in_worker=True)
    assert parsed.problems == [] and len(parsed.checked_names) == 12


def _not_called(encoded: bytes) -> None:
    raise AssertionError("a plugin's flavour cannot be loaded in a worker")


def test_a_parse_over_its_time_is_refused_with_the_limit(pool: WorkerPool) -> None:
    parsed = planner(pool, budgets=Budgets(max_parse_seconds=0.001)).parse({"objects": direct(3000)}, in_worker=True)
    assert parsed.over_limit and parsed.problems == [
        'Failed to load SecretProviderClass: parameter "objects": parsing the YAML took longer than 0.001s (--max-parse-seconds)'
    ]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("- {objectName: a, jmesPath: [{path: p, objectAlias: x}]}\n- b\n- 0600\n", id="list"),
        pytest.param("- &a {objectName: a}\n- *a\n", id="shared-entry"),
        pytest.param("objectName: a\n", id="mapping"),
        pytest.param("", id="empty"),
    ],
)
def test_a_document_sent_back_for_a_parse_here_is_unchanged(text: str) -> None:
    for flavour in FLAVOURS.values():
        document = flavour.load(text)
        sent = pickle.loads(pickle.dumps(parsetransfer.Document.of(document)))
        assert sent.document() == document and sent.in_parts == isinstance(document, list)


async def test_a_large_class_is_parsed_in_its_tenants_share_of_the_workers(pool: WorkerPool, monkeypatch: pytest.MonkeyPatch) -> None:
    tenants = []
    call = pool.call
    monkeypatch.setattr(pool, "call", lambda *args, **options: tenants.append(options.get("tenant")) or call(*args, **options))
    parsed = await planner(pool, registry=registry_of(Plain())).parse_off_loop({"objects": direct()}, "team-a")
    assert parsed.problems == [] and tenants == ["team-a"]
