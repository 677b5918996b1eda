"""The ``secrets-gateway`` command line — the composition root for every command.

The subcommand is found first: ``version`` (and ``--version``) answer from package metadata without
importing any plugin. The other commands load the plugins (they may add settings), build the flags
from the option tables (:data:`gateway.settings.CORE_OPTIONS` plus the plugins'), parse the
arguments, resolve every option once (flag, else ``SECRETS_GATEWAY_<NAME>``, else its default) and
run. A bad value anywhere is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from gateway import __version__, log, secretobjects
from gateway.app import Gateway, build_gateway
from gateway.client import DriverClient, MountFailure
from gateway.errors import GatewayError, StartupError
from gateway.http import OpsServer, parse_address, raise_descriptor_limit
from gateway.manifests import ManifestError, PodContext, SpcDocument, driver_attributes, load_parameters, load_spcs
from gateway.model import MountedFile, MountResult
from gateway.options import PIPELINE_COMMANDS, Option, OptionRegistry, did_you_mean
from gateway.plugins import ENTRY_POINT_GROUP, PluginSet, load_plugins
from gateway.request import RawMountRequest
from gateway.server import API_VERSION, GatewayServer
from gateway.settings import CORE_OPTIONS, GLOBAL_OPTIONS, PLUGINS, Settings, settings_from
from gateway.validate import validate_spc

OUTPUT_FORMATS = ("text", "json", "yaml")
Handler = Callable[[argparse.Namespace, Settings, PluginSet], int]


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
    if command == "version" and "--help" not in argv and "-h" not in argv:
        return run_version()
    plugins = load_plugins(PLUGINS.resolve(_early_plugins(argv), env)) if command in PIPELINE_COMMANDS else load_plugins(
        None, discover=False
    )
    options = OptionRegistry(reserved=(option.name for option in CORE_OPTIONS))
    plugins.add_options(options)
    args = build_parser(options.options.values()).parse_args(argv)
    core = {option.name: option.resolve(_flag(args, option), env) for option in CORE_OPTIONS}
    plugin_values = {  # only the ones set: a plugin may have a fallback of its own (e.g. VAULT_ADDR) before the default
        name: option.resolve(_flag(args, option), env) for name, option in options.options.items() if option.is_given(_flag(args, option), env)
    }
    settings = settings_from(core, plugin_values)
    log.configure(settings.log_level, settings.log_format)
    handler: Handler = args.handler
    return handler(args, settings, plugins)


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


def _early_plugins(argv: Sequence[str]) -> str | None:
    """``--plugins`` wherever it stands (before or after the subcommand), before the full parse."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(f"--{PLUGINS.name}", dest="value")
    return parser.parse_known_args(argv)[0].value  # type: ignore[no-any-return]


def _dest(option: Option[Any]) -> str:
    return f"option:{option.name}"


def _flag(args: argparse.Namespace, option: Option[Any]) -> str | None:
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
    handlers: dict[str, Handler] = {
        "serve": run_serve, "mount": run_mount, "validate": run_validate, "secret-objects": run_secret_objects,
        "plugins": run_plugins, "version": _version_handler,
    }
    for name, (summary, description) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=description)
        _add_options(sub, "global settings", GLOBAL_OPTIONS)
        _add_options(sub, "settings", [o for o in CORE_OPTIONS if name in o.commands and o not in GLOBAL_OPTIONS])
        _add_options(sub, "plugin settings", [o for o in plugin_options if name in o.commands])
        sub.set_defaults(handler=handlers[name])
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


# --------------------------------------------------------------------------- commands


def _pipeline(settings: Settings, plugins: PluginSet) -> Gateway:
    """The gateway a command runs; without a single backend it stops with the reason (e.g. a --plugins typo)."""
    gateway = build_gateway(settings, plugins)
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


def run_serve(args: argparse.Namespace, settings: Settings, plugins: PluginSet) -> int:
    try:
        address = parse_address(settings.http_address)
    except ValueError as exc:
        raise StartupError(f"--http-address: {exc}") from None
    check_providers_dir(settings.providers_dir)
    gateway = _pipeline(settings, plugins)  # no backend: no socket (the driver would wait on it for nothing)
    for failure in plugins.failures:
        print(f"warning: {failure.describe()}", file=sys.stderr)
    log.route_native_stderr()
    raise_descriptor_limit()
    asyncio.run(serve(gateway, address))
    return 0


async def serve(gateway: Gateway, http_address: tuple[str | None, int] | None) -> None:
    """The provider socket plus the operations endpoint, until SIGTERM/SIGINT."""
    server = GatewayServer(gateway)
    ops = OpsServer(*http_address, gateway.metrics.registry, server.readiness) if http_address else None
    if ops is not None:
        await ops.start()
    try:
        await server.run_until_signalled()
    finally:
        if ops is not None:
            await ops.stop()


