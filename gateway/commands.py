"""The commands other than ``serve``: ``mount``, ``validate``, ``secret-objects``, ``plugins`` and ``version``.

Each runs on what :mod:`gateway.compose` builds (the plugins loaded, the settings parsed, the pipeline).
``version`` answers from package metadata without importing any plugin.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from gateway import __version__, secretobjects
from gateway.app import Gateway, build_gateway
from gateway.client import DriverClient, MountFailure
from gateway.compose import configure, pipeline
from gateway.errors import GatewayError
from gateway.manifests import ManifestError, PodContext, SpcDocument, driver_attributes, load_parameters, load_spcs
from gateway.model import MountedFile, MountResult
from gateway.plugins import ENTRY_POINT_GROUP, PluginSet
from gateway.request import RawMountRequest
from gateway.server import API_VERSION, GatewayServer
from gateway.settings import Settings
from gateway.validate import validate_spc

Handler = Callable[[argparse.Namespace, Settings, PluginSet], int]


def run(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Configure from ``argv`` and run its command."""
    args, settings, plugins = configure(argv, env)
    return HANDLERS[args.command](args, settings, plugins)


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
            server = GatewayServer.of(pipeline(replace(settings, providers_dir=Path(directory)), plugins))
            await server.start()
            try:
                async with DriverClient(server.socket.path) as client:
                    return await client.mount(request), f"via a real server on {server.socket.path}"
            finally:
                await server.stop()
    gateway = pipeline(settings, plugins)
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
    gateway = pipeline(settings, plugins)
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
    parsed = pipeline(settings, plugins).planner.parse(spc.parameters)
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


HANDLERS: dict[str, Handler] = {
    "mount": run_mount, "validate": run_validate, "secret-objects": run_secret_objects, "plugins": run_plugins,
    "version": lambda args, settings, plugins: run_version(),
}
