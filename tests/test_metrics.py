"""/metrics: process and Python collectors, build_info, per-operation backend latency, one label casing."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway import __version__
from gateway.client import MountFailure
from gateway.settings import Settings
from gateway.testing import mount_request, running_gateway
from gateway_fake import plugin

STATUS_NAMES = {"OK", "Canceled"} | {"".join(p.capitalize() for p in code.name.split("_")) for code in grpc.StatusCode}
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")


@pytest.fixture
async def scraped(tmp_path: Path) -> dict[str, list]:  # type: ignore[type-arg]
    """Samples by name after one good and one failing mount through the real fake plugin."""
    store = tmp_path / "store.yaml"
    store.write_text("secrets: {db: s3cret}\n")
    async with running_gateway([("fake", plugin)], settings=Settings(plugin_options={"fake-store": str(store)})) as gw:
        await gw.mount(mount_request([{"objectName": "db", "objectType": "fake"}]))
        with pytest.raises(MountFailure):
            await gw.mount(mount_request([{"objectName": "missing", "objectType": "fake"}]))
        text = generate_latest(gw.metrics.registry).decode()
    samples: dict[str, list] = {}  # type: ignore[type-arg]
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("process_resident_memory_bytes", id="process"),
        pytest.param("process_open_fds", id="process-fds"),
        pytest.param("python_info", id="platform"),
        pytest.param("python_gc_objects_collected_total", id="gc"),
    ],
)
def test_process_and_python_collectors(scraped: dict[str, list], name: str) -> None:  # type: ignore[type-arg]
    assert scraped[name]


def test_build_info(scraped: dict[str, list]) -> None:  # type: ignore[type-arg]
    (info,) = scraped["secrets_gateway_build_info"]
    assert info.value == 1 and info.labels["version"] == __version__ and info.labels["python_version"]


def test_backend_latency_histogram_per_operation(scraped: dict[str, list]) -> None:  # type: ignore[type-arg]
    (count,) = [s for s in scraped["secrets_gateway_backend_call_duration_seconds_count"] if s.labels["backend"] == "fake"]
    assert count.labels == {"backend": "fake", "operation": "Get"} and count.value == 2
    calls = {(s.labels["outcome"], s.labels["reason"]): s.value for s in scraped["secrets_gateway_backend_calls_total"]}
    assert calls == {("OK", ""): 1, ("NotFound", "NoSuchSecret"): 1}


def test_label_names_are_snake_case_and_every_outcome_is_a_status_name(scraped: dict[str, list]) -> None:  # type: ignore[type-arg]
    for name, samples in scraped.items():
        for sample in samples:
            assert all(SNAKE_CASE.match(label) for label in sample.labels), (name, sample.labels)
            if "outcome" in sample.labels:
                assert sample.labels["outcome"] in STATUS_NAMES | {"Partial"}, (name, sample.labels)
            if "grpc_code" in sample.labels:
                assert sample.labels["grpc_code"] in STATUS_NAMES, (name, sample.labels)
