""".github/workflows/release.yml: linted by the real actionlint (built from its Go module into the tool
cache outside the clone, like helm; skipped with the reason without Go) and checked against the
repository: it releases what the Dockerfile and the chart describe, for both architectures."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.tools import CHART, HELM_VERSION, REPO, go_tool

pytestmark = pytest.mark.timeout(1200)  # the first run builds actionlint

WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
ACTIONLINT_MODULE = "github.com/rhysd/actionlint"
ACTIONLINT_VERSION = "v1.7.12"  # a current release (`go list -m -versions github.com/rhysd/actionlint`)


def actionlint() -> Path:
    return go_tool("actionlint", f"{ACTIONLINT_MODULE}/cmd/actionlint", ACTIONLINT_MODULE, ACTIONLINT_VERSION)


def _workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def _steps(job: str) -> list[dict[str, Any]]:
    return _workflow()["jobs"][job]["steps"]


def _uses(job: str, action: str) -> dict[str, Any]:
    (step,) = [step for step in _steps(job) if step.get("uses", "").startswith(f"{action}@")]
    return step


def _runs(job: str) -> str:
    return "\n".join(step.get("run", "") for step in _steps(job))


@pytest.mark.parametrize("workflow", sorted(WORKFLOW.parent.glob("*.yml")), ids=lambda path: path.name)
def test_actionlint_accepts_the_workflow(workflow: Path) -> None:
    """This one and every other workflow (test.yml: the Python matrix)."""
    result = subprocess.run([str(actionlint()), "-no-color", str(workflow.relative_to(REPO))], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """Negative control: the linter really reads the file (an unknown job key and a bad expression)."""
    broken = tmp_path / ".github" / "workflows" / "release.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04", 1)
                      .replace("${{ github.ref_name }}", "${{ github.ref_nme }}"))
    result = subprocess.run([str(actionlint()), "-no-color", str(broken.relative_to(tmp_path))], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "runs_on" in result.stdout and "ref_nme" in result.stdout, result.stdout


def test_runs_on_version_tags_only() -> None:
    triggers = _workflow()[True]  # YAML 1.1 reads the key "on" as true
    assert set(triggers) == {"push"} and set(triggers["push"]) == {"tags"}
    (pattern,) = triggers["push"]["tags"]
    assert pattern.startswith("v[0-9]+")


def test_the_image_is_multi_arch_and_built_from_the_dockerfile() -> None:
    _uses("image", "docker/setup-qemu-action")
    _uses("image", "docker/setup-buildx-action")
    build = _uses("image", "docker/build-push-action")["with"]
    assert set(build["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["context"] == "." and build["push"] is True
    build_args = dict(line.split("=", 1) for line in build["build-args"].splitlines())
    dockerfile_args = set(re.findall(r"^ARG (\w+)=", (REPO / "Dockerfile").read_text(), re.MULTILINE))
    assert set(build_args) == dockerfile_args == {"PYTHON_IMAGE", "UV_IMAGE"}, "every base image pinned by digest"
    assert "docker buildx imagetools inspect" in _runs("image")


def test_the_lock_file_is_checked_before_anything_is_built() -> None:
    assert "uv lock --check" in _runs("check")
    assert _workflow()["jobs"]["image"]["needs"] == "check"


def test_the_chart_is_published_as_an_oci_artifact_at_the_tag_version() -> None:
    run = _runs("chart")
    assert re.search(r'helm package charts/secrets-gateway --version "\$VERSION" --app-version "\$VERSION"', run)
    assert re.search(r'helm push "dist/secrets-gateway-\$\{VERSION\}\.tgz" "oci://', run)
    assert "--password-stdin" in run, "the token never appears on a command line"
    assert _uses("chart", "azure/setup-helm")["with"]["version"] == "${{ env.HELM_VERSION }}"
    assert _workflow()["env"]["HELM_VERSION"] == HELM_VERSION, "the helm the chart tests use"
    assert (CHART / "Chart.yaml").is_file()


def test_least_privilege() -> None:
    workflow = _workflow()
    assert workflow["permissions"] == {"contents": "read"}
    writers = {name for name, job in workflow["jobs"].items() if job.get("permissions", {}).get("packages") == "write"}
    assert writers == {"image", "chart"}


def test_actions_are_pinned_to_a_release() -> None:
    for job in _workflow()["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+(\.\d+)*|[0-9a-f]{40})", step["uses"]), step["uses"]


PINNED = "@sha256:" + "0" * 64


@pytest.mark.parametrize(
    ("python_image", "uv_image", "refused"),
    [
        pytest.param("python:3.11-slim-trixie", "ghcr.io/astral-sh/uv:0.13.9", {"PYTHON_IMAGE", "UV_IMAGE"}, id="both-unpinned"),
        pytest.param("python:3.11-slim-trixie" + PINNED, "ghcr.io/astral-sh/uv:0.13.9", {"UV_IMAGE"}, id="one-unpinned"),
        pytest.param("python:3.11-slim-trixie@sha256:abc", "ghcr.io/astral-sh/uv:0.13.9" + PINNED, {"PYTHON_IMAGE"}, id="short-digest"),
        pytest.param("python:3.11-slim-trixie" + PINNED, "ghcr.io/astral-sh/uv:0.13.9" + PINNED, set(), id="pinned"),
    ],
)
def test_the_release_refuses_an_unpinned_base_image(tmp_path: Path, python_image: str, uv_image: str, refused: set[str]) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"ARG PYTHON_IMAGE={python_image}\nARG UV_IMAGE={uv_image}\nFROM ${{UV_IMAGE}} AS uv\n")
    result = subprocess.run(["bash", str(REPO / "scripts" / "check-base-pins.sh")], capture_output=True, text=True, timeout=30,
                            env={"PATH": "/usr/bin:/bin", "DOCKERFILE": str(dockerfile)})
    assert result.returncode == (1 if refused else 0), result.stdout
    errors = set(re.findall(r"::error file=Dockerfile::ARG (\w+)=", result.stdout))
    assert errors == refused
    pinned = dict(line.split("=", 1) for line in result.stdout.splitlines() if not line.startswith("::"))
    assert pinned == {name: ref for name, ref in (("PYTHON_IMAGE", python_image), ("UV_IMAGE", uv_image)) if name not in refused}


def test_the_image_job_checks_the_pins_before_it_builds() -> None:
    steps = _steps("image")
    check = next(i for i, step in enumerate(steps) if "scripts/check-base-pins.sh" in step.get("run", ""))
    build = next(i for i, step in enumerate(steps) if step.get("uses", "").startswith("docker/build-push-action@"))
    assert check < build
    assert "linux/arm64" in steps[check]["run"], "each pinned digest must hold both architectures"
