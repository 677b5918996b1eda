"""The mount pipeline as a whole: queueing, deadlines, logging, unexpected failures."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from gateway.errors import DeadlineExceeded, Internal, InvalidArgument
from gateway.log import JsonFormatter
from gateway.settings import Settings
from gateway.testing import PodContext, mount_request, start_gateway
from tests.support import ScriptedBackend

OBJECTS = [{"objectName": "c", "objectType": "fake"}]


def gateway_with(backend: ScriptedBackend, **settings: object):  # type: ignore[no-untyped-def]
    return start_gateway(backends=[backend], settings=Settings(**settings))  # type: ignore[arg-type]


async def test_excess_mounts_queue_instead_of_failing() -> None:
    backend = ScriptedBackend(name="fake", values={"c": (b"v", "1")}, delay=0.05)
    gateway = gateway_with(backend, max_concurrent_mounts=2)
    results = await asyncio.gather(*(gateway.service.mount(mount_request(OBJECTS)) for _ in range(10)))
    assert len(results) == 10 and backend.max_in_flight == 2
    assert gateway.metrics.registry.get_sample_value("secrets_gateway_mounts_queued", {"provider": "secrets-gateway"}) == 0


async def test_queued_mount_past_its_deadline_fails_cleanly() -> None:
    backend = ScriptedBackend(name="fake", values={"c": (b"v", "1")}, delay=1.0)
    gateway = gateway_with(backend, max_concurrent_mounts=1)
    first = asyncio.create_task(gateway.service.mount(mount_request(OBJECTS)))
    await asyncio.sleep(0.01)
    with pytest.raises(DeadlineExceeded, match=r"for a free slot \(at most 1 mounts run at once, 1 per namespace\)"):
        await gateway.service.mount(mount_request(OBJECTS), time_remaining=0.1)
    assert (await first).files[0].contents == b"v"


async def test_unexpected_exception_is_internal_with_a_mount_id(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    gateway = gateway_with(ScriptedBackend(name="fake", values={"c": (b"v", "1")}))

    def broken(*args: object) -> None:
        raise KeyError("secret-detail")

    monkeypatch.setattr("gateway.mount.build_files", broken)
    with pytest.raises(Internal) as caught:
        await gateway.service.mount(mount_request(OBJECTS))
    assert caught.value.message.startswith("internal error in secrets-gateway (mount id ")
    assert "secret-detail" not in caught.value.message
    assert "Traceback" in caplog.text  # the traceback goes to the log only


async def test_one_structured_log_line_per_mount(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.mount")
    gateway = gateway_with(ScriptedBackend(name="fake", values={"c": (b"value-never-logged", "1")}))
    pod = PodContext(name="web-0", namespace="apps", service_account="web")
    await gateway.service.mount(mount_request(OBJECTS, pod=pod, spc_name="app-spc"))
    with pytest.raises(InvalidArgument):
        await gateway.service.mount(mount_request([{"objectName": "c", "objectType": "nope"}], pod=pod))
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "gateway.mount"]
    assert [line["outcome"] for line in lines] == ["OK", "InvalidArgument"]
    ok = lines[0]
    assert (ok["pod"], ok["namespace"], ok["service_account"], ok["spc"], ok["backends"], ok["objects"], ok["files"]) == (
        "web-0", "apps", "web", "app-spc", ["fake"], 1, 1
    )
    assert "Invalid objectType: nope" in lines[1]["error"]
    assert "value-never-logged" not in caplog.text


async def test_metrics_count_outcomes_without_pod_or_object_labels() -> None:
    gateway = gateway_with(ScriptedBackend(name="fake", values={"c": (b"v", "1")}))
    await gateway.service.mount(mount_request(OBJECTS))
    registry = gateway.metrics.registry
    assert registry.get_sample_value("secrets_gateway_mounts_total", {"provider": "secrets-gateway", "outcome": "OK"}) == 1
    labels = {name for metric in registry.collect() for sample in metric.samples for name in sample.labels}
    assert not labels & {"pod", "namespace", "object", "objectName", "service_account"}


async def test_too_many_objects_is_resource_exhausted() -> None:
    from gateway.errors import ResourceExhausted

    gateway = gateway_with(ScriptedBackend(name="fake", default=(b"v", "1")), max_objects=3)
    objects = [{"objectName": f"o{i}", "objectType": "fake"} for i in range(4)]
    with pytest.raises(ResourceExhausted, match="too many objects: 4 listed, the limit is 3 per mount"):
        await gateway.service.mount(mount_request(objects))


def test_logging_setup_keeps_chatty_http_libraries_quiet() -> None:
    from gateway import log

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        log.configure("debug", "json")
        for noisy in ("botocore", "urllib3", "hvac"):  # at DEBUG botocore would log request and response bodies
            assert logging.getLogger(noisy).getEffectiveLevel() >= logging.WARNING
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
