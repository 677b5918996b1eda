"""The ``secrets-gateway`` command line — the composition root for every command.

The subcommand is found first. ``serve`` resolves the core settings alone and starts its socket before
it imports the plugins or the mount pipeline (:mod:`gateway.serve`); the plugins' flags are checked once
they are loaded (:mod:`gateway.compose`). Every other command runs from :mod:`gateway.commands`, which loads the plugins first.
A bad value anywhere is one line on stderr and exit status 2 (for ``serve``, with no socket left behind).

So that ``serve`` answers on its socket early, this module imports only what that takes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway import log, serve
from gateway.errors import StartupError
from gateway.http import parse_address, raise_descriptor_limit
from gateway.metrics import Metrics
from gateway.options import Option
from gateway.settings import CORE_OPTIONS, GLOBAL_OPTIONS, PLUGINS, Settings, settings_from

if TYPE_CHECKING:
    from gateway.app import Gateway

OUTPUT_FORMATS = ("text", "json", "yaml")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(argv, os.environ)
    except StartupError as exc:
        print(f"secrets-gateway: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `secrets-gateway mount ... | head`
        sys.stderr.close()
        return 141


def _run(argv: list[str], env: Mapping[str, str]) -> int:
    command = command_of(argv)
    asks_help = "--help" in argv or "-h" in argv
    if command == "serve" and not asks_help:
        return run_serve(argv, env)
    from gateway import commands  # the whole pipeline: `serve` imports it only once its socket is up

    if command == "version" and not asks_help:
        return commands.run_version()
    return commands.run(argv, env)


def run_serve(argv: list[str], env: Mapping[str, str]) -> int:
    """Check the core settings, then serve: the socket first, the plugins and the pipeline behind it."""
    settings = core_settings(argv, env)
    log.configure(settings.log_level, settings.log_format)
    try:
        address = parse_address(settings.http_address)
    except ValueError as exc:
        raise StartupError(f"--http-address: {exc}") from None
    check_providers_dir(settings.providers_dir)
    log.route_native_stderr()
    raise_descriptor_limit()
    asyncio.run(serve.serve(settings, address, lambda metrics: _serve_pipeline(argv, env, metrics)))
    return 0


def _serve_pipeline(argv: list[str], env: Mapping[str, str], metrics: Metrics) -> Gateway:
    from gateway import compose  # on serve's start thread, once the socket answers

    return compose.serve_pipeline(argv, env, metrics)


def check_providers_dir(path: Path) -> None:
    """The providers directory exists (or can be made) and this process can create a socket in it."""
    if path.exists() and not path.is_dir():
        raise StartupError(f"--providers-dir {path} is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"--providers-dir {path} cannot be created: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise StartupError(f"--providers-dir {path} is not writable by this process (uid {os.getuid()})")


def core_settings(argv: Sequence[str], env: Mapping[str, str]) -> Settings:
    """The core settings of ``argv`` alone; the plugins' flags are left for the full parse."""
    args, _ = build_parser().parse_known_args(argv)
    return settings_from(resolve_core(args, env), {})


def resolve_core(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    return {option.name: option.resolve(flag_value(args, option), env) for option in CORE_OPTIONS}


# --------------------------------------------------------------------------- parser


def command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (``--version`` before it counts as ``version``)."""
    takes_value = {f"--{option.name}" for option in GLOBAL_OPTIONS}
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token == "--version":
            return "version"
        elif token in takes_value:
            skip = True
        elif not token.startswith("-"):
            return token
    return None


def early_plugins(argv: Sequence[str]) -> str | None:
    """``--plugins`` wherever it stands (before or after the subcommand), before the full parse."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(f"--{PLUGINS.name}", dest="value")
    return parser.parse_known_args(argv)[0].value  # type: ignore[no-any-return]


def _dest(option: Option[Any]) -> str:
    return f"option:{option.name}"


def flag_value(args: argparse.Namespace, option: Option[Any]) -> str | None:
    value: str | None = getattr(args, _dest(option), None)
    return value


COMMANDS: dict[str, tuple[str, str]] = {
    "serve": (
        "serve the provider socket for the CSI driver",
        "Serve the provider API on <providers-dir>/<provider-name>.sock until SIGTERM/SIGINT.",
    ),
    "mount": (
        "run one SecretProviderClass through the full pipeline (driver emulator)",
        "Emulate the driver: build the Mount request from a SecretProviderClass and pod flags, run it "
        "in process (default), against a running socket (--socket) or a server started for the occasion (--serve), "
        "then print a summary or write the files. Exits 1 with the pod event text on failure.",
    ),
    "validate": (
        "check SecretProviderClass manifests without fetching",
        "List every problem of each SecretProviderClass in the files, including secretObjects that "
        "name files the class does not produce. Exit 1 when there are errors.",
    ),
    "secret-objects": (
        "print the secretObjects block derived from a class's objects",
        "Print spec.secretObjects for a SecretProviderClass: one Secret key per file it mounts, named "
        "validly for a Kubernetes Secret. --check instead reports where the class's own block differs (exit 1).",
    ),
    "plugins": ("list plugins, their backends and load errors", "List the plugins, their backends and load errors."),
    "version": ("print the gateway and plugin versions", "Print the gateway and plugin versions (no plugin is imported)."),
}


def build_parser(plugin_options: Iterable[Option[Any]] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="secrets-gateway",
        description="Multi-backend secrets provider for the Kubernetes Secrets Store CSI Driver.",
        epilog="Every setting also reads SECRETS_GATEWAY_<NAME> from the environment (a flag wins). "
        "Booleans: true/false (also 1/0, t/f, TRUE/FALSE, True/False); a bare boolean flag means true. "
        "Run `secrets-gateway COMMAND --help` for the settings of a command.",
    )
    parser.add_argument("--version", action="store_true", help="print the gateway and plugin versions and exit")
    _add_options(parser, "global settings (also accepted after the command)", GLOBAL_OPTIONS)
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    plugin_options = tuple(plugin_options)
    for name, (summary, description) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=description)
        _add_options(sub, "global settings", GLOBAL_OPTIONS)
        _add_options(sub, "settings", [o for o in CORE_OPTIONS if name in o.commands and o not in GLOBAL_OPTIONS])
        _add_options(sub, "plugin settings", [o for o in plugin_options if name in o.commands])
        sub.set_defaults(command=name)
    _mount_arguments(commands.choices["mount"])
    _validate_arguments(commands.choices["validate"])
    _secret_objects_arguments(commands.choices["secret-objects"])
    _output_argument(commands.choices["plugins"])
    return parser


