"""Plugin discovery and loading.

Plugins are found through the ``secrets_gateway.plugins`` entry points, filtered by the allow-list, and
registered with pluggy. ``serve`` whose ``--plugins`` names only the plugins this project ships
(:data:`BUILTIN_PLUGINS`) imports them directly instead: scanning every installed distribution's entry points
imports ``importlib.metadata`` (with ``zipfile`` and ``csv``), which then stays resident in the server (~0.9 MiB).
A plugin that fails to import or to register is reported (log, ``secrets-gateway plugins``, readiness detail) and
left out; the rest keep serving. A backend name claimed twice is a startup error naming both distributions.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from gateway import __version__
from gateway.backend import BackendRegistry, PluginInfo
from gateway.dialect import DialectRegistry
from gateway.errors import StartupError
from gateway.hookspecs import PROJECT, SUPPORTED_PLUGIN_APIS, GatewaySpec
from gateway.middleware.base import MiddlewareRegistry
from gateway.options import OptionRegistry
from gateway.settings import Settings

ENTRY_POINT_GROUP = "secrets_gateway.plugins"
#: the plugins this project ships: entry-point name -> (distribution, plugin module), as their pyproject.toml declare
BUILTIN_PLUGINS: dict[str, tuple[str, str]] = {
    "aws": ("secrets-gateway-aws", "gateway_aws.plugin"),
    "fake": ("secrets-gateway-fake", "gateway_fake.plugin"),
    "vault": ("secrets-gateway-vault", "gateway_vault.plugin"),
}
log = logging.getLogger("gateway.plugins")


@dataclass(frozen=True)
class LoadFailure:
    plugin: PluginInfo
    stage: str  # "import" or the hook that failed
    error: str

    def describe(self) -> str:
        return f"plugin {self.plugin.name} ({self.plugin.describe()}) failed at {self.stage}: {self.error}"


@dataclass
class PluginSet:
    """The loaded plugins and what went wrong with the others."""

    manager: pluggy.PluginManager
    loaded: list[PluginInfo] = field(default_factory=list)
    failures: list[LoadFailure] = field(default_factory=list)
    skipped: list[PluginInfo] = field(default_factory=list)  # installed but not allowed

    def add_options(self, options: OptionRegistry) -> None:
        self._call("gateway_add_options", options=options)

    def register(
        self,
        backends: BackendRegistry,
        middleware: MiddlewareRegistry,
        settings: Settings,
        metrics: object,
        dialects: DialectRegistry | None = None,
    ) -> None:
        """Run the registration hooks, attributing each plugin's backends to it."""
        for info in list(self.loaded):
            with backends.registering(info):
                self._call("gateway_register_backends", only=info, registry=backends, settings=settings, metrics=metrics)
        self._call("gateway_register_dialects", registry=dialects or DialectRegistry(), settings=settings)
        self._call("gateway_register_middleware", registry=middleware, settings=settings)

    def server_started(self, settings: Settings) -> None:
        """Run each plugin's warm-up (``gateway_server_started``); a failing one is logged, not unloaded."""
        for impl in self.manager.hook.gateway_server_started.get_hookimpls():
            started = time.perf_counter()
            kwargs = {"settings": settings}
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except Exception:
                log.warning("plugin %s: warm-up failed (its first mount does the work instead)", impl.plugin_name, exc_info=True)
            else:
                log.debug("plugin %s warmed up in %.3fs", impl.plugin_name, time.perf_counter() - started)

    def _call(self, hook_name: str, only: PluginInfo | None = None, **kwargs: Any) -> None:
        """Call a hook plugin by plugin, so one plugin's failure stays its own."""
        for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
            info = next((item for item in self.loaded if item.name == impl.plugin_name), None)
            if info is None or (only is not None and info is not only):
                continue
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except StartupError:
                raise
            except Exception as exc:  # a broken plugin must not take the others down
                self.fail(info, hook_name, exc)

    def fail(self, info: PluginInfo, stage: str, exc: BaseException) -> None:
        log.error("plugin %s (%s) failed at %s:\n%s", info.name, info.describe(), stage, traceback.format_exc())
        self.failures.append(LoadFailure(info, stage, f"{type(exc).__name__}: {exc}"))
        if info in self.loaded:
            self.loaded.remove(info)
        if self.manager.has_plugin(info.name):
            self.manager.unregister(name=info.name)


