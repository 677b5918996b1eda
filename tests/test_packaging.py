"""What the core's distributions ship: the sdist holds the core only, the wheel is typed and a pytest plugin."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = os.environ.get("UV") or shutil.which("uv")
    if not uv:
        pytest.skip("uv is needed to build the distributions")
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
