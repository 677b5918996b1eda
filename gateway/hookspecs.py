"""The plugin API: every hook a plugin can implement, in one place.

A plugin is a module (or object) with functions decorated ``@gateway.hookimpl``,
exposed through the entry-point group ``secrets_gateway.plugins``::

    # pyproject.toml of your distribution
    [project.entry-points."secrets_gateway.plugins"]
    mybackend = "my_package.plugin"

All hooks run once at startup. Nothing goes through pluggy while serving a mount.
"""

from __future__ import annotations

import pluggy

from gateway.backend import BackendRegistry
from gateway.dialect import DialectRegistry
from gateway.middleware.base import MiddlewareRegistry
from gateway.options import OptionRegistry
from gateway.settings import Settings

PROJECT = "gateway"
#: the plugin API this core provides; a plugin module may declare ``GATEWAY_PLUGIN_API`` (see :mod:`gateway.plugin`)
PLUGIN_API_VERSION = 1
SUPPORTED_PLUGIN_APIS = frozenset({PLUGIN_API_VERSION})
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class GatewaySpec:
    """Hook specifications (pluggy calls them with keyword arguments; accept the ones you need)."""

    @hookspec
    def gateway_add_options(self, options: OptionRegistry) -> None:
        """Declare server settings the plugin reads; each becomes a ``--flag`` and an env variable.

        Example::

            @hookimpl
            def gateway_add_options(options):
                options.add(Option("fake-store", Path, None, "YAML/JSON store file"))
        """

    @hookspec
    def gateway_register_backends(self, registry: BackendRegistry, settings: Settings, metrics: object) -> None:
        """Add backends: ``registry.add(MyBackend(settings.option(MY_OPTION)))`` (a typed value).

        ``metrics`` is the server's :class:`gateway.metrics.Metrics`, for backend call counters.
        A backend name registered twice stops the server with a message naming both plugins.
        """

    @hookspec
    def gateway_register_dialects(self, registry: DialectRegistry, settings: Settings) -> None:
        """Add dialects (see :class:`gateway.dialect.Dialect`): ``registry.add(MyDialect())``.

        A dialect reads the classes of the provider names in its ``provider_names``, and of any
        class whose parameter ``dialect`` names it. A name or provider name taken twice stops the server.
        """

    @hookspec
    def gateway_register_middleware(self, registry: MiddlewareRegistry, settings: Settings) -> None:
        """Add value stages (see :class:`gateway.middleware.base.Stage`); ``order`` places them
        among the built-ins (decode 100, jmesPath 200, key expansion 300)."""

    @hookspec
    def gateway_server_started(self, settings: Settings) -> None:
        """Warm up: called once by ``serve --warm-up`` after the socket answers and the pipeline is built, on a thread.

        Blocking is fine here (mounts are served meanwhile, off this thread): import a heavy client
        library, say, so that the first mount does not. Only ``serve`` calls it; a one-shot command
        loads what it needs on first use. An exception is logged and the plugin keeps serving.
        """
