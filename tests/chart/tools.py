"""Shared helpers of the chart tests: a pinned helm, the pinned driver chart, rendering, validation.

helm comes from ``go install helm.sh/helm/v3/cmd/helm@HELM_VERSION`` (through the Go module proxy)
into ``${XDG_CACHE_HOME:-~/.cache}/secrets-gateway/tools/helm-<version>/``, outside the clone, once;
later runs — from any clone, e.g. a fresh CI checkout with a cached home — reuse the binary after
checking the module version embedded in it. Without Go (and without a cached
binary) the tests that need helm are skipped with the reason; with SECRETS_GATEWAY_REQUIRE_HELM=1
they fail instead (for CI, where a silent skip would hide the chart tests).

The Secrets Store CSI Driver chart of the release the quickstart pins is part of the Go module
``sigs.k8s.io/secrets-store-csi-driver`` (the same module the interop test uses), so
``go mod download`` gives the real chart, CRDs included, without a Helm repository.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "secrets-gateway"
CI_DIR = CHART / "ci"
KIND_DIR = REPO / "deploy" / "kind"


def tools_dir() -> Path:
    """Where built test tools live: outside any clone, so every checkout reuses them."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "secrets-gateway" / "tools"


TOOLS_DIR = tools_dir()

#: pinned helm (a current v3 release, listed by `go list -m -versions helm.sh/helm/v3`)
HELM_VERSION = "v3.22.0"
HELM_MODULE = "helm.sh/helm/v3"
#: Kubernetes version for --kube-version and the offline JSON schemas (kubernetes-validate)
KUBE_VERSION = "1.37.0"
#: the Secrets Store CSI Driver release the quickstart installs (Go module version = chart version)
DRIVER_MODULE = "sigs.k8s.io/secrets-store-csi-driver"
DRIVER_VERSION = "v1.6.1"
DRIVER_CHART_VERSION = DRIVER_VERSION.removeprefix("v")

RELEASE = "sgw"
NAMESPACE = "kube-system"
INSTALL_TIMEOUT = 900  # first run: module download + compiling helm (about 2.5 minutes here)

#: custom resources whose schemas kubernetes-validate does not ship; checked by hand where rendered
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}


class RenderError(Exception):
    """helm refused to render; the message is helm's stderr."""


# --------------------------------------------------------------------------- tools


def _go() -> str | None:
    return shutil.which("go")


def _tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """helm's own state under TOOLS_DIR (not helm's defaults in the user's config); no cluster access."""
    state = TOOLS_DIR / "helm-state"
    env = dict(os.environ)
    env.update(
        HELM_CACHE_HOME=str(state / "cache"),
        HELM_CONFIG_HOME=str(state / "config"),
        HELM_DATA_HOME=str(state / "data"),
        KUBECONFIG=str(state / "no-kubeconfig"),
    )
    env.update(extra or {})
    return env


def binary_module_version(binary: Path, module: str) -> str | None:
    """The version of ``module`` recorded in a Go binary's build info (``mod\\t<path>\\t<version>``)."""
    pattern = re.compile(rb"mod\t" + re.escape(module.encode()) + rb"\t(v[0-9][^\t\n]*)")
    with contextlib.suppress(OSError), binary.open("rb") as handle:
        tail = b""
        while chunk := handle.read(1 << 22):
            match = pattern.search(tail + chunk)
            if match:
                return match.group(1).decode()
            tail = chunk[-256:]
    return None


def ensure_helm() -> Path:
    """The pinned helm binary, installed on first use; ``pytest.skip`` when that is impossible."""
    return go_tool("helm", f"{HELM_MODULE}/cmd/helm", HELM_MODULE, HELM_VERSION)


@cache
def go_tool(name: str, package: str, module: str, version: str) -> Path:
    """``go install package@version`` into TOOLS_DIR/<name>-<version>/ once (shared by every clone and
    session, under a lock); the binary's embedded module version proves a cached one is the pinned one."""
    target_dir = TOOLS_DIR / f"{name}-{version}"
    binary = target_dir / name
    if binary_module_version(binary, module) == version:
        return binary
    command = f"go install {package}@{version}"
    go = _go()
    if go is None:
        _unavailable(f"{name} {version} is not cached in {target_dir} and Go is not installed to build it (`{command}`)")
    target_dir.mkdir(parents=True, exist_ok=True)
    with _locked(TOOLS_DIR / f".{name}-install.lock"):
        if binary_module_version(binary, module) == version:  # another session installed it
            return binary
        env = dict(os.environ, GOBIN=str(target_dir), CGO_ENABLED="0")
        try:
            result = subprocess.run([go, "install", f"{package}@{version}"], env=env, cwd=TOOLS_DIR,
                                    capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            _unavailable(f"`{command}` took more than {INSTALL_TIMEOUT}s")
        if result.returncode != 0:
            _unavailable(f"`{command}` failed (Go module proxy unreachable?): " + _tail(result.stderr))
    found = binary_module_version(binary, module)
    if found != version:
        raise AssertionError(f"{binary} reports {module} {found}, expected {version}")
    return binary


@cache
def driver_chart() -> Path:
    """The Secrets Store CSI Driver chart of DRIVER_VERSION from the Go module cache (downloaded once)."""
    go = _go()
    if go is None:
        _unavailable(f"Go is not installed: the driver chart comes from the Go module {DRIVER_MODULE}@{DRIVER_VERSION}")
    try:
        result = subprocess.run([go, "mod", "download", "-json", f"{DRIVER_MODULE}@{DRIVER_VERSION}"],
                                capture_output=True, text=True, timeout=INSTALL_TIMEOUT, cwd=_scratch_dir(),
                                env=dict(os.environ, GOFLAGS="-mod=mod", GO111MODULE="on"))
    except subprocess.TimeoutExpired:
        _unavailable(f"`go mod download {DRIVER_MODULE}@{DRIVER_VERSION}` took more than {INSTALL_TIMEOUT}s")
    if result.returncode != 0:
        _unavailable(f"`go mod download {DRIVER_MODULE}@{DRIVER_VERSION}` failed: " + _tail(result.stderr + result.stdout))
    chart = Path(json.loads(result.stdout)["Dir"]) / "charts" / "secrets-store-csi-driver"
    if not (chart / "Chart.yaml").is_file():
        raise AssertionError(f"{chart} has no Chart.yaml")
    return chart


def _scratch_dir() -> Path:
    """A directory outside any Go module, for `go mod download <module>@<version>`."""
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    return TOOLS_DIR


def _unavailable(reason: str) -> None:
    if os.environ.get("SECRETS_GATEWAY_REQUIRE_HELM") == "1":
        pytest.fail(reason + " (SECRETS_GATEWAY_REQUIRE_HELM=1 turns this skip into a failure)", pytrace=False)
    pytest.skip(reason)


def _tail(text: str, lines: int = 6) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- helm


def helm(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(ensure_helm()), *map(str, args)], capture_output=True, text=True, timeout=120,
                            env=_tool_env(), cwd=REPO)
    if check and result.returncode != 0:
        raise RenderError(result.stderr.strip() or result.stdout.strip())
    return result


