"""Where jmesPath runs: field paths and light expressions in process, heavy ones in a worker process that is
stopped at the deadline; the answers and refusals are the same either way."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from gateway.budget import Budgets
from gateway.errors import ResourceExhausted
from gateway.jmesbudget import JmesLimits
from gateway.layout import layout_of
from gateway.middleware.base import Piece
from gateway.middleware.extract import IN_PROCESS_WORK, ExtractStage, is_field_path
from gateway.workers import WorkerPool
from tests.support import ScriptedBackend, plan_for, registry_of

REGISTRY = registry_of(ScriptedBackend(name="fake"))
BIG = json.dumps({"user": "admin", "items": [f"item-{n:05d}" for n in range(18_000)]}).encode()  # 252 KB
#: serialises the 252 KB value 12 times: over the in-process allowance, within the full budget
HEAVY = "join(',', [" + ",".join(["to_string(length(to_string(@)))"] * 12) + "])"


class CountingPool(WorkerPool):
    """The real pool, counting the calls that went to a worker process."""

    calls = 0

    def call(self, function: Callable[..., Any], *args: Any, timeout: float, tenant: str | None = None) -> Any:
        self.calls += 1
        return super().call(function, *args, timeout=timeout, tenant=tenant)


@pytest.fixture(scope="module")
def workers() -> Iterator[CountingPool]:
    pool = CountingPool(size=1)
    yield pool
    pool.close()


def extract(path: str, stage: ExtractStage, value: bytes = BIG) -> list[tuple[str, bytes]]:
    plan = plan_for(f"- objectName: s\n  objectType: fake\n  jmesPath:\n    - {{path: {json.dumps(path)}, objectAlias: out}}\n", REGISTRY)
    obj = plan.objects[0]
    pieces = stage([Piece(obj, obj.file_name, value, "v1", "here", obj.file_permission)], plan)
    assert all(piece.obj is obj for piece in pieces)  # the plan's own object, also for what a worker derived
    return [(piece.name, piece.value) for piece in pieces[1:]]


@pytest.mark.parametrize(
    ("path", "plain"),
    [
        pytest.param("user", True, id="field"),
        pytest.param('a.b."c-d"', True, id="subexpression-of-fields"),
        pytest.param("items[0]", False, id="index"),
        pytest.param("to_string(@)", False, id="function"),
        pytest.param("a.b | c", False, id="pipe"),
        pytest.param("[a, b]", False, id="multiselect"),
    ],
)
def test_only_plain_field_paths_are_exempt(path: str, plain: bool) -> None:
    assert is_field_path(path) is plain
    plan = plan_for(f"- objectName: s\n  objectType: fake\n  jmesPath:\n    - {{path: {json.dumps(path)}, objectAlias: out}}\n", REGISTRY)
    assert layout_of(plan).evaluates is not plain


@pytest.mark.parametrize(
    ("path", "worker_calls"),
    [pytest.param("user", 0, id="field-path"), pytest.param("items[1]", 0, id="light"), pytest.param(HEAVY, 1, id="heavy")],
)
def test_heavy_evaluations_go_to_a_worker_with_the_same_answers(path: str, worker_calls: int, workers: CountingPool) -> None:
    before = workers.calls
    assert extract(path, ExtractStage(workers=workers)) == extract(path, ExtractStage())
    assert workers.calls - before == worker_calls
    assert IN_PROCESS_WORK < 12 * len(BIG) < Budgets().jmes.max_work  # what makes HEAVY heavy, yet within budget


def test_a_heavy_evaluation_is_stopped_at_the_deadline(workers: CountingPool) -> None:
    """Within every work budget but over the deadline: only a worker process can be stopped."""
    unbounded = JmesLimits(max_work=2**60, max_result=2**60)
    budgets = replace(Budgets(), max_parse_seconds=0.05, max_value_bytes=2**40, jmes=unbounded)
    slow = "[" + ",".join(["length(to_string([@,@,@,@,@,@,@,@]|[@,@,@,@,@,@,@,@]))"] * 12) + "]"
    with pytest.raises(ResourceExhausted, match=r'objects\[0\] "s": evaluating jmesPath took longer than 0.05s \(--max-parse-seconds\)'):
        extract(slow, ExtractStage(budgets, workers))
    assert extract("user", ExtractStage(budgets, workers)) == [("out", b"admin")]  # the replaced worker serves on


def test_a_refusal_over_budget_is_the_same_from_a_worker(workers: CountingPool) -> None:
    over = "[" + ",".join(["length(to_string(@))"] * 48) + "]"
    refusals = []
    for stage in (ExtractStage(workers=workers), ExtractStage()):
        with pytest.raises(ResourceExhausted) as refused:
            extract(over, stage)
        refusals.append(refused.value.message)
    assert refusals[0] == refusals[1]
    assert "more than 16777216 units of work (--max-jmespath-work)" in refusals[0]
