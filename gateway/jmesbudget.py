"""JMESPath evaluation within a budget of work and result size.

A short expression can make exponential data: ``[@,@]`` doubles its input while sharing it, so
``to_string([@,@]|[@,@]|…)`` at depth 30 asks ``json.dumps`` for gigabytes. The interpreter here
measures every intermediate value by its *expanded* size (about the bytes of its JSON form; a
list's or object's size is memoised by identity, so a shared one is measured once but counted as
often as it is repeated), refuses any value larger than ``max_result`` and charges each evaluation
step for what it visits and makes; over ``max_work`` it stops. Either way before a function such
as ``to_string`` or ``sort`` receives an oversized input.

A plain field path (``a.b``) is followed directly, in a step per name. An :class:`Allowance` shared by one
mount's evaluations bounds what they may do in this process; past it, :class:`AllowanceSpent` tells the caller
to run the evaluation where it can be stopped (:mod:`gateway.middleware.extract`).

Memory is bounded by the same budget: the memo keeps the containers it measured alive (so an id
stays unique during the evaluation), and each was charged at least its expanded size when first
measured, so what one evaluation holds is at most ``max_work`` units of values. Strings and
scalars are measured in constant time and never memoised. The memo is dropped when the evaluation
ends, and a refusal is raised afresh, so no traceback keeps the interpreter (or the secret's data)
alive after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jmespath.visitor import TreeInterpreter

from gateway.limits import JmesLimits as JmesLimits  # defined apart: the settings need it, not jmespath

SCALAR_UNITS = 8  # a number, boolean or null, as the bytes of JSON it stands for (about)


class JmesBudgetExceeded(Exception):
    """The evaluation went over a limit; ``str()`` says which, never anything of the data."""


class AllowanceSpent(Exception):
    """The evaluation needs more work than this process still allows: run it where it can be stopped."""


@dataclass
class Allowance:
    """Work that evaluations may still do in this process (one mount's, shared by all its evaluations)."""

    remaining: int


class BudgetedInterpreter(TreeInterpreter):
    """A :class:`~jmespath.visitor.TreeInterpreter` that accounts for every step (one evaluation per instance)."""

    def __init__(self, limits: JmesLimits, allowance: Allowance | None = None) -> None:
        super().__init__()
        self.limits = limits
        self.allowance = allowance
        self.work = 0
        self._sizes: dict[int, tuple[Any, int]] = {}  # id of a list/dict → (it, kept alive so the id stays unique; size)

    def visit(self, node: Any, *args: Any, **kwargs: Any) -> Any:  # node: jmespath's parsed tree node
        self.charge(1)
        result = super().visit(node, *args, **kwargs)
        if id(result) not in self._sizes:
            self.charge(self.size(result))
        return result

    def release(self) -> None:
        """Drop the memo (and the values it keeps alive)."""
        self._sizes.clear()

    def visit_function_expression(self, node: Any, value: Any) -> Any:
        arguments = [self.visit(child, value) for child in node["children"]]
        self.charge(sum(self.size(argument) for argument in arguments))  # functions walk their inputs
        return self._functions.call_function(node["value"], arguments)  # type: ignore[attr-defined]  # set by TreeInterpreter, not in its stubs

    def visit_comparator(self, node: Any, value: Any) -> Any:
        left, right = (self.visit(child, value) for child in node["children"])
        self.charge(min(self.size(left), self.size(right)))
        # the library's semantics, on operands already evaluated (literals are visited for free)
        settled: Any = {**node, "children": [{"type": "literal", "value": left}, {"type": "literal", "value": right}]}
        return super().visit_comparator(settled, value)

    def charge(self, units: int) -> None:
        self.work += units
        if self.work > self.limits.max_work:
            raise JmesBudgetExceeded(f"evaluation needs more than {self.limits.max_work} units of work (--max-jmespath-work)")
        if self.allowance is not None and self.work > self.allowance.remaining:
            raise AllowanceSpent(f"more than the {self.allowance.remaining} units of work allowed in this process")

    def size(self, value: Any) -> int:
        """Expanded size of ``value`` (≈ bytes of its JSON form), memoised for containers; raises over ``max_result``."""
        if not isinstance(value, (dict, list)):
            return self._checked(_scalar_size(value))
        known = self._sizes.get(id(value))
        if known is not None:
            return known[1]
        stack: list[tuple[Any, bool]] = [(value, False)]
        while stack:
            item, children_done = stack.pop()
            if id(item) in self._sizes:
                continue
            children = _children(item)
            if not children_done:
                stack.append((item, True))
                stack.extend((child, False) for child in children if _is_container(child) and id(child) not in self._sizes)
                continue
            total = 2 + sum(self._known_size(child) + 1 for child in children)
            self._sizes[id(item)] = (item, self._checked(total))
        return self._sizes[id(value)][1]

    def _known_size(self, value: Any) -> int:
        return self._sizes[id(value)][1] if _is_container(value) else _scalar_size(value)

    def _checked(self, size: int) -> int:
        if size > self.limits.max_result:
            raise JmesBudgetExceeded(f"an intermediate result is larger than {self.limits.max_result} bytes (the per-value limit)")
        return size


def search(parsed: Any, document: Any, limits: JmesLimits, allowance: Allowance | None = None) -> Any:
    """Evaluate a compiled expression (``jmespath.compile``) on ``document`` within ``limits``.

    A plain field path (``a.b."c-d"``) is followed directly: it makes nothing and takes as many steps as it
    has names. Any other expression is interpreted and charged, and also against ``allowance`` when one is
    given (:class:`AllowanceSpent` past it, with the work it did deducted either way).
    """
    names = field_names(parsed.parsed)
    if names is not None:
        return follow(document, names)
    interpreter = BudgetedInterpreter(limits, allowance)
    try:
        return interpreter.visit(parsed.parsed, document)
    except (JmesBudgetExceeded, AllowanceSpent) as exc:
        refusal = type(exc)(str(exc))
    finally:
        interpreter.release()
        if allowance is not None:
            allowance.remaining = max(0, allowance.remaining - interpreter.work)
    raise refusal  # raised here, not in the handler: no traceback into the evaluation's frames


def field_names(node: Any) -> tuple[str, ...] | None:
    """The names of a plain field path's parsed tree (``a.b`` → ``("a", "b")``), else None."""
    if node["type"] == "field":
        return (node["value"],)
    if node["type"] != "subexpression":
        return None
    names: tuple[str, ...] = ()
    for child in node["children"]:  # two or more: ``a.b.c`` is one subexpression of three fields
        found = field_names(child)
        if found is None:
            return None
        names += found
    return names


def follow(document: Any, names: tuple[str, ...]) -> Any:
    """JMESPath's meaning of a field path: each name looked up in an object, null anywhere else."""
    value = document
    for name in names:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def _is_container(value: Any) -> bool:
    return isinstance(value, (dict, list))


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [part for pair in value.items() for part in pair]
    return value  # type: ignore[no-any-return]  # a list


def _scalar_size(value: Any) -> int:
    return len(value) + 2 if isinstance(value, str) else SCALAR_UNITS
