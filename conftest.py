"""Test tiers (everything under a slow folder is marked ``slow``) and logging hygiene between tests.

The fast tier — ``pytest -m "not slow"`` — is what a developer runs while working (under a minute on a
laptop; 36 s on this 2-core machine); CI runs both. Slow folders build or drive real tools (helm, Go, kind), run the
plugins against real moto and OpenBao servers, soaks, corpora
and property-based fuzzing.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
SLOW_FOLDERS = tuple(
    ROOT / folder
    for folder in (
        "tests/chart", "tests/interop", "tests/soak", "tests/corpus", "tests/fuzz", "tests/e2e", "tests/adversarial",
        "plugins/aws/tests", "plugins/vault/tests",  # against real moto and OpenBao servers
    )
)
#: files that drive the real command in many subprocesses, or build and install a package
SLOW_FILES = tuple(ROOT / "tests" / name for name in ("test_cli_operations.py", "test_secret_objects.py", "test_smallest_plugin.py"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path in SLOW_FILES or any(item.path.is_relative_to(folder) for folder in SLOW_FOLDERS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """A test that configures logging (``log.configure``, an in-process ``main([...])``) must not
    change what later tests see: root handlers and level, per-logger levels, warning capture and
    the thread excepthook are put back after every test."""
    root = logging.getLogger()
    handlers, level, hook, show = root.handlers[:], root.level, threading.excepthook, warnings.showwarning
    levels = {name: logger.level for name, logger in logging.root.manager.loggerDict.items() if isinstance(logger, logging.Logger)}
    yield
    logging.captureWarnings(False)
    warnings.showwarning = show
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            logger.setLevel(levels.get(name, logging.NOTSET))
    threading.excepthook = hook
