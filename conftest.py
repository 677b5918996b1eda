"""Test tiers: everything under a slow folder is marked ``slow``.

The fast tier — ``pytest -m "not slow"`` — is what a developer runs while working (under a minute on a
laptop); CI runs both. Slow folders build or drive real tools (helm, Go, kind), run soaks, corpora
and property-based fuzzing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
SLOW_FOLDERS = tuple(
    ROOT / folder
    for folder in ("tests/chart", "tests/interop", "tests/soak", "tests/corpus", "tests/fuzz", "tests/e2e", "tests/adversarial")
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.path.is_relative_to(folder) for folder in SLOW_FOLDERS):
            item.add_marker(pytest.mark.slow)
