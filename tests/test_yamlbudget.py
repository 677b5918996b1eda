"""The YAML budget: expanded size measured on the composed graph, before construction."""

from __future__ import annotations

import pytest
import yaml

from gateway import yaml11, yamlflavour
from gateway.yamlbudget import YamlLimits
from tests.adversarial.attacks import alias_depth, billion_laughs, merge_chain

SMALL = YamlLimits(max_nodes=100, max_depth=10, max_chars=1000, max_number_chars=8)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("[a, b, {c: d}]", ["a", "b", {"c": "d"}], id="plain"),
        pytest.param("- &a [x, z]\n- *a\n- *a\n", [["x", "z"]] * 3, id="aliases-within-budget"),
        pytest.param("base: &b {k: v}\nm: {<<: *b, o: p}\n", {"base": {"k": "v"}, "m": {"k": "v", "o": "p"}}, id="merge-key"),
        pytest.param("n: 0600\nb: yes", {False: 384, "b": True}, id="yaml11-scalars-unchanged"),
        pytest.param("v: 12345678", {"v": 12345678}, id="number-at-the-limit"),
        pytest.param("v: '123456789012'", {"v": "123456789012"}, id="quoted-long-number-is-a-string"),
    ],
)
def test_within_budget_constructs_as_before(text: str, expected: object) -> None:
    assert yaml11.load(text, limits=SMALL) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: &x {p: 1, q: 2}\nb: &y {q: 3, r: 4}\nc: {<<: [*x, *y], s: 5}\n", id="merge-list-earlier-wins"),
        pytest.param("a: &x {p: 1}\nb: &y {p: 2}\nc: {<<: *x, <<: *y}\n", id="two-merge-keys-later-wins"),
        pytest.param("a: &x {p: 1, q: 2}\nb: {p: 9, <<: *x}\n", id="own-pair-over-merged"),
        pytest.param("a: {<<: {<<: {<<: {k: v}, j: w}}}", id="nested-merges"),
        pytest.param("x: &m {a: 1}\ny: [*m, *m, {<<: [*m, {b: 2}]}]", id="merged-and-aliased"),
        pytest.param("a: !!set {x, y}\nb: {<<: !!set {z}}", id="merged-set"),
        pytest.param("=: 1\n'<<': 2", id="value-key-and-quoted-merge-key"),
        pytest.param("a: !!binary aGVsbG8=\nb: !!timestamp 2001-12-14\nc: !!omap [x: 1]\nd: !!str 12", id="explicit-tags"),
        pytest.param("a: 0x1F\nb: 017\nc: 1_000\nd: 1:20\ne: .inf\nf: y\ng: ~\n1: int-key", id="typed-scalars"),
    ],
)
@pytest.mark.parametrize("flavour", list(yamlflavour.FLAVOURS.values()), ids=lambda flavour: flavour.name)
def test_the_budgeted_walk_builds_what_pyyaml_builds(text: str, flavour: yamlflavour.YamlFlavour) -> None:
    loader = {"go-yaml-v2": yaml11.Yaml11Loader, "yaml-1.2": yamlflavour.YAML_1_2_LOADER, "go-yaml-v3": yamlflavour.GO_YAML_V3_LOADER}
    expected = yaml.load(text, Loader=loader[flavour.name])  # PyYAML's own constructor, no budget
    built = flavour.load(text)
    assert built == expected and repr(built) == repr(expected)  # same values, same key order


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("? [a]\n: 1", "found unhashable key", id="unhashable-key"),
        pytest.param("a: !!str [x]", "expected a scalar node, but found sequence", id="string-tag-on-a-list"),
        pytest.param("a: {<<: x}", "expected a mapping or list of mappings for merging, but found scalar", id="merge-of-a-scalar"),
        pytest.param("a: {<<: [x]}", "expected a mapping for merging, but found scalar", id="merge-list-of-a-scalar"),
    ],
)
def test_malformed_documents_are_refused_as_pyyaml_refuses_them(text: str, fragment: str) -> None:
    with pytest.raises(yaml11.YamlError, match=fragment):
        yaml11.load(text)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("- &a [x, x, x, x, x, x, x, x, x, x]\n- [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n", "more than 100 nodes", id="nodes"),
        pytest.param(alias_depth(20), "deeper than 10 levels", id="alias-depth"),
        pytest.param("- &s " + "x" * 600 + "\n- *s\n", "more than 1000 characters", id="scalar-characters"),
        pytest.param("v: 123456789", "a number of 9 characters, above the limit of 8", id="long-integer"),
        pytest.param("v: 1:59:59:59", "a number of 10 characters", id="sexagesimal"),
        pytest.param("v: 1.000000000", "a number of 11 characters", id="long-float"),
    ],
)
def test_over_budget_is_refused_naming_the_limit(text: str, fragment: str) -> None:
    with pytest.raises(yaml11.YamlTooLarge, match=fragment):
        yaml11.load(text, limits=SMALL)


@pytest.mark.parametrize(
    "text",
    [pytest.param(merge_chain(60), id="merge-chain-60"), pytest.param(billion_laughs(), id="billion-laughs")],
)
def test_exponential_documents_are_refused_with_default_limits(text: str) -> None:
    with pytest.raises(yaml11.YamlTooLarge, match="250000 nodes after aliases and merge keys"):
        yaml11.load(text)


def test_a_cycle_is_malformed_not_large() -> None:
    with pytest.raises(yaml11.YamlError, match="an alias refers to a node containing it at line 1") as refused:
        yaml11.load("&r [*r]")
    assert not isinstance(refused.value, yaml11.YamlTooLarge)


def test_every_document_of_a_stream_is_budgeted() -> None:
    assert yaml11.load_all("a: 1\n---\nb: 2\n", limits=SMALL) == [{"a": 1}, {"b": 2}]
    with pytest.raises(yaml11.YamlTooLarge):
        yaml11.load_all("a: 1\n---\n" + billion_laughs(), limits=SMALL)