def template_args(values_files: Sequence[Path] = (), sets: Sequence[str] = (), set_files: Sequence[str] = (),
                  show_only: Sequence[str] = ()) -> list[str]:
    args = ["--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    for path in values_files:
        args += ["--values", str(path)]
    for item in sets:
        args += ["--set", item]
    for item in set_files:
        args += ["--set-file", item]
    for template in show_only:
        args += ["--show-only", template]
    return args


def render(values_files: Sequence[Path] = (), sets: Sequence[str] = (), set_files: Sequence[str] = (),
           chart: Path = CHART, release: str = RELEASE, extra: Sequence[str] = ()) -> list[dict[str, Any]]:
    """``helm template`` → the rendered objects (empty documents dropped)."""
    result = helm("template", release, chart, *template_args(values_files, sets, set_files), *extra)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_notes(values_files: Sequence[Path] = (), sets: Sequence[str] = (), tmp_path: Path | None = None) -> str:
    """NOTES.txt as `helm install` would print it.

    helm renders NOTES.txt only when installing against a cluster, so the chart keeps the text in the
    named template "secrets-gateway.notes" and NOTES.txt only includes it; a copy of the chart with
    one extra template exposes that text to `helm template`.
    """
    assert tmp_path is not None
    copy_dir = tmp_path / "chart"
    shutil.copytree(CHART, copy_dir)
    probe = copy_dir / "templates" / "zz-notes-probe.yaml"
    probe.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-probe\n"
                     "data:\n  notes: {{ include \"secrets-gateway.notes\" . | toJson }}\n")
    docs = render(values_files, sets, chart=copy_dir, extra=["--show-only", "templates/zz-notes-probe.yaml"])
    return docs[0]["data"]["notes"]


# --------------------------------------------------------------------------- objects


def by_kind(docs: Sequence[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc.get("kind") == kind]


def one(docs: Sequence[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}: {[d['metadata']['name'] for d in found]}"
    return found[0]


def validate_objects(docs: Sequence[dict[str, Any]], kube_version: str = KUBE_VERSION) -> list[str]:
    """Problems of every object against the strict Kubernetes JSON schemas (empty list: all valid)."""
    problems = []
    for doc in docs:
        where = f"{doc.get('kind')} {doc.get('metadata', {}).get('name')}"
        if (doc.get("apiVersion"), doc.get("kind")) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{where}: {exc.message} at {'/'.join(map(str, exc.path))}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{where}: no schema for {doc.get('apiVersion')} {doc.get('kind')} in Kubernetes {kube_version}")
    return problems


@dataclass(frozen=True)
class Container:
    """The gateway container of a rendered DaemonSet, with the bits the tests look at."""

    spec: dict[str, Any]
    pod: dict[str, Any]

    @property
    def args(self) -> list[str]:
        return list(self.spec.get("args", []))

    def flag(self, name: str) -> str | None:
        """Value of ``--name=value`` (``""`` for a bare ``--name``), None when absent."""
        for arg in self.args:
            if arg == f"--{name}":
                return ""
            if arg.startswith(f"--{name}="):
                return arg.split("=", 1)[1]
        return None

    @property
    def env(self) -> dict[str, str]:
        return {item["name"]: item["value"] for item in self.spec.get("env", []) if "value" in item}

    @property
    def mounts(self) -> dict[str, dict[str, Any]]:
        return {mount["name"]: mount for mount in self.spec.get("volumeMounts", [])}

    @property
    def volumes(self) -> dict[str, dict[str, Any]]:
        return {volume["name"]: volume for volume in self.pod.get("volumes", [])}


def gateway_container(docs: Sequence[dict[str, Any]]) -> Container:
    pod = one(docs, "DaemonSet")["spec"]["template"]["spec"]
    containers = [c for c in pod["containers"] if c["name"] == "secrets-gateway"]
    assert len(containers) == 1
    return Container(containers[0], pod)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def merge_values(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of user values over the chart's: maps merge, null deletes, the rest replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def ci_values_files() -> list[Path]:
    return sorted(CI_DIR.glob("*-values.yaml"))
