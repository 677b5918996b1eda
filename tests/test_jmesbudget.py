"""The JMESPath budget: same answers as the library within budget, refusals over it."""

from __future__ import annotations

import traceback

import jmespath
import pytest

from gateway.jmesbudget import Allowance, AllowanceSpent, JmesBudgetExceeded, JmesLimits, search

DOCUMENT = {"username": "admin", "list": [{"a": 1, "t": "x"}, {"a": 2, "t": "y"}], "s": "text", "db": {"primary": {"host-name": "h"}}}
SMALL = JmesLimits(max_work=2_000, max_result=400)


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param(expression, id=expression)
        for expression in (
            "username",
            "list[*].a",
            "list[?a == `2`].t | [0]",
            "sort_by(list, &a)[-1].t",
            "max_by(list, &a).t",
            "to_string(@)",
            "length(s) > `3`",
            "s < 'u'",
            "list[0] != list[1]",
            "{n: username, c: length(list)}",
            "[username, s][1]",
            "missing.field",
            '"username"',
            "list.a",
            "username.x",
            "s.length",
            'db.primary."host-name"',
            "db.primary.missing",
            'db.primary."host-name".x',
        )
    ],
)
def test_within_budget_answers_like_the_library(expression: str) -> None:
    assert search(jmespath.compile(expression), DOCUMENT, JmesLimits()) == jmespath.search(expression, DOCUMENT)


@pytest.mark.parametrize(
    ("expression", "limits", "fragment"),
    [
        pytest.param("to_string(" + "|".join(["[@,@]"] * 30) + ")", SMALL, "larger than 400 bytes", id="doubling"),
        pytest.param(
            " | ".join(["join('', [@, @])"] * 12), JmesLimits(max_work=20_000, max_result=400), "larger than 400 bytes",
            id="string-doubling",
        ),
        pytest.param("[" + ",".join(["length(to_string(@))"] * 40) + "]", SMALL, "more than 2000 units of work", id="work"),
        pytest.param("[" + ",".join(["@ == @"] * 400) + "]", SMALL, "more than 2000 units of work", id="comparisons"),
    ],
)
def test_over_budget_is_refused(expression: str, limits: JmesLimits, fragment: str) -> None:
    with pytest.raises(JmesBudgetExceeded, match=fragment):
        search(jmespath.compile(expression), DOCUMENT if "join" not in expression else "seed", limits)


def test_a_refusal_keeps_nothing_of_the_evaluation_alive() -> None:
    """No exception chain or traceback leads back into the evaluation (its frames hold the secret's data)."""
    with pytest.raises(JmesBudgetExceeded) as refused:
        search(jmespath.compile("[" + ",".join(["length(to_string(@))"] * 40) + "]"), DOCUMENT, SMALL)
    assert refused.value.__context__ is None
    assert "visit" not in [frame.f_code.co_name for frame, _ in traceback.walk_tb(refused.value.__traceback__)]


def test_an_allowance_is_shared_by_evaluations_and_spent_past_its_end() -> None:
    allowance = Allowance(remaining=1_000)
    expression = jmespath.compile("to_string(list)")
    assert search(expression, DOCUMENT, JmesLimits(), allowance) == jmespath.search("to_string(list)", DOCUMENT)
    spent_once = 1_000 - allowance.remaining
    assert spent_once > 0
    with pytest.raises(AllowanceSpent):
        for _ in range(1_000 // spent_once + 1):
            search(expression, DOCUMENT, JmesLimits(), allowance)
    assert search(jmespath.compile("username"), DOCUMENT, JmesLimits(), Allowance(remaining=0)) == "admin"  # a field path costs none
