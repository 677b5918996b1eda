"""What the core's distributions ship: the sdist holds the core only, the wheel is typed and a pytest plugin."""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.support import uv_or_skip

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = uv_or_skip("build the distributions")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([uv, "build", "--sdist", "--wheel", "--package", "secrets-gateway", "-o", str(out)], cwd=REPO, check=True,
                   capture_output=True, text=True, timeout=300)
    return out


def test_the_sdist_ships_only_the_core(dist: Path) -> None:
    [sdist] = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        tops = {name.split("/", 2)[1] for name in archive.getnames() if name.count("/") >= 1}
    assert tops <= {"gateway", "README.md", "pyproject.toml", "PKG-INFO", ".gitignore"}, tops
    assert "gateway" in tops


def test_the_wheel_is_typed_a_pytest_plugin_with_extras_and_urls(dist: Path) -> None:
    [wheel] = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "gateway/py.typed" in names and not any(n.startswith(("gateway_", "tests/")) for n in names)
    assert "[pytest11]\nsecrets-gateway = gateway.testing.pytest_plugin" in entry_points
    for extra in ("aws", "vault", "testing"):
        assert f"Provides-Extra: {extra}" in metadata
    assert "Project-URL: Homepage" in metadata and "Classifier: Typing :: Typed" in metadata


SUPPORTED_PYTHONS = ["3.11", "3.12", "3.13"]
PROJECTS = [REPO / "pyproject.toml", *sorted((REPO / "plugins").glob("*/pyproject.toml"))]


@pytest.mark.parametrize("project", PROJECTS, ids=lambda path: path.parent.name if path.parent != REPO else "core")
def test_every_distribution_declares_the_supported_pythons(project: Path) -> None:
    metadata = tomllib.loads(project.read_text())["project"]
    assert metadata["requires-python"] == f">={SUPPORTED_PYTHONS[0]}"
    declared = [c.rsplit(" :: ", 1)[1] for c in metadata["classifiers"] if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert declared == SUPPORTED_PYTHONS


def test_every_supported_python_is_tested() -> None:
    """The CI matrix runs the fast tier on each; .ci/run runs it on each but the README's own (the full suite)."""
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "test.yml").read_text())
    assert workflow["jobs"]["fast"]["strategy"]["matrix"]["python"] == SUPPORTED_PYTHONS
    default = re.search(r'PYTHON_VERSIONS-([\d. ]+)\}', (REPO / "scripts" / "test-other-pythons.sh").read_text())
    assert default is not None and default.group(1).split() == SUPPORTED_PYTHONS[1:]
    assert "scripts/test-other-pythons.sh" in (REPO / ".ci" / "run").read_text()
    assert f'requires-python = ">={SUPPORTED_PYTHONS[0]}"' in (REPO / "uv.lock").read_text()


@pytest.mark.parametrize(("required", "status"), [pytest.param("0", 0, id="skipped"), pytest.param("1", 1, id="required")])
def test_a_python_the_machine_lacks_is_reported(required: str, status: int) -> None:
    result = subprocess.run(["bash", "scripts/test-other-pythons.sh"], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHON_VERSIONS": "3.99", "REQUIRE_ALL_PYTHONS": required})
    assert result.returncode == status
    assert "python3.99: no interpreter on this machine; its fast tier is skipped" in result.stdout