def run_mount(args: argparse.Namespace, settings: Settings, plugins: PluginSet) -> int:
    try:
        spc = _select_spc(args)
        request = RawMountRequest(
            attributes=json.dumps(driver_attributes(spc, _pod_context(args))),
            secrets="{}",
            permission=args.permission,
            target_path=str(args.out) if args.out else "(secrets-gateway mount: no --out)",  # the driver always sends one
            current_versions=tuple(_pairs(args.current_version, "--current-version")),
        )
    except (ManifestError, ValueError, OSError) as exc:
        print(f"secrets-gateway mount: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        result, via = asyncio.run(_mount(args, settings, plugins, request))
    except MountFailure as failure:
        event = failure.pod_event(args.namespace, args.pod_name, attempts=1)
        if args.output != "text":
            _emit(args.output, {"spc": spc.name, "ok": False, "code": failure.code_name, "message": failure.message, "event": event})
        print(event, file=sys.stderr)
        if failure.retryable_by_driver:
            print(f"note: tried once; the driver retries {failure.code_name} (up to {failure.driver_attempts} attempts in all)",
                  file=sys.stderr)
        return 1
    elapsed = (time.perf_counter() - started) * 1000
    if args.output != "text":
        _emit(args.output, {"spc": spc.name, "ok": True, "via": via, "elapsed_ms": round(elapsed, 1),
                            "files": [_file_entry(file, args.show_values) for file in sorted(result.files, key=lambda f: f.path)]})
    else:
        print(f'Mounted {len(result.files)} files from SecretProviderClass "{spc.name}" {via} in {elapsed:.1f} ms')
        _print_files(result, args.show_values)
    if args.out:
        write_files(result, args.out)
        if args.output == "text":
            print(f"Files written to {args.out}")
    return 0


async def _mount(args: argparse.Namespace, settings: Settings, plugins: PluginSet, request: RawMountRequest) -> tuple[MountResult, str]:
    if args.socket:
        async with DriverClient(args.socket) as client:
            return await client.mount(request), f"via socket {args.socket}"
    if args.serve:
        with tempfile.TemporaryDirectory(prefix="sgw-") as directory:
            server = GatewayServer(_pipeline(replace(settings, providers_dir=Path(directory)), plugins))
            await server.start()
            try:
                async with DriverClient(server.socket.path) as client:
                    return await client.mount(request), f"via a real server on {server.socket.path}"
            finally:
                await server.stop()
    gateway = _pipeline(settings, plugins)
    try:
        return await gateway.service.mount(request), "in process"
    except GatewayError as exc:
        raise MountFailure(exc.code, exc.message) from None
    finally:
        await gateway.aclose()


def _select_spc(args: argparse.Namespace) -> SpcDocument:
    if args.parameters:
        return load_parameters(args.spc)
    found = load_spcs(args.spc)
    documents = [d for d in found if d.name == args.spc_name] if args.spc_name else found
    if len(documents) != 1:
        names = ", ".join(d.name for d in found) or "none"
        wanted = f' named "{args.spc_name}"' if args.spc_name else ""
        raise ManifestError(f"{args.spc}: expected one SecretProviderClass{wanted}, found: {names} (use --spc-name)")
    for problem in documents[0].problems:
        print(f"warning: {documents[0].source}: {problem}", file=sys.stderr)
    return documents[0]


def _pod_context(args: argparse.Namespace) -> PodContext:
    tokens = dict(_pairs(args.token, "--token"))
    for audience, path in _pairs(args.token_file, "--token-file"):
        tokens[audience] = Path(path).read_text(encoding="utf-8").strip()
    context = PodContext(args.pod_name, args.namespace, args.service_account, tokens=tokens)
    return replace(context, uid=args.pod_uid) if args.pod_uid else context


def _pairs(values: list[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} expects KEY=VALUE, got {value.split('=')[0]!r}…")
        pairs.append((key, rest))
    return pairs


def _print_files(result: MountResult, show_values: bool) -> None:
    width = max((len(str(len(f.contents))) for f in result.files), default=1)
    for file in sorted(result.files, key=lambda f: f.path):
        print(f"  {_mode_string(file.mode)}  {len(file.contents):>{width}}  {file.version or '-':<12}  {file.path}")
        if show_values:
            print("      " + _printable(file.contents).replace("\n", "\n      "))


def _mode_string(mode: int) -> str:
    bits = "rwxrwxrwx"
    return "-" + "".join(bit if mode & (1 << (8 - i)) else "-" for i, bit in enumerate(bits))


def _printable(contents: bytes) -> str:
    try:
        text = contents.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(contents)} bytes of binary data>"
    return text if text.isprintable() or "\n" in text else repr(text)


def write_files(result: MountResult, directory: Path) -> None:
    """Write the file set like the driver: nested directories, exact modes."""
    for file in result.files:
        target = directory / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(file.contents)
        os.chmod(target, file.mode)


def _file_entry(file: MountedFile, show_values: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": file.path, "mode": f"{file.mode:04o}", "bytes": len(file.contents), "version": file.version}
    if show_values:
        entry["contents"] = _printable(file.contents)
    return entry


def _emit(output: str, document: Mapping[str, Any]) -> None:
    """Print a machine-readable document (``-o json`` or ``-o yaml``)."""
    if output == "yaml":
        print(yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True), end="")
    else:
        print(json.dumps(document, indent=2))


def run_validate(args: argparse.Namespace, settings: Settings, plugins: PluginSet) -> int:
    gateway = _pipeline(settings, plugins)
    text = args.output == "text"
    errors = warnings = checked = 0
    report: list[dict[str, Any]] = []
    for path in args.files:
        try:
            documents = [load_parameters(path)] if args.parameters else load_spcs(path)
        except ManifestError as exc:
            report.append({"source": str(path), "name": None, "findings": [{"level": "error", "message": str(exc)}]})
            errors += 1
            if text:
                print(f"error: {exc}")
            continue
        if not documents:
            report.append({"source": str(path), "name": None, "findings": [{"level": "warning", "message": "no SecretProviderClass found"}]})
            warnings += 1
            if text:
                print(f"warning: {path}: no SecretProviderClass found")
        for spc in documents:
            checked += 1
            findings = validate_spc(spc, gateway.planner, gateway.backends, gateway.settings.provider_name)
            report.append({"source": str(spc.source), "name": spc.name or None,
                           "findings": [{"level": f.level, "message": f.message} for f in findings]})
            if text:
                for finding in findings:
                    print(f"{finding.level}: {spc.source} ({spc.name or 'parameters'}): {finding.message}")
            errors += sum(f.level == "error" for f in findings)
            warnings += sum(f.level == "warning" for f in findings)
    if text:
        print(f"{checked} SecretProviderClass checked: {errors} error(s), {warnings} warning(s)")
    else:
        _emit(args.output, {"checked": checked, "errors": errors, "warnings": warnings, "documents": report})
    return 1 if errors else 0


def run_secret_objects(args: argparse.Namespace, settings: Settings, plugins: PluginSet) -> int:
    try:
        spc = _select_spc(args)
    except ManifestError as exc:
        print(f"secrets-gateway secret-objects: {exc}", file=sys.stderr)
        return 2
    parsed = _pipeline(settings, plugins).planner.parse(spc.parameters)
    if parsed.problems:
        for problem in parsed.problems:
            print(f"error: {spc.source} ({spc.name}): {problem}", file=sys.stderr)
        return 1
    if args.check:
        problems = secretobjects.differences(parsed, spc.secret_objects)
        for problem in problems:
            print(f"{spc.source} ({spc.name}): {problem}")
        if not problems:
            print(f'secretObjects of "{spc.name}" cover its {len(secretobjects.mounted_files(parsed))} mounted files')
        return 1 if problems else 0
    derived = secretobjects.derive(parsed, args.secret_name or spc.name, args.type, spc.secret_objects)
    for note in derived.notes:
        print(f"note: {note}", file=sys.stderr)
    print(secretobjects.block_yaml(derived), end="")
    return 0


def run_plugins(args: argparse.Namespace, settings: Settings, plugins: PluginSet) -> int:
    gateway = build_gateway(settings, plugins)  # reports plugins named in --plugins but not installed
    report = plugin_report(gateway)
    if args.output != "text":
        _emit(args.output, report)
        return 1 if report["failures"] else 0
    for plugin in report["plugins"]:
        print(f"{plugin['name']:<12} {plugin['distribution']} {plugin['version']}".rstrip())
        for backend in plugin["backends"]:
            print(f"  backend {backend['name']}: {backend['description']}")
    for dialect in report["dialects"]:
        chosen = " (this server's)" if dialect["active"] else ""
        print(f"dialect {dialect['name']}{chosen}: {dialect['description']}")
    for failure in report["failures"]:
        print(f"FAILED {failure}")
    for name in report["skipped"]:
        print(f"skipped {name} (not in --plugins)")
    return 1 if report["failures"] else 0


def plugin_report(gateway: Gateway) -> dict[str, Any]:
    """Plugins, their backends and load failures (also the readiness detail)."""
    entries = gateway.backends.entries()
    return {
        "plugins": [
            {
                "name": info.name,
                "distribution": info.distribution,
                "version": info.version,
                "backends": [
                    {"name": e.backend.name, "description": e.backend.description}
                    for e in entries
                    if e.plugin.name == info.name
                ],
            }
            for info in gateway.plugins.loaded
        ],
        "dialects": [
            {
                "name": dialect.name,
                "description": dialect.description,
                "provider_names": list(dialect.provider_names),
                "active": dialect is gateway.dialects.for_provider(gateway.settings.provider_name),
            }
            for dialect in gateway.dialects.all()
        ],
        "failures": [failure.describe() for failure in gateway.plugins.failures],
        "skipped": [info.name for info in gateway.plugins.skipped],
    }


def run_version() -> int:
    """Versions from package metadata: no plugin is imported, so this starts fast."""
    print(f"secrets-gateway {__version__} (provider API {API_VERSION}, Python {sys.version.split()[0]})")
    for entry_point in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        dist = entry_point.dist
        print(f"  plugin {entry_point.name}: {dist.name if dist else ''} {dist.version if dist else ''}".rstrip())
    return 0


def _version_handler(args: argparse.Namespace, settings: Settings, plugins: PluginSet) -> int:
    return run_version()
