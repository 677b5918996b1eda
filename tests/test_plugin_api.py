"""The plugin API as a contract: one import surface, every hook documented and tested, typed, versioned."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import tomllib
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import gateway.plugin
from gateway.hookspecs import PLUGIN_API_VERSION, GatewaySpec
from gateway.plugin import FetchBatch, Fetched, FetchOutcome, MountPlan, Piece, hookimpl
from gateway.plugins import load_plugins
from gateway.testing import mount_request, running_gateway

REPO = Path(__file__).resolve().parent.parent
GUIDE = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
HOOKS = sorted(name for name, _ in inspect.getmembers(GatewaySpec, inspect.isfunction) if name.startswith("gateway_"))
TEST_FILES = [*REPO.glob("tests/**/test_*.py"), *REPO.glob("plugins/*/tests/test_*.py")]

#: core modules plugin packages still import directly, and why they are not (yet) public API
EXEMPT_MODULES = {
    "gateway.yaml11": "ASCP's YAML 1.1 reader, used by the fake store file and Vault's secretArgs so they read YAML "
    "exactly as the classes that embed them; its public successor is the dialect API's YamlFlavour",
}


def test_every_hook_is_documented_in_the_plugin_guide() -> None:
    assert HOOKS, "no hookspecs found"
    assert [hook for hook in HOOKS if f"`{hook}(" not in GUIDE] == []


def test_every_hook_has_a_test() -> None:
    texts = [path.read_text(encoding="utf-8") for path in TEST_FILES]
    assert [hook for hook in HOOKS if not any(hook in text for text in texts)] == []


def test_the_public_surface_resolves_and_is_documented() -> None:
    names = gateway.plugin.__all__
    assert len(names) == len(set(names))
    assert [name for name in names if not hasattr(gateway.plugin, name)] == []
    assert "gateway.plugin" in GUIDE and "internal" in GUIDE


def _gateway_imports(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "gateway":
                modules += [f"gateway.{alias.name}" for alias in node.names]
            elif node.module.startswith("gateway."):
                modules.append(node.module)
        elif isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names if alias.name.startswith("gateway.")]
    return modules


def test_plugin_packages_import_the_core_only_through_the_public_surface() -> None:
    allowed = ("gateway.plugin", "gateway.hookimpl", "gateway.testing")
    offenders = {
        f"{path.relative_to(REPO)}: {module}"
        for path in REPO.glob("plugins/*/gateway_*/**/*.py")
        for module in _gateway_imports(path)
        if not module.startswith(allowed) and module not in EXEMPT_MODULES
    }
    assert sorted(offenders) == []


def test_typed_and_a_pytest_plugin() -> None:
    assert (REPO / "gateway" / "py.typed").is_file()
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["pytest11"] == {"secrets-gateway": "gateway.testing.pytest_plugin"}
    assert "testing" in project["optional-dependencies"]
    assert {"aws", "vault"} <= set(project["optional-dependencies"])
    assert any(ep.value == "gateway.testing.pytest_plugin" for ep in metadata.entry_points(group="pytest11"))


def test_every_plugin_declares_the_api_and_the_core_range_it_supports() -> None:
    for pyproject in REPO.glob("plugins/*/pyproject.toml"):
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        core = [dep for dep in project["dependencies"] if dep.startswith("secrets-gateway") and dep[len("secrets-gateway")] in "<>=!~ "]
        assert core and "<" in core[0], f"{pyproject}: no version range for secrets-gateway"
        for value in project.get("entry-points", {}).get("secrets_gateway.plugins", {}).values():
            source = (pyproject.parent / (value.replace(".", "/") + ".py")).read_text(encoding="utf-8")
            assert f"GATEWAY_PLUGIN_API = {PLUGIN_API_VERSION}" in source, value


def test_a_plugin_for_another_api_version_is_refused_with_the_reason() -> None:
    future = SimpleNamespace(GATEWAY_PLUGIN_API=PLUGIN_API_VERSION + 1)
    plugins = load_plugins(None, [("future", future)], discover=False)
    assert plugins.loaded == []
    [failure] = plugins.failures
    assert f"needs plugin API {PLUGIN_API_VERSION + 1}; secrets-gateway" in failure.describe()
    assert f"provides plugin API {PLUGIN_API_VERSION}" in failure.describe()
    assert load_plugins(None, [("range", SimpleNamespace(GATEWAY_PLUGIN_API=(PLUGIN_API_VERSION, 9)))], discover=False).failures == []


# --------------------------------------------------------------------------- gateway_register_middleware


class Shout:
    """A value stage between jmesPath (200) and key expansion (300): upper-cases every value."""

    name = "shout"
    order = 250

    def __call__(self, pieces: list[Piece], plan: MountPlan) -> list[Piece]:
        return [dataclasses.replace(piece, value=piece.value.upper()) for piece in pieces]


class ShoutPlugin:
    @hookimpl
    def gateway_register_middleware(self, registry: gateway.plugin.MiddlewareRegistry) -> None:
        registry.add(Shout())


class Quiet(gateway.plugin.Backend):
    name = "quiet"

    async def fetch_many(self, batch: FetchBatch) -> list[FetchOutcome]:
        return [Fetched(item.key, f"{item.ref.name}-value".encode(), "1") for item in batch.items]


async def test_gateway_register_middleware_adds_a_stage_to_every_mount() -> None:
    async with running_gateway([("shout", ShoutPlugin())], backends=[Quiet()]) as gw:
        names = [stage.name for stage in gw.gateway.middleware.stages]
        assert names.index("jmespath") < names.index("shout") < names.index("expand-keys")
        result = await gw.mount(mount_request([{"objectName": "db", "objectType": "quiet"}]))
    assert [(f.path, f.contents) for f in result.files] == [("db", b"DB-VALUE")]
