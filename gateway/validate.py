"""``secrets-gateway validate``: every problem of a SecretProviderClass, without fetching anything.

Runs the same parsing and checks as a Mount (with locations taken from the parameters
when they are there), and checks that each ``secretObjects[].data[].objectName`` names a
file the class really produces — a mismatch makes Kubernetes Secret sync fail silently.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from gateway.backend import Backend, BackendRegistry
from gateway.dialect import DIALECT_PARAMETER
from gateway.errors import GatewayError
from gateway.manifests import SpcDocument
from gateway.model import ObjectSpec
from gateway.objects import ParsedObjects
from gateway.planner import PARSE_PARAMETERS, Planner, check_locations, unknown_parameter_messages
from gateway.secretobjects import data_key_problems, expansion_prefixes, mounted_files
from gateway.text import preview


@dataclass(frozen=True)
class Finding:
    level: str  # "error" or "warning"
    message: str


def validate_spc(spc: SpcDocument, planner: Planner, backends: BackendRegistry, provider_name: str = "") -> list[Finding]:
    findings = [Finding("error", problem) for problem in spc.problems]
    if provider_name and spc.provider and spc.provider != provider_name:
        findings.append(Finding("warning", f'spec.provider is "{spc.provider}" but this gateway serves "{provider_name}"'))
    parsed = planner.parse(spc.parameters)
    meant = planner.dialects.for_provider(spc.provider) if spc.provider else None
    if meant is not None and meant.name != parsed.dialect and not spc.parameters.get(DIALECT_PARAMETER):
        findings.append(
            Finding("warning", f'the class is read in dialect "{parsed.dialect}"; provider "{spc.provider}" reads it in '
                               f'"{meant.name}" (serve with --provider-name {spc.provider}, or set the parameter {DIALECT_PARAMETER})')
        )
    findings += [Finding("error", problem) for problem in parsed.problems]
    findings += [Finding("warning", warning) for warning in parsed.warnings]
    findings += [Finding("warning", warning) for warning in _misspelt_parameters(spc, planner, backends)]
    findings += [Finding("error", p) for p in _parameter_problems(parsed, spc, backends)]
    if parsed.problems:
        return findings
    if not parsed.objects:
        findings.append(Finding("error", 'no objects: the parameter "objects" is missing or empty'))
    findings += [Finding("error", p) for p in _location_problems(parsed, spc, backends)]
    used = _backends_in_use(parsed, backends)
    level = "error" if planner.strict else "warning"
    findings += [Finding(level, message) for message in unknown_parameter_messages(used, spc.parameters)]
    findings += _secret_object_findings(spc, parsed)
    return findings


def _backends_in_use(parsed: ParsedObjects, backends: BackendRegistry) -> list[Backend]:
    return [backend for name in sorted({obj.backend for obj in parsed.objects}) if (backend := backends.get(name)) is not None]


def _parameter_problems(parsed: ParsedObjects, spc: SpcDocument, backends: BackendRegistry) -> list[str]:
    """What each backend in use refuses in the class parameters (a mount meets the same at its start)."""
    return [f"{b.name}: {problem}" for b in _backends_in_use(parsed, backends) for problem in b.check_parameters(spc.parameters)]


def _misspelt_parameters(spc: SpcDocument, planner: Planner, backends: BackendRegistry) -> list[str]:
    """Parameters nothing reads whose name is close to one that something does (``regoin`` → ``region``).

    Only near misses are reported: a class may carry parameters meant for other tools."""
    known = {*PARSE_PARAMETERS, *(p for dialect in planner.dialects.all() for p in dialect.parameters)}
    for entry in backends.entries():
        backend = entry.backend
        known |= {backend.location_parameter, backend.failover_parameter, *backend.parameters} - {""}
    by_lower = {name.lower(): name for name in known}
    warnings = []
    for name in sorted(spc.parameters):
        if name in known or "/" in name:
            continue
        close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.8)
        if close:
            warnings.append(f'unknown parameter "{preview(name)}" (did you mean "{by_lower[close[0]]}"?)')
    return warnings


def _location_problems(parsed: ParsedObjects, spc: SpcDocument, backends: BackendRegistry) -> list[str]:
    locations = {}
    problems = []
    for name in sorted({obj.backend for obj in parsed.objects}):
        backend = backends.get(name)
        try:
            found = backend.static_locations(spc.parameters) if backend else None
        except GatewayError as exc:
            problems.append(f"{name}: {exc.message}")
            continue
        if found is not None:
            locations[name] = found
    return problems + check_locations(parsed.objects, locations, backends)


def produced_paths(parsed: ParsedObjects) -> tuple[set[str], list[tuple[str, ObjectSpec]]]:
    """Paths known before fetching, and the path prefixes of objects whose keys are expanded."""
    return set(mounted_files(parsed)), expansion_prefixes(parsed)


def _secret_object_findings(spc: SpcDocument, parsed: ParsedObjects) -> list[Finding]:
    known, prefixes = produced_paths(parsed)
    findings = []
    for number, secret_object in enumerate(spc.secret_objects):
        where = f"secretObjects[{number}]"
        if not isinstance(secret_object, dict):
            findings.append(Finding("error", f"{where} must be a mapping"))
            continue
        if not secret_object.get("secretName"):
            findings.append(Finding("error", f"{where}: secretName is required"))
        data = secret_object.get("data") or []
        if not isinstance(data, list):
            findings.append(Finding("error", f"{where}.data must be a list"))
            continue
        keys = data_key_problems(data)
        for index, entry in enumerate(data):
            item = f"{where}.data[{index}]"
            if not isinstance(entry, dict) or not entry.get("objectName") or not entry.get("key"):
                findings.append(Finding("error", f"{item} needs objectName and key"))
                continue
            findings += [Finding("error", f"{item}: {problem}") for problem in keys.get(index, [])]
            object_name = str(entry["objectName"])
            if object_name in known:
                continue
            match = next((obj for prefix, obj in prefixes if object_name.startswith(prefix)), None)
            if match is not None:
                findings.append(
                    Finding("warning", f'{item}: "{object_name}" can only come from the expanded keys of {match.label}; '
                                       "whether that key exists is known only at mount time")
                )
                continue
            choices = ", ".join(sorted(known)[:10])
            findings.append(
                Finding("error", f'{item}: objectName "{object_name}" is not a file this SecretProviderClass produces '
                                 f"(files: {choices}); the Kubernetes Secret would never be synced")
            )
    return findings
