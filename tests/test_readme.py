"""The README starts with the two commands; CI runs the second one."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_readme_begins_with_the_demo_and_the_test_command() -> None:
    text = (REPO / "README.md").read_text()
    before_first_section = text.split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)\n```", before_first_section, flags=re.S)
    assert len(blocks) == 2
    demo, tests = blocks
    assert "secrets-gateway mount examples/fake/spc.yaml --serve" in demo and "--frozen" in demo
    assert tests.endswith("uv run --frozen --all-packages pytest")
    ci = subprocess.run([str(REPO / ".ci" / "run"), "--print-command"], capture_output=True, text=True, check=True)
    assert ci.stdout.strip() == tests
