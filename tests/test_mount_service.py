"""The mount pipeline as a whole: queueing, deadlines, logging, unexpected failures."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from gateway.errors import DeadlineExceeded, Internal, InvalidArgument, ResourceExhausted
from gateway.layout import direct_rows
from gateway.log import JsonFormatter
from gateway.model import MountRequest
from gateway.mount import DIRECT_FILES_PER_TURN
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


class SlowToLocate(ScriptedBackend):
    async def locations(self, request: MountRequest) -> tuple[str, ...]:
        await asyncio.sleep(30)
        return await super().locations(request)


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        pytest.param(SlowToLocate(name="fake", values={"c": (b"v", "1")}), "mount deadline exceeded while resolving backend locations",
                     id="while-planning"),
        pytest.param(ScriptedBackend(name="fake", values={"c": (b"v", "1")}, delay=30),
                     'mount deadline of 0.2s exceeded; still pending: objects[0] "c" (fake @ here)', id="while-fetching"),
    ],
)
async def test_the_mount_deadline_names_the_phase_it_cut(backend: ScriptedBackend, message: str) -> None:
    """One timer bounds planning and fetching; either phase says what it was doing, and the mount's task is not left cancelled."""
    gateway = gateway_with(backend)
    with pytest.raises(DeadlineExceeded) as caught:
        await gateway.service.mount(mount_request(OBJECTS), time_remaining=0.2)
    assert caught.value.message == message
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    await asyncio.sleep(0)  # no cancellation left pending on this task


async def test_a_cancelled_mount_stays_cancelled_while_planning() -> None:
    gateway = gateway_with(SlowToLocate(name="fake", values={"c": (b"v", "1")}))
    mounting = asyncio.create_task(gateway.service.mount(mount_request(OBJECTS), time_remaining=10))
    await asyncio.sleep(0.05)
    mounting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await mounting


async def test_unexpected_exception_is_internal_with_a_mount_id(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    gateway = gateway_with(ScriptedBackend(name="fake", values={"c": (b"v", "1")}))

    def broken(*args: object) -> None:
        raise KeyError("secret-detail")

    monkeypatch.setattr("gateway.mount.layout_of", broken)  # what every mount calls once its values are in
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


class PluginStage:
    """A third-party value stage that does not say it leaves a direct class's files alone."""

    name = "plugin-noop"
    order = 150

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, pieces, plan):  # type: ignore[no-untyped-def]
        self.calls += 1
        return pieces


PLAIN = [
    {"objectName": "app/db", "objectType": "fake"},
    {"objectName": "app/api", "objectType": "fake", "objectAlias": "api.key", "filePermission": "0600"},
    {"objectName": "cert", "objectType": "fake"},
]
FIELDS = [
    {"objectName": "creds", "objectType": "fake", "filePermission": "0640", "jmesPath": [
        {"path": "user", "objectAlias": "user"},
        {"path": "db.primary.\"host-name\"", "objectAlias": "host", "filePermission": "0400"},
    ]},
    {"objectName": "cert", "objectType": "fake"},
]
VALUES = {
    "app/db": (b"db", "1"), "app/api": (b"api", "7"), "cert": (b"pem", "3"),
    "creds": (b'{"user": "admin", "db": {"primary": {"host-name": "h1"}}}', "4"),
}


