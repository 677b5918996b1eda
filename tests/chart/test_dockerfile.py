"""The Dockerfile cannot be built here (no container engine), so its structure is checked against
the repository and the chart: what it copies exists and survives .dockerignore, the distributions and
plugins it installs are exactly the workspace's, the lock file is enforced, and the runtime user,
port and entrypoint match the chart and the CLI.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from tests.chart.tools import CHART, REPO, load_yaml
from tests.support import uv_or_skip

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for instruction, args in self.instructions if instruction == keyword]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages) — line continuations joined, comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.IGNORECASE)
            assert match, line
            stages.append(Stage(match.group(1), match.group(2)))
        elif not stages and instruction == "ARG":
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        else:
            stages[-1].instructions.append((instruction, rest.strip()))
    return args, stages


ARGS, STAGES = parse_dockerfile(DOCKERFILE.read_text())
BUILD = next(stage for stage in STAGES if stage.name == "build")
RUNTIME = STAGES[-1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PLUGIN_PROJECTS = sorted((REPO / "plugins").glob("*/pyproject.toml"))


def _resolve(image: str) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: ARGS[m.group(1)], image)


def _copied_sources() -> list[str]:
    """Sources of the build stage's COPY instructions from the build context (all but the destination)."""
    return [source for args in BUILD.all("COPY") if not args.startswith("--from") for source in args.split()[:-1]]


def _workspace_distributions() -> set[str]:
    names = {PYPROJECT["project"]["name"]}
    names |= {tomllib.loads(path.read_text())["project"]["name"] for path in PLUGIN_PROJECTS}
    return names


def _workspace_plugins() -> set[str]:
    plugins = set()
    for path in PLUGIN_PROJECTS:
        entry_points = tomllib.loads(path.read_text())["project"].get("entry-points", {})
        plugins |= set(entry_points.get("secrets_gateway.plugins", {}))
    return plugins


def test_multi_stage_with_pinned_images() -> None:
    assert [stage.name for stage in STAGES] == ["uv", "build", None]
    python_image, uv_image = ARGS["PYTHON_IMAGE"], ARGS["UV_IMAGE"]
    assert re.fullmatch(r"python:3\.11-slim-[a-z]+(@sha256:[0-9a-f]{64})?", python_image), python_image
    assert re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?", uv_image), "uv pinned to an exact release"
    assert _resolve(BUILD.base) == _resolve(RUNTIME.base) == python_image, "the venv needs the same Python in both stages"
    minor = re.search(r"python:(\d+\.\d+)", python_image).group(1)
    assert f"{minor}.0" in SpecifierSet(PYPROJECT["project"]["requires-python"])


@pytest.mark.parametrize("source", ["pyproject.toml", "uv.lock", "README.md", "build-constraints.txt", "gateway/", "plugins/"])
def test_build_copies_the_workspace(source: str) -> None:
    assert source in _copied_sources()
    assert (REPO / source).exists()
    if source == "README.md":  # hatchling needs the readme named in pyproject.toml
        assert PYPROJECT["project"]["readme"] == "README.md"


def _install_run() -> str:
    (run,) = [args for args in BUILD.all("RUN") if "uv sync" in args]
    return run


def test_dependencies_come_from_the_lock_file_only() -> None:
    run = _install_run()
    assert "uv sync --frozen --no-dev --all-packages --no-install-workspace" in run, "exactly uv.lock, never re-resolved"
    assert re.search(r"uv build --all-packages --wheel [^&]*--build-constraints build-constraints\.txt --require-hashes", run)
    assert re.search(r"uv pip install [^&]*--no-deps --no-index [^&]*/wheels/\*\.whl", run), "workspace wheels from disk only"
    (env,) = BUILD.all("ENV")
    assert "UV_PROJECT_ENVIRONMENT=/opt/venv" in env and "UV_COMPILE_BYTECODE=1" in env, \
        "bytecode at build time: the root filesystem is read-only at run time"
    for args in (*BUILD.all("RUN"), *RUNTIME.all("RUN")):
        for install in re.findall(r"(?:pip|uv pip) install[^&]*", args):
            assert "--no-index" in install or "--require-hashes" in install, f"unpinned install: {install}"


def _build_constraints() -> dict[str, tuple[str, list[str]]]:
    """name → (version, hashes) of build-constraints.txt."""
    text = (REPO / "build-constraints.txt").read_text().replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)\s*", line)
            assert match, f"not a hash-pinned requirement: {line!r}"
            pins[match.group(1).lower()] = (match.group(2), re.findall(r"sha256:[0-9a-f]{64}", match.group(3)))
    return pins


def test_build_backend_is_hash_pinned_for_every_pyproject() -> None:
    pins = _build_constraints()
    for path in [REPO / "pyproject.toml", *PLUGIN_PROJECTS]:
        for requirement in tomllib.loads(path.read_text())["build-system"]["requires"]:
            name, specifier = re.fullmatch(r"([A-Za-z0-9._-]+)(.*)", requirement).groups()
            assert name.lower() in pins, f"{path.relative_to(REPO)}: build requirement {name} is not pinned"
            assert pins[name.lower()][0] in SpecifierSet(specifier), f"{path.relative_to(REPO)}: {requirement}"


