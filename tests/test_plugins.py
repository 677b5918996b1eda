"""Plugin discovery, allow-list, isolation of broken plugins, duplicate names."""

from __future__ import annotations

from importlib import metadata

import pytest

from gateway import hookimpl
from gateway.app import build_gateway
from gateway.backend import BackendRegistry
from gateway.errors import StartupError, Unavailable
from gateway.plugins import BUILTIN_PLUGINS, ENTRY_POINT_GROUP, load_plugins
from gateway.settings import Settings
from gateway.testing import mount_request
from tests.support import ScriptedBackend


class Registers:
    def __init__(self, *names: str) -> None:
        self.names = names

    @hookimpl
    def gateway_register_backends(self, registry: BackendRegistry) -> None:
        for name in self.names:
            registry.add(ScriptedBackend(name=name, values={"x": (b"v", "1")}))


class Explodes:
    @hookimpl
    def gateway_register_backends(self, registry: BackendRegistry) -> None:
        raise RuntimeError("plugin bug")


class Misspelt:
    @hookimpl
    def gateway_register_backend(self, registry: BackendRegistry) -> None:  # missing "s"
        pass


def test_installed_plugins_are_discovered_through_entry_points() -> None:
    plugins = load_plugins(None)
    fake = next(info for info in plugins.loaded if info.name == "fake")
    assert fake.distribution == "secrets-gateway-fake" and fake.version
    gateway = build_gateway(Settings(), plugins)
    assert "fake" in gateway.backends.names()
    assert gateway.backends.entries()[gateway.backends.names().index("fake")].plugin.distribution == "secrets-gateway-fake"


def test_allow_list_limits_loading_and_reports_unknown_names() -> None:
    plugins = load_plugins(frozenset({"fake", "nosuch"}))
    assert [info.name for info in plugins.loaded] == ["fake"]
    assert {info.name for info in plugins.skipped} >= {"aws", "vault"}
    assert [f.describe() for f in plugins.failures] == ["plugin nosuch (nosuch) failed at import: not installed (named in --plugins)"]


def test_the_builtin_table_matches_the_installed_entry_points() -> None:
    installed = {ep.name: (ep.dist.name if ep.dist else "", ep.value, ep.dist.version if ep.dist else "")
                 for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    for name, (distribution, module) in BUILTIN_PLUGINS.items():
        assert installed[name][:2] == (distribution, module)
        unscanned = load_plugins(frozenset({name}), scan=False)
        assert [(info.name, info.distribution, info.version) for info in unscanned.loaded] == [(name, distribution, installed[name][2])]


@pytest.mark.parametrize(
    ("allow", "loaded", "skipped", "failures"),
    [
        pytest.param({"fake", "vault"}, ["fake", "vault"], set(), [], id="builtin-only-no-scan"),
        pytest.param({"fake", "nosuch"}, ["fake"], {"aws", "vault"},
                     ["plugin nosuch (nosuch) failed at import: not installed (named in --plugins)"], id="another-name-scans"),
    ],
)
def test_serve_loads_builtin_plugins_without_scanning_and_others_through_entry_points(
    allow: set[str], loaded: list[str], skipped: set[str], failures: list[str],
) -> None:
    plugins = load_plugins(frozenset(allow), scan=False)
    assert [info.name for info in plugins.loaded] == loaded
    assert {info.name for info in plugins.skipped} >= skipped and (skipped or not plugins.skipped)
    assert [f.describe() for f in plugins.failures] == failures


def test_import_failure_is_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    real = metadata.entry_points

    def entry_points(group: str):  # type: ignore[no-untyped-def]
        broken = metadata.EntryPoint("broken", "tests.no_such_module_here", ENTRY_POINT_GROUP)
        return [*real(group=group), broken]

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    plugins = load_plugins(None)
    gateway = build_gateway(Settings(), plugins)
    assert "fake" in gateway.backends.names()
    assert [(f.plugin.name, f.stage) for f in plugins.failures] == [("broken", "import")]
    assert "ModuleNotFoundError" in plugins.failures[0].error
    assert gateway.metrics.registry.get_sample_value("secrets_gateway_plugin_load_failures_total", {"plugin": "broken"}) == 1


@pytest.mark.parametrize(
    ("plugin", "stage"),
    [pytest.param(Explodes(), "gateway_register_backends", id="hook-raises"), pytest.param(Misspelt(), "import", id="misspelt-hook")],
)
def test_broken_plugin_is_reported_and_the_rest_serve(plugin: object, stage: str) -> None:
    plugins = load_plugins(None, [("good", Registers("good")), ("bad", plugin)], discover=False)
    gateway = build_gateway(Settings(), plugins)
    assert gateway.backends.names() == ["good"]
    assert [(f.plugin.name, f.stage) for f in plugins.failures] == [("bad", stage)]


def test_duplicate_backend_names_stop_startup_naming_both_plugins() -> None:
    plugins = load_plugins(None, [("first", Registers("dup")), ("second", Registers("dup"))], discover=False)
    with pytest.raises(StartupError) as caught:
        build_gateway(Settings(), plugins)
    assert str(caught.value) == 'backend name "dup" is registered by both first and second; disable one of them with --plugins'


def test_duplicate_plugin_names_stop_startup() -> None:
    with pytest.raises(StartupError, match='two plugins are named "x"'):
        load_plugins(None, [("x", Registers("a")), ("x", Registers("b"))], discover=False)


async def test_unknown_type_after_a_plugin_failure_is_unavailable_and_says_why() -> None:
    plugins = load_plugins(None, [("good", Registers("good")), ("bad", Explodes())], discover=False)
    gateway = build_gateway(Settings(), plugins)
    with pytest.raises(Unavailable) as caught:
        await gateway.service.mount(mount_request([{"objectName": "x", "objectType": "secretsmanager"}]))
    assert "plugin bad (bad) failed at gateway_register_backends: RuntimeError: plugin bug" in caught.value.message


async def test_the_request_path_never_calls_pluggy(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = build_gateway(Settings(), load_plugins(None, [("good", Registers("good"))], discover=False))

    class Forbidden:
        def __getattr__(self, name: str) -> None:
            raise AssertionError(f"pluggy used while serving: {name}")

    monkeypatch.setattr(gateway.plugins, "manager", Forbidden())
    result = await gateway.service.mount(mount_request([{"objectName": "x", "objectType": "good"}]))
    assert result.files[0].contents == b"v"
