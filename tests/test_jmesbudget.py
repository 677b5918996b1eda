"""The JMESPath budget: same answers as the library within budget, refusals over it."""

from __future__ import annotations

import jmespath
import pytest

from gateway.jmesbudget import JmesBudgetExceeded, JmesLimits, search

DOCUMENT = {"username": "admin", "list": [{"a": 1, "t": "x"}, {"a": 2, "t": "y"}], "s": "text"}
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
        )
    ],
)
def test_within_budget_answers_like_the_library(expression: str) -> None:
    assert search(jmespath.compile(expression), DOCUMENT, JmesLimits()) == jmespath.search(expression, DOCUMENT)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        pytest.param("to_string(" + "|".join(["[@,@]"] * 30) + ")", "larger than 400 bytes", id="doubling"),
        pytest.param(" | ".join(["join('', [@, @])"] * 12), "larger than 400 bytes", id="string-doubling"),
        pytest.param("[" + ",".join(["length(to_string(@))"] * 40) + "]", "more than 2000 units of work", id="work"),
        pytest.param("[" + ",".join(["@ == @"] * 400) + "]", "more than 2000 units of work", id="comparisons"),
    ],
)
def test_over_budget_is_refused(expression: str, fragment: str) -> None:
    with pytest.raises(JmesBudgetExceeded, match=fragment):
        search(jmespath.compile(expression), DOCUMENT if "join" not in expression else "seed", SMALL)