@pytest.mark.parametrize(
    ("objects", "parameters", "expected"),
    [
        pytest.param(PLAIN, {}, [("app_db", 0o644, b"db", "1"), ("api.key", 0o600, b"api", "7"), ("cert", 0o644, b"pem", "3")],
                     id="translated"),
        pytest.param(PLAIN, {"pathTranslation": "False"}, [("app/db", 0o644, b"db", "1"), ("api.key", 0o600, b"api", "7"),
                     ("cert", 0o644, b"pem", "3")], id="sub-directories"),
        pytest.param(FIELDS, {}, [("creds", 0o640, VALUES["creds"][0], "4"), ("user", 0o640, b"admin", "4"), ("host", 0o400, b"h1", "4"),
                     ("cert", 0o644, b"pem", "3")], id="field-paths"),
    ],
)
async def test_a_direct_class_skips_the_stages_with_the_same_files(
    objects: list[dict[str, object]], parameters: dict[str, str], expected: list[tuple[str, int, bytes, str]]
) -> None:
    fast = gateway_with(ScriptedBackend(name="fake", values=VALUES))
    slow = gateway_with(ScriptedBackend(name="fake", values=VALUES))
    stage = PluginStage()
    slow.middleware.add(stage)
    request = mount_request(objects, parameters, permission="420")
    results = [await gateway.service.mount(request) for gateway in (fast, slow)]
    assert stage.calls == 1  # only the gateway with a stage that may change any file ran the stages
    for result in results:
        assert [(f.path, f.mode, f.contents, f.version) for f in result.files] == expected
    assert results[0].response.SerializeToString() == results[1].response.SerializeToString()


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        pytest.param(b"not json", InvalidArgument, 'Invalid JSON used with jmesPath in secret: creds. [objects[0] "creds" (fake @ here)]',
                     id="not-json"),
        pytest.param(b'{"db": {}}', InvalidArgument, 'JMES Path - user for object alias - user does not point to a valid object.',
                     id="missing-field"),
        pytest.param(b'{"user": 7, "db": {"primary": {"host-name": "h"}}}', InvalidArgument,
                     "Invalid JMES search result type for path:user. Only string is allowed.", id="not-a-string"),
    ],
)
async def test_a_value_a_direct_class_cannot_take_gets_the_stages_message(value: bytes, error: type[Exception], message: str) -> None:
    gateway = gateway_with(ScriptedBackend(name="fake", values={**VALUES, "creds": (value, "1")}))
    with pytest.raises(error) as caught:
        await gateway.service.mount(mount_request(FIELDS))
    assert message in caught.value.message  # type: ignore[attr-defined]


@pytest.mark.parametrize("objects", [pytest.param(PLAIN, id="plain"), pytest.param([*PLAIN, {"objectName": "j", "objectType": "fake",
                         "jmesPath": [{"path": "a", "objectAlias": "ja"}]}], id="with-stages")])
async def test_the_response_limit_names_the_largest_files(objects: list[dict[str, object]]) -> None:
    values = {"app/db": (b"d" * 300, "1"), "app/api": (b"a" * 200, "1"), "cert": (b"c" * 100, "1"), "j": (b'{"a": "x"}', "1")}
    gateway = gateway_with(ScriptedBackend(name="fake", values=values), max_response_bytes=500)
    with pytest.raises(ResourceExhausted) as caught:
        await gateway.service.mount(mount_request(objects))
    assert 'largest files: "app_db" (300 bytes), "api.key" (200 bytes), "cert" (100 bytes)' in caught.value.message


async def test_a_large_direct_class_is_made_on_the_loop_a_hundred_files_per_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = gateway_with(ScriptedBackend(name="fake", default=(b'{"user": "u"}', "1")))
    objects = [{"objectName": f"s{i}", "objectType": "fake", "jmesPath": [{"path": "user", "objectAlias": f"u{i}"}]} for i in range(DIRECT_FILES_PER_TURN)]
    turns, seen = 0, []

    def spied(files, *args):  # type: ignore[no-untyped-def]
        seen.append((len(files), turns))
        return direct_rows(files, *args)

    async def other_mount() -> None:  # what a small mount waiting meanwhile does: run between the turns
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    monkeypatch.setattr("gateway.mount.direct_rows", spied)
    other = asyncio.create_task(other_mount())
    result = await gateway.service.mount(mount_request(objects))
    other.cancel()
    assert result.file_count == 2 * DIRECT_FILES_PER_TURN and [size for size, _ in seen] == [DIRECT_FILES_PER_TURN, DIRECT_FILES_PER_TURN]
    assert seen[1][1] > seen[0][1]  # the other task ran between the two turns


async def test_a_direct_class_made_over_several_turns_is_held_to_the_response_limit_by_its_exact_size() -> None:
    backend = ScriptedBackend(name="fake", default=(b'{"user": "u"}', "1"))
    objects = [{"objectName": f"s{i}", "objectType": "fake", "jmesPath": [{"path": "user", "objectAlias": f"u{i}"}]} for i in range(DIRECT_FILES_PER_TURN)]
    size = (await gateway_with(backend).service.mount(mount_request(objects))).response.ByteSize()
    assert (await gateway_with(backend, max_response_bytes=size).service.mount(mount_request(objects))).file_count == 2 * DIRECT_FILES_PER_TURN
    with pytest.raises(ResourceExhausted, match=f"the mount response would be {size} bytes, above the limit of {size - 1} bytes"):
        await gateway_with(backend, max_response_bytes=size - 1).service.mount(mount_request(objects))
