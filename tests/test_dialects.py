"""Dialects: the native one's reading rules, choosing a dialect, and the ``gateway_register_dialects`` hook."""

from __future__ import annotations

import pytest

from gateway.app import build_gateway
from gateway.dialect import NATIVE, Dialect, DialectRegistry
from gateway.errors import StartupError
from gateway.hookspecs import hookimpl
from gateway.objects import parse_objects
from gateway.planner import Planner
from gateway.plugins import load_plugins
from gateway.settings import Settings
from gateway.yamlflavour import GO_YAML_V2, GO_YAML_V3, YAML_1_2
from tests.support import routing_like


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        pytest.param("'0644'", 0o644, id="quoted"),
        pytest.param("0644", 0o644, id="unquoted-is-octal-too"),
        pytest.param("0o640", 0o640, id="0o-prefix"),
        pytest.param("'0400'", 0o400, id="read-only"),
    ],
)
def test_native_file_permission_is_always_octal(text: str, mode: int) -> None:
    parsed = parse_objects({"objects": f"- {{objectName: x, objectType: fake, filePermission: {text}}}\n"}, routing_like())
    assert parsed.problems == [] and parsed.objects[0].file_permission == mode


@pytest.mark.parametrize("text", [pytest.param("644", id="three-digits"), pytest.param("420", id="decimal"), pytest.param("0o8", id="bad-0o")])
def test_native_file_permission_refuses_what_reads_two_ways(text: str) -> None:
    parsed = parse_objects({"objects": f"- {{objectName: x, objectType: fake, filePermission: {text}}}\n"}, routing_like())
    assert parsed.problems == [
        f'objects[0] "x": Invalid File Permission: {text} (write the octal mode as 4 digits, "0644", or as "0o644")'
    ]


@pytest.mark.parametrize(
    ("flavour", "text", "expected"),
    [
        pytest.param(YAML_1_2, "yes", "yes", id="1.2-no-yes-boolean"),
        pytest.param(YAML_1_2, "0600", "0600", id="1.2-as-written"),
        pytest.param(YAML_1_2, "True", "True", id="1.2-bool-as-written"),
        pytest.param(GO_YAML_V3, "yes", "yes", id="v3-yes"),
        pytest.param(GO_YAML_V3, "0600", "0600", id="v3-as-written"),
        pytest.param(GO_YAML_V2, "yes", "true", id="v2-yes-is-true"),
        pytest.param(GO_YAML_V2, "0600", "384", id="v2-octal"),
        pytest.param(YAML_1_2, "'x'", "x", id="quoted"),
        pytest.param(YAML_1_2, "~", "", id="null"),
        pytest.param(YAML_1_2, "[1]", None, id="list"),
    ],
)
def test_string_fields_per_flavour(flavour, text: str, expected: str | None) -> None:  # type: ignore[no-untyped-def]
    assert flavour.text(flavour.load(f"v: {text}")["v"]) == expected


@pytest.mark.parametrize(
    ("flavour", "text", "expected"),
    [
        pytest.param(YAML_1_2, "{a: 0600, b: 0o600, c: yes, d: true, e: 1.5, f: ~}", {"a": 600, "b": 384, "c": "yes", "d": True, "e": 1.5, "f": None},
                     id="1.2-core-schema"),
        pytest.param(GO_YAML_V3, "{a: 0600, b: 0o600, c: yes, d: 0b11, e: 1_000}", {"a": 384, "b": 384, "c": "yes", "d": 3, "e": 1000},
                     id="v3-go-integers"),
    ],
)
def test_typed_data_per_flavour(flavour, text: str, expected: dict) -> None:  # type: ignore[no-untyped-def]
    assert flavour.data(flavour.load(text)) == expected


class Flat(Dialect):
    name = "flat"
    provider_names = ("flat-provider",)
    translation_default = None
    default_object_type = "fake"


def test_the_dialect_follows_the_provider_name_and_a_class_may_choose_another() -> None:
    dialects = DialectRegistry()
    dialects.add(Flat())
    planner = Planner(routing_like(), dialects=dialects, provider_name="flat-provider")
    parsed = planner.parse({"objects": "- objectName: a/b\n"})
    assert parsed.problems == [] and parsed.dialect == "flat" and parsed.translation is None and parsed.objects[0].backend == "fake"
    native = planner.parse({"objects": "- {objectName: a/b, objectType: fake}\n", "dialect": "secrets-gateway"})
    assert native.dialect == "secrets-gateway" and native.translation == "_"
    unknown = planner.parse({"objects": "- objectName: a\n", "dialect": "nope"})
    assert unknown.problems == ['unknown dialect "nope" (parameter dialect; known: flat, secrets-gateway)']
    assert dialects.for_provider("other") is NATIVE


@pytest.mark.parametrize(
    "second",
    [pytest.param(Flat(), id="same-name"), pytest.param(type("Other", (Flat,), {"name": "other"})(), id="same-provider-name")],
)
def test_a_dialect_or_provider_name_registered_twice_is_a_startup_error(second: Dialect) -> None:
    dialects = DialectRegistry()
    dialects.add(Flat())
    with pytest.raises(StartupError):
        dialects.add(second)


class DialectPlugin:
    @hookimpl
    def gateway_register_dialects(self, registry: DialectRegistry) -> None:
        registry.add(Flat())


def test_plugins_register_dialects_through_the_hook() -> None:
    plugins = load_plugins(None, [("flat", DialectPlugin())], discover=False)
    gateway = build_gateway(Settings(provider_name="flat-provider", http_address=""), plugins)
    assert gateway.dialects.names() == ["flat", "secrets-gateway"]
    assert gateway.planner.parse({"objects": "- objectName: a\n"}).dialect == "flat"