def load_plugins(
    allow: frozenset[str] | None, extra: Iterable[tuple[str, object]] = (), *, discover: bool = True, scan: bool = True,
) -> PluginSet:
    """Load installed plugins (``discover``) plus ``extra`` ``(name, plugin)`` pairs.

    ``allow`` limits which plugin names are loaded (None: all). ``extra`` plugins bypass
    discovery; tests and ``gateway.testing`` use them. ``scan=False`` (``serve``): when ``allow`` names only
    :data:`BUILTIN_PLUGINS`, those are imported without scanning the entry points (nothing else is listed as skipped).
    """
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(GatewaySpec)
    plugins = PluginSet(manager)
    candidates: list[tuple[PluginInfo, Callable[[], object]]] = []
    if discover and not scan and allow is not None and allow <= BUILTIN_PLUGINS.keys():
        candidates += _builtin_candidates(allow)
    elif discover:
        candidates += _entry_point_candidates()
    candidates += [(PluginInfo(name, "", ""), functools.partial(_itself, plugin)) for name, plugin in extra]
    for info, load in candidates:
        if allow is not None and info.name not in allow:
            plugins.skipped.append(info)
            continue
        if manager.has_plugin(info.name):
            raise StartupError(f'two plugins are named "{info.name}": {_owner(manager, info.name)} and {info.describe()}')
        plugins.loaded.append(info)
        try:
            plugin = load()
            check_plugin_api(plugin)
            manager.register(plugin, name=info.name)
            manager.check_pending()  # a misspelt gateway_* hook is an error, not silence
        except Exception as exc:
            plugins.fail(info, "import", exc)
    if allow is not None:
        known = {info.name for info, _ in candidates}
        for name in sorted(allow - known):
            plugins.failures.append(LoadFailure(PluginInfo(name), "import", "not installed (named in --plugins)"))
    return plugins


def _entry_point_candidates() -> list[tuple[PluginInfo, Callable[[], object]]]:
    from importlib import metadata

    candidates: list[tuple[PluginInfo, Callable[[], object]]] = []
    for entry_point in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        dist = entry_point.dist
        candidates.append((PluginInfo(entry_point.name, dist.name if dist else "", dist.version if dist else ""), entry_point.load))
    return candidates


def _builtin_candidates(names: frozenset[str]) -> list[tuple[PluginInfo, Callable[[], object]]]:
    """The named built-in plugins that are installed, their version from their package (``__version__``)."""
    candidates: list[tuple[PluginInfo, Callable[[], object]]] = []
    for name in sorted(names):
        distribution, module = BUILTIN_PLUGINS[name]
        package = module.partition(".")[0]
        if importlib.util.find_spec(package) is None:
            continue  # not in this image: reported as not installed
        version = getattr(importlib.import_module(package), "__version__", "")
        candidates.append((PluginInfo(name, distribution, version), functools.partial(importlib.import_module, module)))
    return candidates


def _itself(plugin: object) -> object:
    return plugin


class PluginApiMismatch(Exception):
    """The plugin was written for a plugin API version this core does not provide."""


def check_plugin_api(plugin: object) -> None:
    """Refuse a plugin whose ``GATEWAY_PLUGIN_API`` (a version or a tuple of versions) this core lacks."""
    declared = getattr(plugin, "GATEWAY_PLUGIN_API", None)
    if declared is None:
        return
    wanted = set(declared) if isinstance(declared, (tuple, list, set, frozenset)) else {declared}
    if not wanted & SUPPORTED_PLUGIN_APIS:
        raise PluginApiMismatch(
            f"it needs plugin API {' or '.join(map(str, sorted(wanted, key=str)))}; secrets-gateway {__version__} provides "
            f"plugin API {', '.join(map(str, sorted(SUPPORTED_PLUGIN_APIS)))} (install a matching version of the plugin or the gateway)"
        )


def _owner(manager: pluggy.PluginManager, name: str) -> str:
    plugin = manager.get_plugin(name)
    return getattr(plugin, "__name__", repr(plugin))
