"""The ServiceAccount watch (gateway_kube.watch) against a real etcd + kube-apiserver.

Metadata-only LIST and WATCH as the real API server answers them, with the chart's least-privilege
rules (get, list, watch on serviceaccounts), changes seen as they happen, the audit log's count of
requests, the degraded path of an identity that may only get, and — on a second API server without
its watch cache — the 410 Gone of a resume from a version etcd has compacted. Needs the Go-built
binaries of scripts/e2e-binaries.sh (etcd, kube-apiserver); no root, no driver.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gateway.plugin import Backoff
from gateway_kube.kubeapi import KubeApi, KubeConfig, KubeNotFound
from gateway_kube.watch import ServiceAccounts, ServiceAccountWatch, WatchSettings
from tests.e2e.cluster import BUILD_SCRIPT, BUILD_TIMEOUT, ControlPlane, Kube

ROLE = "eks.amazonaws.com/role-arn"
NAMESPACE = "watched"


def role(name: str) -> str:
    return f"arn:aws:iam::111122223333:role/{name}"


def started_plane(directory: Path, *apiserver_flags: str) -> ControlPlane:
    """A control plane with the namespace and the test identities (``watcher``: get, list, watch; ``getter``: get)."""
    if shutil.which("go") is None:
        pytest.skip("Go toolchain not found: scripts/e2e-binaries.sh builds etcd and kube-apiserver with it")
    built = subprocess.run([str(BUILD_SCRIPT), "etcd", "kube-apiserver"], capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    if built.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT.name} failed:\n{built.stderr[-4000:]}")
    binaries = dict(line.split("=", 1) for line in built.stdout.splitlines() if "=" in line)
    plane = ControlPlane(binaries, directory, apiserver_flags).start()
    admin = plane.admin
    admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    for name, verbs in (("watcher", ["get", "list", "watch"]), ("getter", ["get"])):
        admin.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": NAMESPACE}})
        admin.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": f"sa-{name}"},
                      "rules": [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": verbs}]})  # fmt: skip
        admin.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": f"sa-{name}"},
                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"sa-{name}"},
                      "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]})  # fmt: skip
    return plane


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = started_plane(tmp_path_factory.mktemp("sa-watch"))
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module")
def uncached_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """An API server that serves every watch from etcd itself: its watch cache would answer an old
    resourceVersion from memory, so a resume could never meet etcd's compaction."""
    plane = started_plane(tmp_path_factory.mktemp("sa-watch-uncached"), "--watch-cache=false")
    try:
        yield plane
    finally:
        plane.stop()


def account(admin: Kube, name: str, annotations: dict[str, str] | None = None) -> None:
    admin.create({"apiVersion": "v1", "kind": "ServiceAccount",
                  "metadata": {"name": name, "namespace": NAMESPACE, "annotations": annotations or {}}})  # fmt: skip


def api_as(plane: ControlPlane, name: str) -> KubeApi:
    token = plane.admin.service_account_token(NAMESPACE, name)["token"]
    return KubeApi(KubeConfig(server=plane.server, token=token, ca_file=str(plane.ca_file), source="e2e"), cache_ttl=0)


def received(plane: ControlPlane, name: str) -> list[dict[str, Any]]:
    """The audit log's RequestReceived events of one test identity, in order."""
    user = f"system:serviceaccount:{NAMESPACE}:{name}"
    return [e for e in plane.audit_events() if e.get("stage") == "RequestReceived" and e.get("user", {}).get("username") == user]


