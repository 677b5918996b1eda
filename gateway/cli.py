"""The ``secrets-gateway`` command line — the composition root for every command.

Plugins load first (they may add settings flags), then the arguments are parsed with
their flags included, then the command runs. Every setting flag also reads an
environment variable ``SECRETS_GATEWAY_<FLAG>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway import __version__, log, secretobjects
from gateway.app import Gateway, build_gateway
from gateway.client import DriverClient, MountFailure
from gateway.errors import GatewayError, StartupError
from gateway.http import OpsServer, parse_address
from gateway.manifests import ManifestError, PodContext, SpcDocument, driver_attributes, load_parameters, load_spcs
from gateway.model import MountResult
from gateway.plugins import PluginSet, load_plugins
from gateway.request import RawMountRequest
from gateway.server import API_VERSION, GatewayServer
from gateway.settings import DEFAULT_PROVIDER_NAME, DEFAULT_PROVIDERS_DIR, PROVIDER_NAME, OptionRegistry, Settings
from gateway.validate import validate_spc

ENV_PREFIX = "SECRETS_GATEWAY_"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    early, _ = _early_parser().parse_known_args(argv)
    plugins = load_plugins(_allow_list(early.plugins))
    options = OptionRegistry()
    plugins.add_options(options)
    args = build_parser(options).parse_args(argv)
    log.configure(args.log_level, args.log_format)
    handler: Callable[[argparse.Namespace, PluginSet], int] = args.handler
    try:
        return handler(args, plugins)
    except StartupError as exc:
        print(f"secrets-gateway: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `secrets-gateway mount ... | head`
        sys.stderr.close()
        return 141


# --------------------------------------------------------------------------- parser


def _env(name: str, default: str = "") -> str:
    return os.environ.get(ENV_PREFIX + name.upper().replace("-", "_"), default)


def _early_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--plugins", default=_env("plugins"))
    return parser


def _allow_list(value: str) -> frozenset[str] | None:
    names = frozenset(part.strip() for part in value.split(",") if part.strip())
    return names or None


def build_parser(options: OptionRegistry) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="secrets-gateway",
        description="Multi-backend secrets provider for the Kubernetes Secrets Store CSI Driver.",
        epilog="Every --flag of the settings also reads SECRETS_GATEWAY_<FLAG> from the environment.",
    )
    parser.add_argument("--log-level", default=_env("log-level", "info"), choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", default=_env("log-format", "text"), choices=["text", "json"])
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    settings = _settings_parent(options)

    serve = commands.add_parser("serve", parents=[settings], help="serve the provider socket for the CSI driver",
                                description="Serve the provider API on <providers-dir>/<provider-name>.sock until SIGTERM/SIGINT.")
    serve.set_defaults(handler=run_serve)

    mount = commands.add_parser(
        "mount", parents=[settings], help="run one SecretProviderClass through the full pipeline (driver emulator)",
        description="Emulate the driver: build the Mount request from a SecretProviderClass and pod flags, run it "
        "in process (default), against a running socket (--socket) or a server started for the occasion (--serve), "
        "then print a summary or write the files. Exits 1 with the pod event text on failure.",
    )
    _mount_arguments(mount)
    mount.set_defaults(handler=run_mount)

    validate = commands.add_parser(
        "validate", parents=[settings], help="check SecretProviderClass manifests without fetching",
        description="List every problem of each SecretProviderClass in the files, including secretObjects that "
        "name files the class does not produce. Exit 1 when there are errors.",
    )
    validate.add_argument("files", nargs="+", type=Path, help="manifest files (multi-document YAML)")
    validate.add_argument("--parameters", action="store_true", help="the files are bare parameter mappings, not manifests")
    validate.set_defaults(handler=run_validate)

    secret_objects = commands.add_parser(
        "secret-objects", parents=[settings], help="print the secretObjects block derived from a class's objects",
        description="Print spec.secretObjects for a SecretProviderClass: one Secret key per file it mounts, named "
        "validly for a Kubernetes Secret. --check instead reports where the class's own block differs (exit 1).",
    )
    secret_objects.add_argument("spc", type=Path, help="SecretProviderClass manifest")
    secret_objects.add_argument("--spc-name", help="which SecretProviderClass, when the file holds several")
    secret_objects.add_argument("--secret-name", help="the Secret's name (default: the class's own secretName, else its name)")
    secret_objects.add_argument("--type", default="Opaque", help="the Secret's type when the class sets none (default Opaque)")
    secret_objects.add_argument("--check", action="store_true", help="compare with the class's secretObjects instead")
    secret_objects.set_defaults(handler=run_secret_objects, parameters=False)

    plugins = commands.add_parser("plugins", parents=[settings], help="list plugins, their backends and load errors")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(handler=run_plugins)

    version = commands.add_parser("version", help="print the gateway and plugin versions")
    version.set_defaults(handler=run_version)
    return parser


def _settings_parent(options: OptionRegistry) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("settings")
    add = group.add_argument
    add("--providers-dir", type=Path, default=Path(_env("providers-dir", str(DEFAULT_PROVIDERS_DIR))),
        help="directory the driver looks for provider sockets in (default %(default)s)")
    add("--provider-name", default=_env("provider-name", DEFAULT_PROVIDER_NAME),
        help="socket name and SecretProviderClass spec.provider served; also chooses the dialect classes are read in, "
        "e.g. a plugin's dialect for classes written for another provider (default %(default)s)")
    add("--socket-mode", type=_octal, default=_octal(_env("socket-mode", "0600")), help="socket file mode (default 0600)")
    add("--grace-period", type=float, default=float(_env("grace-period", "10")), help="seconds in-flight mounts get at shutdown")
    add("--mount-timeout", type=float, default=float(_env("mount-timeout", "30")), help="deadline of one mount in seconds")
    add("--backend-timeout", type=float, default=float(_env("backend-timeout", "10")), help="timeout of one backend call in seconds")
    add("--max-parallel-calls", type=int, default=int(_env("max-parallel-calls", "32")), help="concurrent backend calls per mount")
    add("--max-concurrent-mounts", type=int, default=int(_env("max-concurrent-mounts", "64")),
        help="mounts served at once; more wait in a queue")
    add("--max-mounts-per-namespace", type=int, default=int(_env("max-mounts-per-namespace", "32")),
        help="mount slots one namespace may hold at once (fair share of --max-concurrent-mounts)")
    add("--max-queued-mounts", type=int, default=int(_env("max-queued-mounts", "1024")),
        help="mounts waiting for a slot; past that the namespace queueing the most is answered Unavailable")
    add("--max-objects", type=int, default=int(_env("max-objects", "1000")), help="objects allowed per mount")
    add("--max-value-bytes", type=int, default=int(_env("max-value-bytes", str(4 << 20))), help="largest value accepted from a backend")
    add("--max-response-bytes", type=int, default=int(_env("max-response-bytes", str(4 << 20))),
        help="largest Mount response (the driver refuses more than 4 MiB by default)")
    add("--strict-objects", action="store_true", default=_env("strict-objects") in ("1", "true"),
        help="reject unknown keys in object descriptors instead of warning")
    add("--default-object-type", default=_env("default-object-type"),
        help="backend for objects without objectType that no backend claims by name "
        "(an SPC may set the parameter defaultObjectType; a dialect may have its own)")
    add("--plugins", default=_env("plugins"), help="comma-separated allow-list of plugins to load (default: all installed)")
    add("--cache-ttl", type=float, default=float(_env("cache-ttl", "0")),
        help="seconds to keep fetched values in the node-local, identity-scoped cache; 0 (default) disables it")
    add("--cache-backends", default=_env("cache-backends"), help="comma-separated backends the cache covers (default: all)")
    add("--cache-max-entries", type=int, default=int(_env("cache-max-entries", "10000")), help="cache size bound")
    add("--http-address", default=_env("http-address", ":8095"),
        help='host:port for /metrics, /healthz and /readyz (serve only; ":port" = every interface, IPv4 and IPv6; '
        'empty disables; default %(default)s)')
    plugin_group = parent.add_argument_group("plugin settings")
    for option in options.options.values():
        plugin_group.add_argument(f"--{option.name}", default=os.environ.get(option.env_var, option.default),
                                  help=f"{option.help} (env {option.env_var})")
    parent.set_defaults(plugin_option_names=list(options.options))
    return parent


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


def _octal(text: str) -> int:
    try:
        return int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an octal file mode like 0600") from None


def settings_from(args: argparse.Namespace) -> Settings:
    if not PROVIDER_NAME.match(args.provider_name):
        raise StartupError(f'provider name "{args.provider_name}" must match ^[a-zA-Z0-9_-]{{1,30}}$ (the driver\'s rule)')
    return Settings(
        providers_dir=args.providers_dir,
        provider_name=args.provider_name,
        socket_mode=args.socket_mode,
        grace_period=args.grace_period,
        mount_timeout=args.mount_timeout,
        backend_timeout=args.backend_timeout,
        max_parallel_calls=args.max_parallel_calls,
        max_concurrent_mounts=args.max_concurrent_mounts,
        max_mounts_per_namespace=args.max_mounts_per_namespace,
        max_queued_mounts=args.max_queued_mounts,
        max_objects=args.max_objects,
        max_value_bytes=args.max_value_bytes,
        max_response_bytes=args.max_response_bytes,
        strict_objects=args.strict_objects,
        default_object_type=args.default_object_type,
        http_address=args.http_address,
        cache_ttl=args.cache_ttl,
        cache_backends=_allow_list(args.cache_backends),
        cache_max_entries=args.cache_max_entries,
        plugins=_allow_list(args.plugins),
        plugin_options={name: getattr(args, name.replace("-", "_")) or "" for name in args.plugin_option_names},
    )


# --------------------------------------------------------------------------- commands


def run_serve(args: argparse.Namespace, plugins: PluginSet) -> int:
    settings = settings_from(args)
    try:
        address = parse_address(settings.http_address)
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    gateway = build_gateway(settings, plugins)
    for failure in plugins.failures:
        print(f"warning: {failure.describe()}", file=sys.stderr)
    log.route_native_stderr()
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


def run_mount(args: argparse.Namespace, plugins: PluginSet) -> int:
    try:
        spc = _select_spc(args)
        request = RawMountRequest(
            attributes=json.dumps(driver_attributes(spc, _pod_context(args))),
            secrets="{}",
            permission=args.permission,
            current_versions=tuple(_pairs(args.current_version, "--current-version")),
        )
    except (ManifestError, ValueError) as exc:
        print(f"secrets-gateway mount: {exc}", file=sys.stderr)
        return 2
    settings = settings_from(args)
    started = time.perf_counter()
    try:
        result, via = asyncio.run(_mount(args, settings, plugins, request))
    except MountFailure as failure:
        print(failure.pod_event(args.namespace, args.pod_name), file=sys.stderr)
        return 1
    elapsed = (time.perf_counter() - started) * 1000
    print(f'Mounted {len(result.files)} files from SecretProviderClass "{spc.name}" {via} in {elapsed:.1f} ms')
    _print_files(result, args.show_values)
    if args.out:
        write_files(result, args.out)
        print(f"Files written to {args.out}")
    return 0


async def _mount(args: argparse.Namespace, settings: Settings, plugins: PluginSet, request: RawMountRequest) -> tuple[MountResult, str]:
    if args.socket:
        async with DriverClient(args.socket) as client:
            return await client.mount(request), f"via socket {args.socket}"
    if args.serve:
        with tempfile.TemporaryDirectory(prefix="sgw-") as directory:
            server = GatewayServer(build_gateway(replace(settings, providers_dir=Path(directory)), plugins))
            await server.start()
            try:
                async with DriverClient(server.socket.path) as client:
                    return await client.mount(request), f"via a real server on {server.socket.path}"
            finally:
                await server.stop()
    gateway = build_gateway(settings, plugins)
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


def run_validate(args: argparse.Namespace, plugins: PluginSet) -> int:
    gateway = build_gateway(settings_from(args), plugins)
    errors = warnings = checked = 0
    for path in args.files:
        try:
            documents = [load_parameters(path)] if args.parameters else load_spcs(path)
        except ManifestError as exc:
            print(f"error: {exc}")
            errors += 1
            continue
        if not documents:
            print(f"warning: {path}: no SecretProviderClass found")
            warnings += 1
        for spc in documents:
            checked += 1
            findings = validate_spc(spc, gateway.planner, gateway.backends, gateway.settings.provider_name)
            for finding in findings:
                print(f"{finding.level}: {spc.source} ({spc.name or 'parameters'}): {finding.message}")
            errors += sum(f.level == "error" for f in findings)
            warnings += sum(f.level == "warning" for f in findings)
    print(f"{checked} SecretProviderClass checked: {errors} error(s), {warnings} warning(s)")
    return 1 if errors else 0


def run_secret_objects(args: argparse.Namespace, plugins: PluginSet) -> int:
    try:
        spc = _select_spc(args)
    except ManifestError as exc:
        print(f"secrets-gateway secret-objects: {exc}", file=sys.stderr)
        return 2
    parsed = build_gateway(settings_from(args), plugins).planner.parse(spc.parameters)
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


def run_plugins(args: argparse.Namespace, plugins: PluginSet) -> int:
    gateway = build_gateway(settings_from(args), plugins)
    report = plugin_report(gateway)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
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


def run_version(args: argparse.Namespace, plugins: PluginSet) -> int:
    print(f"secrets-gateway {__version__} (provider API {API_VERSION}, Python {sys.version.split()[0]})")
    for info in plugins.loaded:
        print(f"  plugin {info.name}: {info.distribution} {info.version}".rstrip())
    return 0