def test_the_lock_file_is_current() -> None:
    """What the release workflow checks before building: `uv sync --frozen` trusts uv.lock as it is."""
    uv = uv_or_skip("check the lock file")
    result = subprocess.run([uv, "lock", "--check", "--offline"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_build_stage_runs_on_the_build_context(tmp_path: Path) -> None:
    """The build stage's RUN commands, executed here on a copy of the Docker build context (only what
    survives .dockerignore), with /opt/venv, /wheels and the image's Python moved to this machine."""
    if shutil.which("uv") is None:  # the stage's RUN lines call it by name
        pytest.skip("uv is not on PATH")
    context = tmp_path / "src"
    for source in _copied_sources():
        files = [p for p in (REPO / source).rglob("*") if p.is_file()] if source.endswith("/") else [REPO / source]
        for path in files:
            relative = str(path.relative_to(REPO))
            if not _ignored(relative, _patterns()):
                (context / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, context / relative)
    moves = {"/opt/venv": str(tmp_path / "venv"), "/wheels": str(tmp_path / "wheels"), "/usr/local/bin/python3": sys.executable}
    env = dict(os.environ)
    (stage_env,) = BUILD.all("ENV")
    for name, value in re.findall(r"(\w+)=(\S+)", stage_env):
        if name != "UV_NO_CACHE":  # the local uv cache keeps this test off the network when warm
            env[name] = moves.get(value, value)
    env.pop("VIRTUAL_ENV", None)
    for run in BUILD.all("RUN"):
        for old, new in moves.items():
            run = run.replace(old, new)
        result = subprocess.run(["bash", "-ec", run], cwd=context, env=env, capture_output=True, text=True, timeout=600)
        if result.returncode != 0 and "network" in result.stderr.lower():
            pytest.skip(f"the package index is unreachable: {result.stderr.strip()[-300:]}")
        assert result.returncode == 0, result.stderr[-3000:]
    assert not (context / ".venv").exists(), "the dependencies went into UV_PROJECT_ENVIRONMENT, not the source tree"


def test_the_image_installs_every_workspace_distribution_and_plugin() -> None:
    (check,) = [args for args in BUILD.all("RUN") if "importlib.metadata" in args]
    distributions = set(re.findall(r"'(secrets-gateway[-a-z]*)'", check))
    assert distributions == _workspace_distributions()
    plugins = re.search(r"secrets-gateway plugins --plugins ([a-z,]+)", check).group(1)
    assert set(plugins.split(",")) == _workspace_plugins() == {"aws", "fake", "vault"}


def test_runtime_runs_as_numeric_non_root_user() -> None:
    (user,) = RUNTIME.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and gid.isdigit() and int(uid) != 0 and int(gid) != 0
    (create,) = [args for args in RUNTIME.all("RUN") if "useradd" in args]
    assert f"--uid {uid}" in create and f"--gid {gid}" in create and "--no-create-home" in create
    assert f"image's user ({uid})" in (CHART / "values.yaml").read_text(), "values.yaml names the image's UID"
    non_root = load_yaml(CHART / "ci" / "all-plugins-values.yaml")["securityContext"]
    assert (non_root["runAsUser"], non_root["runAsGroup"]) == (int(uid), int(gid))


def test_runtime_entrypoint_port_and_environment() -> None:
    assert RUNTIME.all("ENTRYPOINT") == ['["secrets-gateway"]']
    assert "secrets-gateway" in PYPROJECT["project"]["scripts"]
    assert RUNTIME.all("CMD") == ['["serve"]']
    assert RUNTIME.all("EXPOSE") == [str(load_yaml(CHART / "values.yaml")["http"]["port"])]
    assert RUNTIME.all("COPY") == ["--from=build /opt/venv /opt/venv"]
    (env,) = RUNTIME.all("ENV")
    assert "PATH=/opt/venv/bin:${PATH}" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    assert not any("pip" in args or "uv " in args for args in RUNTIME.all("RUN")), "no build tools in the runtime stage"


# --------------------------------------------------------------------------- .dockerignore


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern also matches everything below it."""
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw.lstrip("!").strip("/")
        regex = _pattern_regex(pattern)
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    for piece in re.split(r"(\*\*/?)", pattern):
        if piece.startswith("**"):
            out += "(?:.*/)?" if piece.endswith("/") else ".*"
        else:
            out += fnmatch.translate(piece).removeprefix("(?s:").removesuffix(")\\Z").replace(".*", "[^/]*")
    return re.compile(out)


def _patterns() -> list[str]:
    return [line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("path", [
    "pyproject.toml", "uv.lock", "README.md", "build-constraints.txt", "gateway/cli.py", "gateway/providerpb/service_pb2.py",
    "plugins/aws/pyproject.toml", "plugins/fake/gateway_fake/store.py", "plugins/vault/gateway_vault/plugin.py",
])
def test_dockerignore_keeps_the_sources(path: str) -> None:
    assert (REPO / path).exists()
    assert not _ignored(path, _patterns())


@pytest.mark.parametrize("path", [
    ".venv/bin/python", ".git/HEAD", ".cache/tools/helm-v3.22.0/helm", "tests/test_cli.py", "charts/secrets-gateway/values.yaml",
    "gateway/__pycache__/cli.cpython-311.pyc", "plugins/fake/tests/test_contract.py", "deploy/kind/quickstart.sh",
])
def test_dockerignore_drops_everything_else(path: str) -> None:
    assert _ignored(path, _patterns())


def test_every_copied_file_survives_the_dockerignore() -> None:
    for source in _copied_sources():
        files = [p for p in (REPO / source).rglob("*") if p.is_file()] if source.endswith("/") else [REPO / source]
        kept = [p for p in files if not _ignored(str(p.relative_to(REPO)), _patterns())]
        assert kept, f"{source}: everything is dockerignored"
        if source == "gateway/":
            assert all(not _ignored(str(p.relative_to(REPO)), _patterns()) for p in files if p.suffix == ".py")
