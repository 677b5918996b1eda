"""Backend base behaviour: locations from parameters, failover lists, the registry."""

from __future__ import annotations

import pytest

from gateway.backend import NO_LOCATION, Backend, parse_failover_locations
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
    assert backend.static_locations({"zone": "r1", "failoverZones": "r2"}) == ("r1", "r2")
    assert backend.static_locations({}) is None


class Minimal(Backend):
    name = "minimal"

    async def fetch_many(self, batch):  # type: ignore[no-untyped-def]
        return []


async def test_a_backend_without_locations_has_one_location() -> None:
    from gateway.model import MountRequest

    backend = Minimal()
    assert backend.static_locations({"zone": "ignored"}) == (NO_LOCATION,)
    assert await backend.locations(MountRequest()) == ("",)
    assert backend.claims("anything") is False


def test_registry_lists_the_backends_claiming_a_name() -> None:
    registry = registry_of(ScriptedBackend(name="b", claimed_prefix="x:"), ScriptedBackend(name="a", claimed_prefix="x:"), Minimal())
    assert [backend.name for backend in registry.claimants("x:1")] == ["a", "b"]
    assert registry.claimants("y") == []


def test_registry_replace_keeps_the_plugin() -> None:
    original = ScriptedBackend(name="x")
    registry = registry_of(original)
    wrapper = ScriptedBackend(name="x")
    registry.replace(wrapper)
    assert registry.get("x") is wrapper and registry.entries()[0].plugin.name == "builtin"