def requests_by(plane: ControlPlane, name: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in received(plane, name):
        counts[event["verb"]] = counts.get(event["verb"], 0) + 1
    return counts


def request_uris(plane: ControlPlane, name: str, verb: str) -> list[str]:
    return [event["requestURI"] for event in received(plane, name) if event["verb"] == verb]


@asynccontextmanager
async def watching(plane: ControlPlane, identity: str, first: str, settings: WatchSettings) -> AsyncIterator[ServiceAccountWatch]:
    """``identity``'s ServiceAccount lookups, started by looking up the account ``first`` (created by the caller)."""
    api = api_as(plane, identity)
    accounts = ServiceAccounts(api, keep_annotations=frozenset({ROLE}), settings=settings)
    assert accounts.watch is not None
    try:
        assert (await accounts.get(NAMESPACE, first))["metadata"]["annotations"][ROLE] == role(first)
        yield accounts.watch
    finally:
        await accounts.aclose()
        await api.aclose()


async def eventually(check: Any, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


async def test_the_watch_follows_the_real_api_server(plane: ControlPlane) -> None:
    admin = plane.admin
    for number in range(12):
        account(admin, f"app-{number}", {ROLE: role(f"app-{number}"), "kubectl.kubernetes.io/last-applied-configuration": "{}"})
    api = api_as(plane, "watcher")
    accounts = ServiceAccounts(api, keep_annotations=frozenset({ROLE}), settings=WatchSettings(page_size=5))
    watch = accounts.watch
    assert watch is not None
    try:
        found = await asyncio.gather(*(accounts.get(NAMESPACE, f"app-{number % 12}") for number in range(110)))
        assert {f["metadata"]["annotations"][ROLE] for f in found} == {role(f"app-{n}") for n in range(12)}
        assert all(set(f["metadata"]["annotations"]) == {ROLE} for f in found)  # only what the plugin needs
        assert all(f["metadata"]["uid"] for f in found)

        account(admin, "late", {ROLE: role("late")})
        await eventually(lambda: watch.store.get(NAMESPACE, "late") is not None)
        admin.merge_patch(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/app-0", {"metadata": {"annotations": {ROLE: role("moved")}}})
        await eventually(lambda: (watch.store.get(NAMESPACE, "app-0") or None) and watch.store.get(NAMESPACE, "app-0").annotations[ROLE] == role("moved"))  # type: ignore[union-attr]
        assert (await accounts.get(NAMESPACE, "app-0"))["metadata"]["annotations"][ROLE] == role("moved")
        admin.delete(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/app-1")
        await eventually(lambda: watch.store.get(NAMESPACE, "app-1") is None)
        with pytest.raises(KubeNotFound):
            await accounts.get(NAMESPACE, "app-1")
    finally:
        await accounts.aclose()
        await api.aclose()
    await eventually(lambda: requests_by(plane, "watcher").get("get", 0) >= 1, timeout=30)  # the audit log is written asynchronously
    counts = requests_by(plane, "watcher")
    # 14 accounts (12, the two test identities) in pages of five: three LISTs, one WATCH; one GET, for the deleted account
    assert counts == {"list": 3, "watch": 1, "get": 1}
    assert watch.errors == 0 and watch.lists == 1


async def test_an_identity_that_may_only_get_falls_back_to_gets(plane: ControlPlane, caplog: pytest.LogCaptureFixture) -> None:
    account(plane.admin, "only-get", {ROLE: role("only-get")})
    api = api_as(plane, "getter")
    accounts = ServiceAccounts(api, keep_annotations=frozenset({ROLE}))
    try:
        with caplog.at_level(logging.WARNING, "gateway_kube.watch"):
            for _ in range(3):
                found = await accounts.get(NAMESPACE, "only-get")
                assert found["metadata"]["annotations"][ROLE] == role("only-get")
                assert found["kind"] == "PartialObjectMetadata" and "secrets" not in found  # the GET asks for metadata only
    finally:
        await accounts.aclose()
        await api.aclose()
    warnings = [r.getMessage() for r in caplog.records if r.name == "gateway_kube.watch"]
    assert len(warnings) == 1 and "grant list and watch on serviceaccounts" in warnings[0]
    await eventually(lambda: requests_by(plane, "getter").get("get", 0) >= 3, timeout=30)
    assert requests_by(plane, "getter") == {"list": 1, "get": 3}


async def test_the_watch_resumes_where_the_server_ended_it(plane: ControlPlane) -> None:
    """Watches the server ends after 2 s (timeoutSeconds) resume from their resourceVersion: no second LIST, and
    accounts created between and after the reconnects are seen."""
    account(plane.admin, "before-resume", {ROLE: role("before-resume")})
    plane.admin.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "resumer", "namespace": NAMESPACE}})
    plane.admin.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "sa-resumer"},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "sa-watcher"},
                        "subjects": [{"kind": "ServiceAccount", "name": "resumer", "namespace": NAMESPACE}]})  # fmt: skip
    async with watching(plane, "resumer", "before-resume", WatchSettings(watch_seconds=2)) as watch:
        await eventually(lambda: watch.watches >= 3)
        account(plane.admin, "after-resume", {ROLE: role("after-resume")})
        await eventually(lambda: watch.store.get(NAMESPACE, "after-resume") is not None)
    assert watch.lists == 1 and watch.errors == 0
    await eventually(lambda: requests_by(plane, "resumer").get("watch", 0) >= 3, timeout=30)
    assert requests_by(plane, "resumer").get("list") == 1 and "get" not in requests_by(plane, "resumer")


