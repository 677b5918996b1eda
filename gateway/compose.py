"""What every command builds from its command line: the plugins, the settings, the pipeline.

:func:`configure` loads the plugins (they may add settings), builds the flags from the option tables
(:data:`gateway.settings.CORE_OPTIONS` plus the plugins'), parses the arguments and resolves every option once
(flag, else ``SECRETS_GATEWAY_<NAME>``, else its default). ``serve`` imports this module on its start thread once
its socket answers (:func:`serve_pipeline`); the one-shot commands (:mod:`gateway.commands`) and what only they
need (the driver client, manifests, validation) stay out of a serving process.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

from gateway import log
from gateway.app import Gateway, build_gateway
from gateway.cli import build_parser, command_of, early_plugins, flag_value, resolve_core
from gateway.errors import StartupError
from gateway.metrics import Metrics
from gateway.options import PIPELINE_COMMANDS, OptionRegistry, did_you_mean
from gateway.plugins import PluginSet, load_plugins
from gateway.settings import CORE_OPTIONS, PLUGINS, Settings, settings_from


def configure(
    argv: Sequence[str], env: Mapping[str, str], *, scan: bool = True,
) -> tuple[argparse.Namespace, Settings, PluginSet]:
    """The parsed arguments, the settings and the plugins (loaded) of ``argv``; a bad value raises StartupError.
    ``scan=False``: built-in plugins named in ``--plugins`` are imported without an entry-point scan (``serve``)."""
    if command_of(argv) in PIPELINE_COMMANDS:
        plugins = load_plugins(PLUGINS.resolve(early_plugins(argv), env), scan=scan)
    else:
        plugins = load_plugins(None, discover=False)
    options = OptionRegistry(reserved=(option.name for option in CORE_OPTIONS))
    plugins.add_options(options)
    args = build_parser(options.options.values()).parse_args(argv)
    plugin_values = {  # only the ones set: a plugin may have a fallback of its own (e.g. VAULT_ADDR) before the default
        name: option.resolve(flag_value(args, option), env)
        for name, option in options.options.items()
        if option.is_given(flag_value(args, option), env)
    }
    settings = settings_from(resolve_core(args, env), plugin_values)
    log.configure(settings.log_level, settings.log_format)
    return args, settings, plugins


def serve_pipeline(argv: Sequence[str], env: Mapping[str, str], metrics: Metrics) -> Gateway:
    """What ``serve`` builds once its socket is up: the plugins, the full command line checked, the gateway."""
    _, settings, plugins = configure(argv, env, scan=False)  # a long-running process: no importlib.metadata
    gateway = pipeline(settings, plugins, metrics)  # no backend: the socket is withdrawn (the driver would wait for nothing)
    for failure in plugins.failures:
        print(f"warning: {failure.describe()}", file=sys.stderr)
    return gateway


def pipeline(settings: Settings, plugins: PluginSet, metrics: Metrics | None = None) -> Gateway:
    """The gateway a command runs; without a single backend it stops with the reason (e.g. a --plugins typo)."""
    gateway = build_gateway(settings, plugins, metrics)
    if gateway.backends.names():
        return gateway
    missing = [f.plugin.name for f in plugins.failures if not f.plugin.distribution and f.error.startswith("not installed")]
    installed = sorted({info.name for info in (*plugins.loaded, *plugins.skipped)} | {f.plugin.name for f in plugins.failures} - set(missing))
    if missing:
        reason = f'--plugins names "{missing[0]}", which is not installed{did_you_mean(missing[0], installed)}'
    else:
        reason = plugins.failures[0].describe() if plugins.failures else "no plugin is installed or allowed"
    raise StartupError(f"no backends registered: {reason}; installed: {', '.join(installed) or 'none'} "
                       "(see `secrets-gateway plugins`)")
