"""Say so at the end of the run when the driver-client interop tests were skipped (no Go)."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if "tests/interop/" in report.nodeid.replace("\\", "/") or report.nodeid.startswith("test_driver_client")
    ]
    if skipped:
        reason = skipped[0].longrepr[2] if isinstance(skipped[0].longrepr, tuple) else str(skipped[0].longrepr)
        terminalreporter.write_line(
            f"NOTE: {len(skipped)} driver-client interop tests (tests/interop) were skipped: {reason}", yellow=True
        )
