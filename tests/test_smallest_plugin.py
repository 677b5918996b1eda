"""The promise of docs/plugins.md, kept end to end: the smallest plugin there (a name and ``fetch_many``),
in a package of its own with its own pyproject, installed, passes the contract suite with plain ``pytest``
in its own directory, and serves a mount of a class with no parameters but ``objects`` through the real
``secrets-gateway serve``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from tests.support import uv_or_skip

REPO = Path(__file__).resolve().parent.parent
GUIDE = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")

PYPROJECT = """\
[project]
name = "echo-gateway-plugin"
version = "0.1.0"
dependencies = ["secrets-gateway>=0.1,<0.2"]

[project.entry-points."secrets_gateway.plugins"]
echo = "echo_plugin.plugin"

[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["echo_plugin"]
"""

CONTRACT = """\
import pytest
from gateway.testing.contract import BackendContract, BatchContext, Seeded

from echo_plugin.plugin import EchoBackend


class TestEchoContract(BackendContract):
    @pytest.fixture
    def backend(self):
        return EchoBackend()

    @pytest.fixture
    def seeded(self):
        return [Seeded("alpha", b"alpha"), Seeded("beta", b"beta")]

    @pytest.fixture
    def missing_name(self):
        pytest.skip("echo answers every name")

    @pytest.fixture
    def batch_context(self):
        return BatchContext(location="")
"""


def smallest_plugin() -> str:
    section = GUIDE.split("## The smallest plugin", 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin's own project, installed (wheel built by its build backend) into a directory of its own."""
    uv = uv_or_skip("build and install the plugin's own project")
    project = tmp_path_factory.mktemp("echo-project")
    (project / "echo_plugin").mkdir()
    (project / "echo_plugin" / "__init__.py").write_text("")
    code = smallest_plugin()
    assert len(code.strip().splitlines()) <= 30
    (project / "echo_plugin" / "plugin.py").write_text(code)
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "tests").mkdir()
    (project / "tests" / "test_contract.py").write_text(CONTRACT)
    site = tmp_path_factory.mktemp("echo-site")
    subprocess.run([uv, "pip", "install", "--no-deps", "--target", str(site), str(project)], check=True,
                   capture_output=True, text=True, timeout=300)
    assert (site / "echo_plugin" / "plugin.py").is_file()
    return site


def test_its_own_contract_suite_passes_with_plain_pytest(installed: Path) -> None:
    project = next(installed.parent.glob("echo-project*"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=project, capture_output=True, text=True,
        timeout=300, env={**os.environ, "PYTHONPATH": str(installed)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed, 4 skipped" in result.stdout, result.stdout  # two need a missing name, one a pinned version, one fetch_in_order


def test_it_serves_a_class_with_nothing_but_objects(installed: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    directory = Path(tempfile.mkdtemp(prefix="sgw-", dir="/tmp"))
    parameters = tmp_path / "parameters.json"
    parameters.write_text(json.dumps({"objects": textwrap.dedent("""\
        - {objectName: hello, objectType: echo}
        - {objectName: world, objectType: echo}
    """)}))
    plugins = subprocess.run([sys.executable, "-m", "gateway", "plugins", "--plugins", "echo", "-o", "json"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert json.loads(plugins.stdout)["plugins"][0]["distribution"] == "echo-gateway-plugin", plugins.stderr
    server = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--plugins", "echo", "--providers-dir", str(directory),
                               "--http-address", ""], env=env, stderr=subprocess.PIPE, text=True)
    socket = directory / "secrets-gateway.sock"
    try:
        deadline = time.monotonic() + 60
        while not socket.exists() and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert socket.exists(), server.stderr.read() if server.poll() is not None and server.stderr else "no socket"
        mount = subprocess.run([sys.executable, "-m", "gateway", "mount", "--parameters", str(parameters), "--socket", str(socket),
                                "-o", "json", "--show-values"], env=env, capture_output=True, text=True, timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert mount.returncode == 0, mount.stderr
    files = {entry["path"]: entry["contents"] for entry in json.loads(mount.stdout)["files"]}
    assert files == {"hello": "hello", "world": "world"}
