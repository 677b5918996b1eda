"""The cost of a YAML document, measured on its composed node graph before anything is constructed.

Aliases and merge keys (``<<``) let a few hundred bytes stand for billions of nodes (billion laughs,
the ``mN: &aN {<<: [*aN-1, *aN-1]}`` chain). The composed graph shares an aliased node instead of
copying it, so its expanded size — what construction, ``json.dumps`` or a later walk would pay — is
computed here with memoisation in time linear in the *written* nodes, and the document is refused
before it costs more. Merge keys count as the mappings they pull in (an upper bound of the merge).
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})


@dataclass(frozen=True)
class YamlLimits:
    """What one YAML document may expand to; see docs/reliability.md."""

    max_nodes: int = 250_000  # after alias and merge-key expansion (--max-yaml-nodes)
    max_depth: int = 100  # after expansion: an alias chain nests without brackets
    max_chars: int = 16 * 1024 * 1024  # scalar characters after expansion (aliases repeat strings)
    max_number_chars: int = 64  # an int/float scalar longer than this is refused, not computed


DEFAULT_LIMITS = YamlLimits()


class YamlError(ValueError):
    """The text is not YAML; the message says where, never what."""


class YamlTooLarge(YamlError):
    """The document is over a :class:`YamlLimits` budget (a ResourceExhausted, not a malformed document)."""


def check_expansion(root: yaml.Node, limits: YamlLimits) -> None:
    """Raise :class:`YamlTooLarge` when the document rooted at ``root`` expands beyond ``limits``,
    :class:`YamlError` when an alias refers to a node containing it (a cycle)."""
    _Measure(limits).cost(root, 1)


class _Measure:
    """Expanded (nodes, depth, scalar characters) of each collection node, memoised by identity.

    The recursion follows the graph, so it is never deeper than the expanded depth, and it stops at the limit.
    """

    def __init__(self, limits: YamlLimits) -> None:
        self.limits = limits
        self.costs: dict[int, tuple[int, int, int]] = {}
        self.on_path: set[int] = set()

    def cost(self, node: yaml.Node, level: int) -> tuple[int, int, int]:
        limits = self.limits
        if level > limits.max_depth:
            raise YamlTooLarge(f"the YAML {_too_deep(limits)}{_where(node)}")
        if node.__class__ is yaml.ScalarNode:
            if node.tag in NUMBER_TAGS and len(node.value) > limits.max_number_chars:
                raise YamlTooLarge(
                    f"the YAML holds a number of {len(node.value)} characters, above the limit of "
                    f"{limits.max_number_chars} (quote it to keep it a string){_where(node)}"
                )
            return 1, 1, len(node.value)
        key = id(node)
        known = self.costs.get(key)
        if known is not None:
            if level - 1 + known[1] > limits.max_depth:  # an alias of a deep node, placed deep
                raise YamlTooLarge(f"the YAML {_too_deep(limits)}{_where(node)}")
            return known
        if key in self.on_path:
            raise YamlError(f"an alias refers to a node containing it{_where(node)}")
        self.on_path.add(key)
        nodes, depth, chars = 1, 0, 0
        children = node.value if node.__class__ is yaml.SequenceNode else [part for pair in node.value for part in pair]
        for child in children:
            child_nodes, child_depth, child_chars = self.cost(child, level + 1)
            nodes += child_nodes
            chars += child_chars
            if child_depth > depth:
                depth = child_depth
        self.on_path.discard(key)
        if level + depth > limits.max_depth:
            raise YamlTooLarge(f"the YAML {_too_deep(limits)}{_where(node)}")
        if nodes > limits.max_nodes:
            raise YamlTooLarge(f"the YAML expands to more than {limits.max_nodes} nodes after aliases and merge keys (--max-yaml-nodes){_where(node)}")
        if chars > limits.max_chars:
            raise YamlTooLarge(f"the YAML expands to more than {limits.max_chars} characters of scalars after aliases (the limit){_where(node)}")
        cost = self.costs[key] = (nodes, depth + 1, chars)
        return cost


def _too_deep(limits: YamlLimits) -> str:
    return f"nests deeper than {limits.max_depth} levels after aliases and merge keys (the depth limit)"


def _where(node: yaml.Node) -> str:
    mark = node.start_mark
    return f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
