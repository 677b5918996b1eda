"""Planted secret values and tokens never reach a log line or an error message, on any path."""

from __future__ import annotations

import io
import logging

import pytest

from gateway.client import MountFailure
from gateway.log import JsonFormatter, TextFormatter
from gateway.testing import PodContext, mount_request, running_gateway
from gateway_fake import plugin as fake_plugin

PLANTED = "PLANTED-s3cr3t-Value-9f8e7d"
TOKEN = "eyJhbGciOi.PLANTED-TOKEN-PAYLOAD.c2lnbmF0dXJl"
STORE = f"""
secrets:
  json: '{{"user": "{PLANTED}", "n": 1, "obj": {{"k": "{PLANTED}"}}}}'
  text: "{PLANTED} not json"
  b64bad: "{PLANTED}!!"
  denied: {{value: "{PLANTED}", faults: {{error: denied}}}}
  flaky: {{value: "{PLANTED}", faults: {{error: unavailable}}}}
"""

SCENARIOS = [
    pytest.param([{"objectName": "json", "objectType": "fake", "jmesPath": [{"path": "user", "objectAlias": "u"}]}], id="ok"),
    pytest.param([{"objectName": "text", "objectType": "fake", "jmesPath": [{"path": "user", "objectAlias": "u"}]}], id="jmes-not-json"),
    pytest.param([{"objectName": "json", "objectType": "fake", "jmesPath": [{"path": "n", "objectAlias": "u"}]}], id="jmes-not-string"),
    pytest.param([{"objectName": "json", "objectType": "fake", "jmesPath": [{"path": "abs(user)", "objectAlias": "u"}]}], id="jmes-eval"),
    pytest.param([{"objectName": "json", "objectType": "fake", "jmesPath": [{"path": "obj", "objectAlias": "u"}]}], id="jmes-object"),
    pytest.param([{"objectName": "b64bad", "objectType": "fake", "encoding": "base64"}], id="bad-base64"),
    pytest.param([{"objectName": "text", "objectType": "fake", "expandKeys": "true"}], id="expand-not-json"),
    pytest.param([{"objectName": "json", "objectType": "fake", "expandKeys": "directory"}], id="expand-ok"),
    pytest.param([{"objectName": "denied", "objectType": "fake"}], id="denied"),
    pytest.param([{"objectName": "flaky", "objectType": "fake"}], id="unavailable"),
    pytest.param([{"objectName": "missing", "objectType": "fake"}], id="not-found"),
    pytest.param("- {objectName: [" + PLANTED, id="yaml-error-quoting-input"),
]


@pytest.fixture
def captured_logs():  # type: ignore[no-untyped-def]
    streams = [io.StringIO(), io.StringIO()]
    handlers = [logging.StreamHandler(streams[0]), logging.StreamHandler(streams[1])]
    handlers[0].setFormatter(JsonFormatter())
    handlers[1].setFormatter(TextFormatter())
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    yield streams
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(previous)


async def test_planted_values_never_leak(tmp_path, captured_logs) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "store.yaml"
    store.write_text(STORE)
    from gateway.settings import Settings

    settings = Settings(plugin_options={"fake-store": str(store)})
    messages = []
    pod = PodContext(tokens={"sts.amazonaws.com": TOKEN, "vault": TOKEN})
    async with running_gateway([("fake", fake_plugin)], settings=settings) as gw:
        for scenario in SCENARIOS:
            objects = scenario.values[0]
            try:
                await gw.mount(mount_request(objects, pod=pod))
            except MountFailure as failure:
                messages.append(failure.message)
    assert len(messages) == len(SCENARIOS) - 2  # everything but the two successful scenarios failed
    everything = "\n".join(messages + [stream.getvalue() for stream in captured_logs])
    assert "mount OK" in everything and "mount NotFound" in everything  # the logs were really captured
    assert PLANTED not in everything
    assert "PLANTED-TOKEN" not in everything
