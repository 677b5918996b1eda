"""The plugin guide's example plugin and its tests really work (run in a subprocess with pytest)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def test_plugin_guide_example_passes_its_own_tests(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)
    plugin_code, test_code = blocks[0], blocks[1]
    package = tmp_path / "my_gateway_plugin"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(plugin_code)
    (tmp_path / "test_example.py").write_text(test_code)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_example.py")],  # plain pytest
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 passed, 2 skipped" in result.stdout, result.stdout  # the contract suite (8 + pinned and in-order skipped) and the mount test