def _add_options(parser: argparse.ArgumentParser, title: str, options: Sequence[Option[Any]]) -> None:
    if not options:
        return
    group = parser.add_argument_group(title)
    for option in options:
        text = f"{option.help} (default {option.show_default()}; env {option.env_var})".replace("%", "%%")
        if option.is_flag:
            group.add_argument(f"--{option.name}", dest=_dest(option), nargs="?", const="true", metavar="BOOL",
                               default=argparse.SUPPRESS, help=text)
        else:
            metavar = "{" + ",".join(map(str, option.choices)) + "}" if option.choices else option.dest.upper()
            group.add_argument(f"--{option.name}", dest=_dest(option), metavar=metavar, default=argparse.SUPPRESS, help=text)


def _output_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", choices=OUTPUT_FORMATS, default="text", help="output format (default text)")


def _secret_objects_arguments(secret_objects: argparse.ArgumentParser) -> None:
    secret_objects.add_argument("spc", type=Path, help="SecretProviderClass manifest")
    secret_objects.add_argument("--spc-name", help="which SecretProviderClass, when the file holds several")
    secret_objects.add_argument("--secret-name", help="the Secret's name (default: the class's own secretName, else its name)")
    secret_objects.add_argument("--type", default="Opaque", help="the Secret's type when the class sets none (default Opaque)")
    secret_objects.add_argument("--check", action="store_true", help="compare with the class's secretObjects instead")
    secret_objects.set_defaults(parameters=False)


def _validate_arguments(validate: argparse.ArgumentParser) -> None:
    validate.add_argument("files", nargs="+", type=Path, help="manifest files (multi-document YAML)")
    validate.add_argument("--parameters", action="store_true", help="the files are bare parameter mappings, not manifests")
    _output_argument(validate)


def _mount_arguments(mount: argparse.ArgumentParser) -> None:
    source = mount.add_argument_group("what to mount")
    source.add_argument("spc", type=Path, help="SecretProviderClass manifest (or a parameters file with --parameters)")
    source.add_argument("--spc-name", help="which SecretProviderClass, when the file holds several")
    source.add_argument("--parameters", action="store_true", help="the file is a bare mapping of SPC parameters")
    pod = mount.add_argument_group("pod identity (what kubelet would send)")
    pod.add_argument("--pod-name", default="demo-pod")
    pod.add_argument("--namespace", default="default")
    pod.add_argument("--service-account", default="default")
    pod.add_argument("--pod-uid", default="")
    pod.add_argument("--token", action="append", default=[], metavar="AUDIENCE=JWT",
                     help="a service-account token for an audience (repeatable)")
    pod.add_argument("--token-file", action="append", default=[], metavar="AUDIENCE=PATH", help="read a token from a file")
    pod.add_argument("--permission", default="420", help='default file mode as the driver sends it (decimal, default "420" = 0644)')
    pod.add_argument("--current-version", action="append", default=[], metavar="ID=VERSION",
                     help="object versions a v1.5 driver would send on rotation (repeatable)")
    how = mount.add_argument_group("how to call the provider").add_mutually_exclusive_group()
    how.add_argument("--socket", type=Path, help="call a running provider on this socket")
    how.add_argument("--serve", action="store_true", help="start a real server on a temporary socket and mount through it")
    out = mount.add_argument_group("output")
    out.add_argument("--out", type=Path, help="write the files (with their modes) into this directory")
    out.add_argument("--show-values", action="store_true", help="print file contents (careful: real secrets)")
    _output_argument(mount)


