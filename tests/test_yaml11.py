"""YAML 1.1 scalars become the strings ASCP (Go, sigs.k8s.io/yaml) would see."""

from __future__ import annotations

import pytest
import yaml
from yaml.resolver import BaseResolver

from gateway import yamlflavour
from gateway.yaml11 import Yaml11Loader, YamlError, go_float, load, scalar_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("0600", "384", id="octal-trap"),
        pytest.param("'0600'", "0600", id="quoted"),
        pytest.param("0x1F", "31", id="hex"),
        pytest.param("yes", "true", id="yes"),
        pytest.param("y", "true", id="y"),
        pytest.param("off", "false", id="off"),
        pytest.param("N", "false", id="N"),
        pytest.param("~", "", id="null"),
        pytest.param("1.0", "1", id="float-integral"),
        pytest.param("1.5", "1.5", id="float"),
        pytest.param("2001-12-14", "2001-12-14", id="date-stays-text"),
        pytest.param(".inf", "+Inf", id="inf"),
        pytest.param("-.inf", "-Inf", id="-inf"),
        pytest.param(".nan", "NaN", id="nan"),
        pytest.param("[1]", None, id="list"),
    ],
)
def test_scalar_text(text: str, expected: str | None) -> None:
    assert scalar_text(load(f"v: {text}")["v"]) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1e21, "1e+21"), (1e20, "100000000000000000000"), (0.0001, "0.0001"), (0.00001, "1e-05"), (-2.5, "-2.5"), (0.1, "0.1"), (0.0, "0")],
)
def test_go_float(value: float, expected: str) -> None:
    assert go_float(value) == expected


def test_yaml_errors_say_where_not_what() -> None:
    with pytest.raises(YamlError) as caught:
        load("a: [secret-value\nb: c")
    assert "line" in str(caught.value) and "secret-value" not in str(caught.value)


@pytest.mark.parametrize(
    "loader",
    [
        pytest.param(Yaml11Loader, id="go-yaml-v2"),
        pytest.param(yamlflavour.YAML_1_2_LOADER, id="yaml-1.2"),
        pytest.param(yamlflavour.GO_YAML_V3_LOADER, id="go-yaml-v3"),
    ],
)
def test_the_fast_resolver_gives_pyyamls_tags(loader: type) -> None:
    scalars = ["", "~", "null", "true", "yes", "y", "N", "on", "0600", "0o17", "0x1F", "1_000", "1:20", "1.5", ".inf",
               "-.Inf", ".nan", "<<", "=", "2001-12-14", "abc", "+1", "0b101", "1e3", "12:30:00"]
    resolver = loader("")
    for value in scalars:
        for implicit in ((True, False), (False, True)):
            assert resolver.resolve(yaml.ScalarNode, value, implicit) == BaseResolver.resolve(resolver, yaml.ScalarNode, value, implicit)  # type: ignore[no-untyped-call]
    for kind in (yaml.SequenceNode, yaml.MappingNode):
        assert resolver.resolve(kind, None, True) == BaseResolver.resolve(resolver, kind, None, True)  # type: ignore[no-untyped-call]
