"""Backend base behaviour: locations from parameters, failover lists, the registry."""

from __future__ import annotations

import pytest

from gateway.backend import parse_failover_locations
from gateway.errors import InvalidArgument
from tests.support import ScriptedBackend, registry_of


@pytest.mark.parametrize(
    ("primary", "value", "expected"),
    [
        pytest.param("a", "", (), id="none"),
        pytest.param("a", "b", ("b",), id="one"),
        pytest.param("a", " b, c ,", ("b", "c"), id="several"),
    ],
)
def test_failover_locations(primary: str, value: str, expected: tuple[str, ...]) -> None:
    assert parse_failover_locations(primary, value) == expected


@pytest.mark.parametrize(
    ("value", "noun", "message"),
    [
        pytest.param("a", "region", "a: failover region cannot be the same as the primary region", id="same-as-primary"),
        pytest.param("b, b", "region", "b: failover region listed twice", id="duplicate"),
        pytest.param("a", "address", "a: failover address cannot be the same as the primary address", id="noun"),
    ],
)
def test_failover_location_errors(value: str, noun: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_failover_locations("a", value, noun)
    assert caught.value.message == message


def test_static_locations_and_the_required_parameter() -> None:
    backend = ScriptedBackend(name="x", default_location="")
    assert backend.static_locations({"region": "r1", "failoverRegion": "r2"}) == ("r1", "r2")
    assert backend.static_locations({}) is None


def test_registry_replace_keeps_the_plugin() -> None:
    original = ScriptedBackend(name="x")
    registry = registry_of(original)
    wrapper = ScriptedBackend(name="x")
    registry.replace(wrapper)
    assert registry.get("x") is wrapper and registry.entries()[0].plugin.name == "builtin"
