"""Log lines: UTC timestamps, and every line of the real server through the configured formatter."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway import log
from gateway.client import DriverClient
from gateway.log import JsonFormatter, TextFormatter
from gateway.testing import mount_request
from tests.support import serve_fake


@pytest.fixture
def far_from_utc() -> Iterator[None]:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"  # +05:30: a local-time stamp cannot pass for UTC
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


@pytest.mark.parametrize(
    ("formatter", "stamp"),
    [
        pytest.param(TextFormatter(), lambda line: line.split(" ", 1)[0], id="text"),
        pytest.param(JsonFormatter(), lambda line: json.loads(line)["time"], id="json"),
    ],
)
def test_timestamps_are_utc(far_from_utc: None, formatter: logging.Formatter, stamp) -> None:  # type: ignore[no-untyped-def]
    record = logging.LogRecord("gateway.test", logging.INFO, __file__, 1, "hello", None, None)
    record.created, record.msecs = 86_400 + 3_600 + 0.25, 250.0
    assert stamp(formatter.format(record)) == "1970-01-02T01:00:00.250Z"


async def test_every_line_of_the_server_is_json_including_grpc_core(tmp_path: Path) -> None:
    store = tmp_path / "store.yaml"
    store.write_text("secrets: {a: alpha}\n")
    directory = Path(tempfile.mkdtemp(prefix="sgw-", dir="/tmp"))
    env = {**os.environ, "GRPC_VERBOSITY": "info", "TZ": "Asia/Kolkata"}
    server = serve_fake(directory, store, "--http-address", "", log="info", env=env, stderr=subprocess.PIPE)
    path = directory / "secrets-gateway.sock"
    try:
        while not path.exists():
            assert server.poll() is None, server.stderr.read() if server.stderr else "server exited"
            await asyncio.sleep(0.02)
        async with DriverClient(path) as client:
            await client.mount(mount_request([{"objectName": "a", "objectType": "fake"}]))
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    lines = [json.loads(line) for line in stderr.splitlines()]  # any unformatted line fails here
    loggers = {line["logger"] for line in lines}
    assert {"grpc.core", "gateway.mount", "gateway.server"} <= loggers, loggers
    now = datetime.now(UTC)
    for line in lines:
        assert line["time"].endswith("Z")
        stamp = datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert abs(now - stamp) < timedelta(hours=1)  # local +05:30 would be far off



def test_warnings_third_party_handlers_and_thread_crashes_go_through_the_formatter() -> None:
    stream = io.StringIO()
    own = logging.getLogger("some.library")
    own.addHandler(logging.StreamHandler(io.StringIO()))  # a library that prints on its own
    own.propagate = False
    log.configure("info", "json", stream)
    own.warning("from a library")
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # shown even if this location warned before in the process
        warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)
    crash = threading.Thread(target=lambda: 1 / 0, name="worker")
    crash.start()
    crash.join()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("some.library", "warning"), ("py.warnings", "warning"), ("gateway.thread", "error")
    ]
    assert "ZeroDivisionError" in lines[2]["exception"]
