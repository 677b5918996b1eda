"""The fake backend: store format, version selection, locations, faults, reloads, inline secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.errors import InvalidArgument, NotFound, Unavailable
from gateway.model import FetchBatch, Fetched, FetchFailure, FetchItem, MountRequest, ObjectRef, PodIdentity
from gateway.settings import Settings
from gateway.testing import mount_request, running_gateway
from gateway_fake import plugin
from gateway_fake.backend import FakeBackend
from gateway_fake.faults import Fault, parse_faults
from gateway_fake.store import StoreError, parse_store

STORE = """
locations: [east, west]
secrets:
  plain: hello
  structured: {value: {a: 1}}
  binary: {binary: AAE=}
  versioned:
    versions:
      - {id: v1, value: one, labels: [AWSPREVIOUS, stable]}
      - {id: v2, value: two, labels: [AWSCURRENT]}
      - {id: v3, value: three, labels: [pending]}
  west-only: {value: w, locations: [west]}
"""


async def fetch(backend: FakeBackend, *refs: ObjectRef, location: str = "east", parameters: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    items = tuple(FetchItem(i, ref) for i, ref in enumerate(refs))
    request = MountRequest(attributes=parameters or {})
    return await backend.fetch_many(FetchBatch("fake", location, PodIdentity(), request, items))


@pytest.mark.parametrize(
    ("ref", "value", "version"),
    [
        pytest.param(ObjectRef("plain"), b"hello", "1", id="short-form"),
        pytest.param(ObjectRef("structured"), b'{"a": 1}', "1", id="mapping-as-json"),
        pytest.param(ObjectRef("binary"), b"\x00\x01", "1", id="binary"),
        pytest.param(ObjectRef("versioned"), b"two", "v2", id="current-label"),
        pytest.param(ObjectRef("versioned", version="v3"), b"three", "v3", id="by-id"),
        pytest.param(ObjectRef("versioned", version_label="stable"), b"one", "v1", id="by-label"),
        pytest.param(ObjectRef("versioned", version="v1", version_label="AWSPREVIOUS"), b"one", "v1", id="id-and-label"),
    ],
)
async def test_version_selection(ref: ObjectRef, value: bytes, version: str) -> None:
    [outcome] = await fetch(FakeBackend(store=parse_store(STORE, "t")), ref)
    assert outcome == Fetched(0, value, version)


@pytest.mark.parametrize(
    ("ref", "location", "error", "message"),
    [
        pytest.param(ObjectRef("nope"), "east", NotFound, 'no fake secret named "nope" in location "east"', id="missing"),
        pytest.param(ObjectRef("versioned", version="v9"), "east", NotFound, 'has no version "v9"', id="no-version"),
        pytest.param(ObjectRef("versioned", version_label="x"), "east", NotFound, 'has no version labelled "x"', id="no-label"),
        pytest.param(ObjectRef("versioned", "v2", "stable"), "east", NotFound, 'version "v2" is not labelled "stable"', id="id-label-conflict"),
        pytest.param(ObjectRef("west-only"), "east", NotFound, 'in location "east"', id="not-in-location"),
        pytest.param(ObjectRef("plain"), "north", Unavailable, 'does not serve location "north"', id="unknown-location"),
    ],
)
async def test_failures(ref: ObjectRef, location: str, error: type, message: str) -> None:
    [outcome] = await fetch(FakeBackend(store=parse_store(STORE, "t")), ref, location=location)
    assert isinstance(outcome, FetchFailure) and isinstance(outcome.error, error) and message in outcome.error.message


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param("[]", "the store must be a mapping", id="not-mapping"),
        pytest.param("secrets: []", "'secrets' must be a mapping", id="secrets-list"),
        pytest.param("secrets: {a: [1]}", 'secret "a" must be a string or a mapping', id="secret-list"),
        pytest.param("secrets: {a: {versions: []}}", "versions must be a non-empty list", id="no-versions"),
        pytest.param("secrets: {a: {versions: [{id: 1, value: x}, {id: 1, value: y}]}}", "version ids must be unique", id="dup-versions"),
        pytest.param("secrets: {a: {binary: '!!'}}", "binary must be base64", id="bad-binary"),
        pytest.param("secrets: {a: {labels: []}}", "needs a value (or binary)", id="no-value"),
        pytest.param("secrets: {a: {value: x, locations: east}}", "locations must be a list", id="locations"),
        pytest.param("secrets: {a: {value: x, faults: {error: explode}}}", "error must be one of", id="fault-kind"),
        pytest.param("secrets: {a: {value: x, faults: {rate: 2}}}", "rate within 0..1", id="fault-rate"),
        pytest.param("secrets: {a: {value: x, faults: {'*': {bogus: 1}}}}", "unknown keys", id="fault-key"),
        pytest.param("secrets: {a: {value: x, faults: {east: 1}}}", "must be a mapping", id="fault-not-mapping"),
        pytest.param("a: [", "not valid YAML/JSON", id="yaml"),
    ],
)
def test_store_errors(document: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_store(document, "store.yaml")
    assert message in str(caught.value)
    assert isinstance(caught.value, (StoreError, ValueError))


async def test_seeded_error_rate_is_deterministic() -> None:
    faults = parse_faults({"*": {"error": "unavailable", "rate": 0.5, "seed": 42}}, "t")
    outcomes = []
    for _ in range(20):
        try:
            await faults["*"].apply()
            outcomes.append(True)
        except Unavailable as exc:
            assert exc.retryable
            outcomes.append(False)
    again = Fault(error="unavailable", rate=0.5, seed=42)
    replay = []
    for _ in range(20):
        try:
            await again.apply()
            replay.append(True)
        except Unavailable:
            replay.append(False)
    assert outcomes == replay and 0 < outcomes.count(False) < 20


async def test_store_file_is_reloaded_when_it_changes_and_a_broken_edit_keeps_the_old_content(tmp_path: Path) -> None:
    path = tmp_path / "store.yaml"
    path.write_text("secrets: {a: first}\n")
    backend = FakeBackend(path)
    assert (await fetch(backend, ObjectRef("a")))[0].value == b"first"
    path.write_text("secrets: {a: second}\n")
    os.utime(path, ns=(1, 2_000_000_000))
    assert (await fetch(backend, ObjectRef("a")))[0].value == b"second"
    path.write_text("secrets: [broken\n")
    os.utime(path, ns=(1, 3_000_000_000))
    assert (await fetch(backend, ObjectRef("a")))[0].value == b"second"
    path.unlink()
    with pytest.raises(Unavailable, match="cannot be read"):
        await fetch(backend, ObjectRef("a"))


async def test_inline_secrets_from_the_spc() -> None:
    backend = FakeBackend()
    [outcome] = await fetch(backend, ObjectRef("inline"), parameters={"fakeSecrets": "secrets: {inline: from-spc}"})
    assert outcome == Fetched(0, b"from-spc", "1")
    with pytest.raises(InvalidArgument, match="parameter fakeSecrets"):
        await fetch(backend, ObjectRef("inline"), parameters={"fakeSecrets": "secrets: ["})


async def test_failover_demo_end_to_end(tmp_path: Path) -> None:
    store = tmp_path / "store.yaml"
    store.write_text("secrets:\n  db: {value: from-west, locations: [west], faults: {east: {error: unavailable}}}\n")
    settings = Settings(plugin_options={"fake-store": str(store)})
    async with running_gateway([("fake", plugin)], settings=settings) as gw:
        result = await gw.mount(mount_request([{"objectName": "db", "objectType": "fake"}], {"region": "east", "failoverRegion": "west"}))
        fake = gw.gateway.backends.get("fake")
    assert result.files[0].contents == b"from-west"
    assert fake.calls == {("east", "db"): 1, ("west", "db"): 1}  # type: ignore[union-attr]


async def test_default_location_is_local() -> None:
    async with running_gateway([("fake", plugin)], settings=Settings()) as gw:
        result = await gw.mount(mount_request([{"objectName": "x", "objectType": "fake"}], {"fakeSecrets": "secrets: {x: z}"}))
    assert result.files[0].contents == b"z"
