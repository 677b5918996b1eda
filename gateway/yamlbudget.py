"""A YAML document built from its composed node graph within a budget, in one walk.

Aliases and merge keys (``<<``) let a few hundred bytes stand for billions of nodes (billion laughs,
the ``mN: &aN {<<: [*aN-1, *aN-1]}`` chain). The composed graph shares an aliased node instead of
copying it; :func:`construct` builds each written node once (an alias reuses what its anchor built)
while counting the document's *expanded* size — what a later walk, ``json.dumps`` or a copy would pay
— as it goes, and refuses the document the moment that count passes a limit. The work done is thus
bounded by the limit, never by the expansion. Merge keys count as the mappings they pull in.

Values are what the loader's constructors make of them (the PyYAML ``SafeConstructor`` rules,
merge keys included); plain strings, sequences and mappings with the standard constructors are built
here directly (PyYAML's generic constructor costs about twice as much), anything else — typed
scalars, ``!!set``, a loader's own constructors — by the loader, after its children were counted.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from gateway.limits import YamlLimits as YamlLimits  # defined apart: the settings need it, not yaml

NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})
STR_TAG = "tag:yaml.org,2002:str"
SEQ_TAG = "tag:yaml.org,2002:seq"
MAP_TAG = "tag:yaml.org,2002:map"
MERGE_TAG = "tag:yaml.org,2002:merge"
VALUE_TAG = "tag:yaml.org,2002:value"  # a mapping key "=": a plain string there (PyYAML's rule)
_STANDARD = {
    STR_TAG: SafeConstructor.construct_yaml_str,
    SEQ_TAG: SafeConstructor.construct_yaml_seq,
    MAP_TAG: SafeConstructor.construct_yaml_map,
}
_Scalar, _Sequence, _Mapping = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode

DEFAULT_LIMITS = YamlLimits()


class YamlError(ValueError):
    """The text is not YAML; the message says where, never what."""


class YamlTooLarge(YamlError):
    """The document is over a :class:`YamlLimits` budget (a ResourceExhausted, not a malformed document)."""


def construct(loader: Any, root: yaml.Node, limits: YamlLimits) -> Any:
    """The document rooted at ``root`` (composed by ``loader``, a SafeLoader subclass), built with the
    loader's constructors; :class:`YamlTooLarge` as soon as it expands beyond ``limits``,
    :class:`YamlError` when an alias refers to a node containing it (a cycle)."""
    return _Builder(loader, limits).build(root, 1)[1]


class _Builder:
    """One walk over the graph: each collection node built once and remembered (by identity) with its
    expanded (nodes, characters, depth); ``nodes``/``chars`` count the expansion of what was walked so far.

    The recursion follows the graph, so it is never deeper than the expanded depth, and it stops at the limit.
    """

    def __init__(self, loader: Any, limits: YamlLimits) -> None:
        self.loader = loader
        self.limits = limits
        constructors = loader.yaml_constructors
        self.constructors = constructors
        # what this walk builds itself: the standard tags whose constructor is PyYAML's own
        standard = {tag for tag, constructor in _STANDARD.items() if constructors.get(tag) is constructor}
        self.plain, self.sequences, self.mappings = STR_TAG in standard, SEQ_TAG in standard, MAP_TAG in standard
        self.nodes = 0
        self.chars = 0
        self.built: dict[int, tuple[int, int, int, Any]] = {}
        self.on_path: set[int] = set()

    # -- counting

    def count(self, nodes: int, chars: int, node: yaml.Node) -> None:
        self.nodes += nodes
        self.chars += chars
        limits = self.limits
        if self.nodes > limits.max_nodes:
            raise YamlTooLarge(
                f"the YAML expands to more than {limits.max_nodes} nodes after aliases and merge keys (--max-yaml-nodes){_where(node)}"
            )
        if self.chars > limits.max_chars:
            raise YamlTooLarge(f"the YAML expands to more than {limits.max_chars} characters of scalars after aliases (the limit){_where(node)}")

    def too_deep(self, node: yaml.Node) -> YamlTooLarge:
        depth = self.limits.max_depth
        return YamlTooLarge(f"the YAML nests deeper than {depth} levels after aliases and merge keys (the depth limit){_where(node)}")

    # -- building

    def build(self, node: yaml.Node, level: int) -> tuple[int, Any]:
        """``(expanded depth, value)`` of ``node``, found at depth ``level``."""
        if level > self.limits.max_depth:
            raise self.too_deep(node)
        if node.__class__ is _Scalar:
            self.enter(node)
            return 1, self.scalar(node)
        key = id(node)
        known = self.built.get(key)
        if known is not None:
            nodes, chars, depth, value = known
            if level - 1 + depth > self.limits.max_depth:  # an alias of a deep node, placed deep
                raise self.too_deep(node)
            self.count(nodes, chars, node)
            return depth, value
        if key in self.on_path:
            raise YamlError(f"an alias refers to a node containing it{_where(node)}")
        self.on_path.add(key)
        nodes, chars = self.nodes, self.chars
        self.count(1, 0, node)
        if node.__class__ is _Sequence and node.tag == SEQ_TAG and self.sequences:
            depth, value = self.sequence(node, level)
        elif node.__class__ is _Mapping and node.tag == MAP_TAG and self.mappings:
            depth, value = self.mapping(node, level)
        else:
            depth, value = self.children(node, level), self.loader.construct_object(node, deep=True)
        self.on_path.discard(key)
        self.built[key] = (self.nodes - nodes, self.chars - chars, depth, value)
        return depth, value

    def enter(self, node: yaml.Node) -> None:
        """Count a scalar node (its depth is checked by the caller); refuse an overlong number."""
        self.count(1, len(node.value), node)
        self.check_number(node)

    def check_number(self, node: yaml.Node) -> None:
        if node.tag in NUMBER_TAGS and len(node.value) > self.limits.max_number_chars:
            raise YamlTooLarge(
                f"the YAML holds a number of {len(node.value)} characters, above the limit of "
                f"{self.limits.max_number_chars} (quote it to keep it a string){_where(node)}"
            )

    def scalar(self, node: yaml.Node) -> Any:
        if node.tag == STR_TAG and self.plain:
            return node.value
        return self.loader.construct_object(node)

    def check_children_depth(self, first: yaml.Node | None, level: int) -> None:
        """Children of a node at ``level`` are too deep when that level is the limit (``first``: the one to name)."""
        if first is not None and level >= self.limits.max_depth:
            raise self.too_deep(first)

    def children(self, node: yaml.Node, level: int) -> int:
        """Count the children of a node the loader constructs (building its collections); its expanded depth."""
        parts = node.value if node.__class__ is _Sequence else [part for pair in node.value for part in pair]
        self.check_children_depth(parts[0] if parts else None, level)
        depth = 1 if parts else 0
        for part in parts:
            if part.__class__ is _Scalar:
                self.enter(part)
            else:
                depth = max(depth, self.build(part, level + 1)[0])
        return depth + 1

    def sequence(self, node: yaml.Node, level: int) -> tuple[int, list[Any]]:
        children = node.value
        self.check_children_depth(children[0] if children else None, level)
        depth, items = self.values(node, children, level)
        return depth + 1, items

    def mapping(self, node: yaml.Node, level: int) -> tuple[int, Any]:
        """A mapping as SafeConstructor builds it: merged mappings first (in a merge list the earlier
        wins), then the node's own pairs over them; a key must be hashable."""
        pairs = node.value
        self.check_children_depth(pairs[0][0] if pairs else None, level)
        plain = self.plain
        if plain:  # most mappings of a document hold plain strings only: built in one loop
            mapping: dict[Any, Any] = {}
            chars = 0
            for key_node, value_node in pairs:
                if key_node.__class__ is not _Scalar or value_node.__class__ is not _Scalar or key_node.tag != STR_TAG or value_node.tag != STR_TAG:
                    break
                key, value = key_node.value, value_node.value
                mapping[key] = value
                chars += len(key) + len(value)
            else:
                self.count(2 * len(pairs), chars, node)
                return (2 if pairs else 1), mapping
        keys: list[Any] = []
        value_nodes = []
        merged: list[Any] = []
        depth = 1 if pairs else 0
        scalars = chars = 0
        for key_node, value_node in pairs:
            if key_node.__class__ is _Scalar:
                key = key_node.value
                scalars += 1
                chars += len(key)
                tag = key_node.tag
                if tag == MERGE_TAG:
                    depth = max(depth, self.merge(node, value_node, level + 1, merged))
                    continue
                if tag != STR_TAG or not plain:
                    self.check_number(key_node)
                    key = self.constructors[STR_TAG](self.loader, key_node) if tag == VALUE_TAG else self.scalar(key_node)
            else:
                key_depth, key = self.build(key_node, level + 1)
                depth = max(depth, key_depth)
            if key.__class__ is not str and not isinstance(key, Hashable):
                raise ConstructorError("while constructing a mapping", node.start_mark, "found unhashable key", key_node.start_mark)
            keys.append(key)
            value_nodes.append(value_node)
        self.count(scalars, chars, node)
        value_depth, values = self.values(node, value_nodes, level)
        mapping = dict(zip(keys, values, strict=True))
        if merged:
            if any(part.__class__ is not dict for part in merged):  # a merged !!set or !!omap: the loader's rules
                return depth + 1, self.loader.construct_object(node, deep=True)
            flat: dict[Any, Any] = {}
            for part in merged:
                flat.update(part)
            flat.update(mapping)
            mapping = flat
        return max(depth, value_depth) + 1, mapping

    def values(self, parent: yaml.Node, children: list[yaml.Node], level: int) -> tuple[int, list[Any]]:
        """The values of ``parent``'s ``children`` and their expanded depth. A plain string (most of a document)
        is taken in line, its node and characters counted together at the end; the rest goes through :meth:`build`."""
        plain = self.plain
        items = []
        depth = 1 if children else 0
        scalars = chars = 0
        for child in children:
            if plain and child.__class__ is _Scalar and child.tag == STR_TAG:
                value = child.value
                scalars += 1
                chars += len(value)
            else:
                child_depth, value = self.build(child, level + 1)
                if child_depth > depth:
                    depth = child_depth
            items.append(value)
        self.count(scalars, chars, parent)
        return depth, items

    def merge(self, node: yaml.Node, value_node: yaml.Node, level: int, merged: list[dict[Any, Any]]) -> int:
        """Build the value of a merge key into ``merged`` (the order the mappings apply in); its depth."""
        if value_node.__class__ is _Sequence:
            for subnode in value_node.value:
                if subnode.__class__ is not _Mapping:
                    raise ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"expected a mapping for merging, but found {subnode.id}", subnode.start_mark,
                    )
        elif value_node.__class__ is not _Mapping:
            raise ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"expected a mapping or list of mappings for merging, but found {value_node.id}", value_node.start_mark,  # type: ignore[attr-defined]
            )
        depth, value = self.build(value_node, level)
        if value_node.__class__ is _Mapping:
            merged.append(value)
        else:
            merged += reversed([self.built[id(subnode)][3] for subnode in value_node.value])
        return depth


def _where(node: yaml.Node) -> str:
    mark = node.start_mark
    return f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