async def test_a_resume_from_a_compacted_version_is_gone_and_lists_again(uncached_plane: ControlPlane, caplog: pytest.LogCaptureFixture) -> None:
    """etcd compacted past the watcher's resourceVersion (no ServiceAccount changed since its LIST, so its watches
    resume from that version): the next resume is answered 410 Gone, the watcher lists again and follows on."""
    plane = uncached_plane
    account(plane.admin, "before-compaction", {ROLE: role("before-compaction")})
    settings = WatchSettings(watch_seconds=2, backoff=Backoff(attempts=0, base=0.1, cap=0.2))
    with caplog.at_level(logging.INFO, "gateway_kube.watch"):
        async with watching(plane, "watcher", "before-compaction", settings) as watch:
            listed_at = int(watch.resource_version)
            for number in range(3):  # history after the LIST that is not a ServiceAccount's: the watcher's version stays
                plane.admin.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"churn-{number}", "namespace": NAMESPACE}})
            assert plane.compact_etcd() > listed_at
            await eventually(lambda: watch.lists >= 2)
            account(plane.admin, "after-compaction", {ROLE: role("after-compaction")})
            await eventually(lambda: watch.store.get(NAMESPACE, "after-compaction") is not None)
    assert watch.lists == 2 and int(watch.resource_version) > listed_at
    assert any(f"resourceVersion {listed_at} is too old; listing again" in r.getMessage() for r in caplog.records)
    await eventually(lambda: requests_by(plane, "watcher").get("list", 0) >= 2, timeout=30)  # the audit log is written asynchronously
    counts = requests_by(plane, "watcher")
    assert counts["list"] == 2 and counts["watch"] >= 2 and "get" not in counts
    resumed_from = [int(parse_qs(urlsplit(uri).query)["resourceVersion"][0]) for uri in request_uris(plane, "watcher", "watch")]
    relisted = next(index for index, version in enumerate(resumed_from) if version != listed_at)
    assert relisted >= 1 and min(resumed_from[relisted:]) > listed_at  # from the first LIST's version, then only newer ones


def test_metadata_only_is_what_the_real_server_sends(plane: ControlPlane, tmp_path: Path) -> None:
    """The Accept header the watch uses really yields PartialObjectMetadata (no spec, no secrets list)."""
    from gateway_kube.kubeapi import METADATA_LIST

    async def listed() -> dict[str, Any]:
        api = api_as(plane, "watcher")
        try:
            return await api.list_metadata("/api/v1/serviceaccounts", limit=1)
        finally:
            await api.aclose()

    page = asyncio.run(listed())
    assert METADATA_LIST.split("as=")[1].startswith(page["kind"])
    assert page["items"] and all(set(item) <= {"kind", "apiVersion", "metadata"} for item in page["items"])
    assert page["metadata"]["resourceVersion"] and page["metadata"].get("continue")
