"""Typed options: one boolean syntax, typed parsing with checks, one-line errors, one core settings table."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from gateway.dispatch import DispatchLimits
from gateway.mount import MountLimits
from gateway.options import POSITIVE, Check, Option, OptionError, OptionRegistry, at_least, parse_bool, parse_mode, parse_names
from gateway.settings import CORE_OPTIONS, SOCKET_MODE, Settings, settings_from


@pytest.mark.parametrize("text", ["1", "t", "T", "TRUE", "true", "True"])
def test_true_spellings(text: str) -> None:
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["0", "f", "F", "FALSE", "false", "False"])
def test_false_spellings(text: str) -> None:
    assert parse_bool(text) is False


@pytest.mark.parametrize("text", ["yes", "on", "no", "off", "tRuE", "", "ture", "2"])
def test_other_spellings_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bool(text)


NUMBER = Option("demo-timeout", float, 3.0, "seconds", check=POSITIVE)
COUNT = Option("demo-count", int, 2, "count", check=at_least(1))
MODE = Option("demo-mode", str.lower, "fast", "mode", choices=("fast", "slow"))
FLAG = Option("demo-flag", bool, False, "flag")
TOKEN = Option("demo-token", str, "", "token", check=Check(lambda value: value.startswith("hvs."), "starting with hvs."), secret=True)
PATH = Option[Path | None]("demo-path", Path, None, "a file")


@pytest.mark.parametrize(
    ("option", "text", "value"),
    [
        pytest.param(NUMBER, " 2.5 ", 2.5, id="float-stripped"),
        pytest.param(COUNT, "7", 7, id="int"),
        pytest.param(MODE, "SLOW", "slow", id="choice-normalised"),
        pytest.param(FLAG, "True", True, id="bool"),
        pytest.param(PATH, "/etc/x", Path("/etc/x"), id="path"),
        pytest.param(SOCKET_MODE, "0660", 0o660, id="octal-mode"),
    ],
)
def test_typed_values(option: Option[Any], text: str, value: object) -> None:
    assert option.parse(text) == value


@pytest.mark.parametrize(
    ("option", "text", "expected"),
    [
        pytest.param(NUMBER, "30s", "--demo-timeout ($SECRETS_GATEWAY_DEMO_TIMEOUT): invalid value '30s': expected a number > 0", id="unit"),
        pytest.param(NUMBER, "0", "invalid value '0': expected a number > 0", id="zero"),
        pytest.param(COUNT, "-1", "invalid value '-1': expected an integer >= 1", id="negative"),
        pytest.param(MODE, "medium", "invalid value 'medium': expected fast or slow", id="choice"),
        pytest.param(FLAG, "yes", "invalid value 'yes': expected true or false", id="bool"),
        pytest.param(TOKEN, "s.leak", "invalid value (hidden)", id="secret-hidden"),
        pytest.param(SOCKET_MODE, "4755", "expected an octal file mode like 0600 without setuid/setgid/sticky or world bits", id="setuid"),
        pytest.param(SOCKET_MODE, "0606", "without setuid/setgid/sticky or world bits", id="world-bits"),
        pytest.param(SOCKET_MODE, "rw", "invalid value 'rw'", id="not-octal"),
    ],
)
def test_bad_values_are_one_line_errors(option: Option[Any], text: str, expected: str) -> None:
    with pytest.raises(OptionError) as caught:
        option.parse(text)
    message = str(caught.value)
    assert expected in message and "\n" not in message


def test_url_credentials_are_never_echoed() -> None:
    url = Option("demo-url", str, "", "url", check=Check(lambda value: "@" not in value, "without credentials"))
    with pytest.raises(OptionError) as caught:
        url.parse("https://u:hunter2@x")
    assert "hunter2" not in str(caught.value) and "'https://***@x'" in str(caught.value)


@pytest.mark.parametrize(
    ("flag", "env", "value"),
    [
        pytest.param(None, {}, 3.0, id="default"),
        pytest.param(None, {"SECRETS_GATEWAY_DEMO_TIMEOUT": "4"}, 4.0, id="env"),
        pytest.param(None, {"SECRETS_GATEWAY_DEMO_TIMEOUT": " "}, 3.0, id="empty-env-is-unset"),
        pytest.param("5", {"SECRETS_GATEWAY_DEMO_TIMEOUT": "4"}, 5.0, id="flag-wins"),
    ],
)
def test_resolution_order(flag: str | None, env: dict[str, str], value: float) -> None:
    assert NUMBER.resolve(flag, env) == value


def test_env_errors_name_the_variable() -> None:
    with pytest.raises(OptionError, match=r"^SECRETS_GATEWAY_DEMO_TIMEOUT=30s: invalid value '30s'"):
        NUMBER.resolve(None, {"SECRETS_GATEWAY_DEMO_TIMEOUT": "30s"})


def test_empty_env_is_a_value_for_text_options() -> None:
    assert Option("demo-address", str, "0.0.0.0:1", "address").resolve(None, {"SECRETS_GATEWAY_DEMO_ADDRESS": ""}) == ""


def test_registry_refuses_duplicates_core_names_and_untyped_declarations() -> None:
    registry = OptionRegistry(reserved=["mount-timeout"])
    registry.add(NUMBER)
    with pytest.raises(ValueError, match="declared twice"):
        registry.add(NUMBER)
    with pytest.raises(ValueError, match="is a core setting"):
        registry.add(Option("mount-timeout", float, 1.0, "x"))
    with pytest.raises(TypeError, match="expected an Option"):
        registry.add("demo-x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lower-case words"):
        Option("Demo_X", str, "", "x")


def test_settings_option_returns_typed_values_and_defaults() -> None:
    settings = Settings(plugin_options={"demo-count": 4, "demo-flag": "t"})
    assert settings.option(COUNT) == 4
    assert settings.option(FLAG) is True  # raw text (tests, harnesses) is parsed like a flag
    assert settings.option(NUMBER) == 3.0
    assert settings.option(PATH) is None


def test_every_settings_field_is_one_core_option_with_the_same_default() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(Settings) if f.name != "plugin_options"}
    assert fields == {option.dest: option.default for option in CORE_OPTIONS}


def test_pipeline_limits_take_their_defaults_from_the_table() -> None:
    settings = Settings()
    assert MountLimits() == MountLimits(settings.mount_timeout, settings.max_concurrent_mounts, settings.max_response_bytes)
    assert DispatchLimits() == DispatchLimits(settings.max_parallel_calls, settings.backend_timeout, settings.max_value_bytes)


def test_settings_from_parsed_values() -> None:
    settings = settings_from({"mount-timeout": 5.0, "plugins": parse_names("fake, aws")}, {"demo-count": 3})
    assert settings.mount_timeout == 5.0 and settings.plugins == frozenset({"fake", "aws"}) and settings.option(COUNT) == 3


def test_octal_mode_default_shown_as_octal() -> None:
    assert SOCKET_MODE.show_default() == "0600" and parse_mode("600") == 0o600
