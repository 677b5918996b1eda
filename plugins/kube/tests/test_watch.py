"""gateway_kube.watch: the ServiceAccount LIST + WATCH loop (scripted source) and its lookups (FakeKubernetes)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from gateway.plugin import Backoff
from gateway.testing.kube import FakeKubernetes
from gateway_kube.kubeapi import (
    JsonObject,
    KubeAnswerTooLarge,
    KubeApi,
    KubeConfig,
    KubeConnectionError,
    KubeForbidden,
    KubeGone,
    KubeMalformedEvent,
    KubeNotFound,
    KubeServerError,
)
from gateway_kube.watch import AccountStore, ServiceAccounts, ServiceAccountWatch, WatchSettings

ROLE = "eks.amazonaws.com/role-arn"
KEEP = frozenset({ROLE})


def account(namespace: str, name: str, version: str = "", **annotations: str) -> JsonObject:
    metadata: JsonObject = {"namespace": namespace, "name": name, "uid": f"uid-{name}", "annotations": annotations}
    if version:
        metadata["resourceVersion"] = version
    return {"kind": "PartialObjectMetadata", "metadata": metadata}


def page(version: str, *items: JsonObject, more: str = "") -> JsonObject:
    metadata = {"resourceVersion": version, **({"continue": more} if more else {})}
    return {"kind": "PartialObjectMetadataList", "metadata": metadata, "items": list(items)}


def event(kind: str, obj: JsonObject) -> JsonObject:
    return {"type": kind, "object": obj}


def bookmark(version: str) -> JsonObject:
    return event("BOOKMARK", {"kind": "PartialObjectMetadata", "metadata": {"resourceVersion": version}})


GONE = event("ERROR", {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version"})


class ScriptedSource:
    """Lists and watches answered from scripts: a list answer is a page or an exception; a watch is an
    exception (refused) or a list of events and exceptions (raised mid-stream). Unscripted: blocks."""

    timeout = 1.0

    def __init__(self, lists: list[Any], watches: list[Any]) -> None:
        self.lists, self.watches = lists, watches
        self.calls: list[tuple[str, str]] = []
        self.idle = asyncio.Event()  # set when the loop has used up its scripts

    async def list_metadata(self, path: str, *, limit: int, continue_token: str = "") -> JsonObject:
        self.calls.append(("list", continue_token))
        answer = await self._next(self.lists)
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[no-any-return]

    @asynccontextmanager
    async def watch_metadata(
        self, path: str, *, resource_version: str, timeout_seconds: int, idle_timeout: float
    ) -> AsyncIterator[AsyncIterator[JsonObject]]:
        self.calls.append(("watch", resource_version))
        script = await self._next(self.watches)
        if isinstance(script, BaseException):
            raise script

        async def events() -> AsyncIterator[JsonObject]:
            for item in script:
                if isinstance(item, BaseException):
                    raise item
                yield item

        yield events()

    async def _next(self, script: list[Any]) -> Any:
        if not script:
            self.idle.set()
            await asyncio.Event().wait()
        return script.pop(0)


async def no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


async def run(source: ScriptedSource, max_entries: int = 100, keep: frozenset[str] | None = KEEP) -> ServiceAccountWatch:
    """The loop until its scripts are used up."""
    watch = ServiceAccountWatch(source, lambda: AccountStore(max_entries, keep), WatchSettings(page_size=2), no_sleep)
    watch.start()
    await asyncio.wait_for(source.idle.wait(), 5)
    return watch


def roles(watch: ServiceAccountWatch, *keys: tuple[str, str]) -> list[str | None]:
    found = [watch.store.get(namespace, name) for namespace, name in keys]
    return [None if f is None else f.annotations.get(ROLE, "") for f in found]


# --------------------------------------------------------------------------- the loop


async def test_list_pages_then_watch_events_keep_the_store_current() -> None:
    source = ScriptedSource(
        [page("10", account("a", "web", **{ROLE: "r1"}), account("a", "old"), more="k1"), page("11", account("b", "api"))],
        [[
            event("ADDED", account("a", "new", "12", **{ROLE: "r2"})),
            event("MODIFIED", account("a", "web", "13", **{ROLE: "r3", "kubectl.kubernetes.io/last-applied-configuration": "{}"})),
            event("DELETED", account("a", "old", "14")),
            bookmark("20"),
        ]],
    )  # fmt: skip
    watch = await run(source)
    assert source.calls == [("list", ""), ("list", "k1"), ("watch", "11"), ("watch", "20")]  # paged; resumed at the bookmark
    assert roles(watch, ("a", "web"), ("a", "new"), ("a", "old"), ("b", "api")) == ["r3", "r2", None, ""]
    assert dict(watch.store.get("a", "web").annotations) == {ROLE: "r3"}  # type: ignore[union-attr]  # only what plugins need
    assert watch.synced and watch.lists == 1 and watch.errors == 0
    await watch.aclose()


@pytest.mark.parametrize(
    ("watches", "calls"),
    [
        pytest.param([[event("ADDED", account("a", "x", "12")), KubeConnectionError("reset")]],
                     [("list", ""), ("watch", "10"), ("watch", "12")], id="disconnect-resumes-from-last-version"),
        pytest.param([KubeServerError("HTTP 500")], [("list", ""), ("watch", "10"), ("watch", "10")], id="refused-watch-retries"),
        pytest.param([[GONE]], [("list", ""), ("watch", "10"), ("list", "")], id="410-event-lists-again"),
        pytest.param([KubeGone("HTTP 410", status=410)], [("list", ""), ("watch", "10"), ("list", "")], id="410-answer-lists-again"),
        pytest.param([[KubeMalformedEvent("not an event")]], [("list", ""), ("watch", "10"), ("watch", "10")],
                     id="malformed-event-resumes"),
        pytest.param([RuntimeError("a bug")], [("list", ""), ("watch", "10"), ("watch", "10")], id="unexpected-error-survives"),
    ],
)  # fmt: skip
async def test_the_loop_survives_and_resumes(watches: list[Any], calls: list[tuple[str, str]]) -> None:
    source = ScriptedSource([page("10", account("a", "web", **{ROLE: "r1"}))], watches)
    watch = await run(source)
    assert source.calls[: len(calls)] == calls
    assert watch.permitted
    await watch.aclose()


async def test_pages_above_the_answer_cap_are_asked_again_smaller() -> None:
    too_large = KubeAnswerTooLarge("the answer is larger than the limit of 8388608 bytes")
    source = ScriptedSource([page("1", account("a", "x"), more="k"), too_large, too_large, page("2", account("a", "y"))], [])
    watch = ServiceAccountWatch(source, lambda: AccountStore(10, KEEP), WatchSettings(page_size=500), no_sleep)
    limits: list[int] = []
    original = source.list_metadata

    async def recording(path: str, *, limit: int, continue_token: str = "") -> JsonObject:
        limits.append(limit)
        return await original(path, limit=limit, continue_token=continue_token)

    source.list_metadata = recording  # type: ignore[method-assign]
    watch.start()
    await asyncio.wait_for(source.idle.wait(), 5)
    assert limits == [500, 500, 125, 31] and source.calls[1:4] == [("list", "k")] * 3
    assert roles(watch, ("a", "x"), ("a", "y")) == ["", ""] and watch.errors == 0
    await watch.aclose()


async def test_410_twice_without_progress_backs_off() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    source = ScriptedSource([page("10"), page("11")], [[GONE], [GONE]])
    watch = ServiceAccountWatch(source, lambda: AccountStore(10, KEEP), WatchSettings(), sleep)
    watch.start()
    await asyncio.wait_for(source.idle.wait(), 5)
    assert [c[0] for c in source.calls] == ["list", "watch", "list", "watch", "list"]
    assert len(slept) == 1  # the first 410 lists at once, the second after a pause
    await watch.aclose()


async def test_a_watch_that_ends_empty_is_not_reopened_at_once() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    source = ScriptedSource([page("10")], [[], [], [bookmark("11")]])
    watch = ServiceAccountWatch(source, lambda: AccountStore(10, KEEP), WatchSettings(), sleep)
    watch.start()
    await asyncio.wait_for(source.idle.wait(), 5)
    assert [c for c in source.calls if c[0] == "watch"] == [("watch", "10")] * 3 + [("watch", "11")]
    assert len(slept) == 2 and watch.errors == 0  # a pause after each empty one, none after the bookmark
    await watch.aclose()


async def test_memory_is_bounded_by_entries_and_kept_annotations() -> None:
    many = [account("a", f"sa{i}", **{ROLE: f"r{i}", "big": "x" * 10_000}) for i in range(5)]
    source = ScriptedSource([page("10", *many)], [[event("ADDED", account("a", "late", "11"))]])
    watch = await run(source, max_entries=3)
    assert len(watch.store) == 3 and watch.store.dropped == 3  # two from the list, one from the watch
    assert all("big" not in watch.store.get("a", f"sa{i}").annotations for i in range(3))  # type: ignore[union-attr]
    await watch.aclose()


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"kind": "PartialObjectMetadata", "metadata": {"name": "x"}}, id="no-namespace"),
        pytest.param({"kind": "PartialObjectMetadata", "metadata": {"namespace": "a", "name": 7}}, id="name-not-a-string"),
        pytest.param({"kind": "PartialObjectMetadata", "metadata": {"namespace": "a", "name": "x", "annotations": {ROLE: 1}}},
                     id="annotation-not-a-string"),
        pytest.param("not-an-object", id="item-not-an-object"),
    ],
)  # fmt: skip
async def test_malformed_objects_are_skipped_and_counted(bad: Any, caplog: pytest.LogCaptureFixture) -> None:
    source = ScriptedSource([page("10", bad, account("a", "web", **{ROLE: "r1"}))], [[event("ADDED", bad) if isinstance(bad, dict) else bookmark("11")]])
    with caplog.at_level(logging.WARNING, "gateway_kube.watch"):
        watch = await run(source)
    assert roles(watch, ("a", "web")) == ["r1"] and watch.synced
    assert watch.malformed >= 1
    assert sum("skipped an object" in r.message for r in caplog.records) == 1  # one warning, then debug
    await watch.aclose()


@pytest.mark.parametrize(
    "lists",
    [
        pytest.param([{"kind": "PartialObjectMetadataList", "metadata": {"resourceVersion": "1"}}], id="no-items"),
        pytest.param([{"kind": "PartialObjectMetadataList", "metadata": {}, "items": []}], id="no-resource-version"),
    ],
)
async def test_a_malformed_list_is_retried_not_served(lists: list[Any]) -> None:
    source = ScriptedSource([*lists, page("5", account("a", "web", **{ROLE: "r1"}))], [])
    watch = await run(source)
    assert [c[0] for c in source.calls] == ["list", "list", "watch"]
    assert watch.errors == 1 and roles(watch, ("a", "web")) == ["r1"]
    await watch.aclose()


async def test_forbidden_gives_up_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    source = ScriptedSource([KubeForbidden("HTTP 403 Forbidden", status=403, api_message="cannot list serviceaccounts")], [])
    watch = ServiceAccountWatch(source, lambda: AccountStore(10, KEEP), WatchSettings(), no_sleep)
    with caplog.at_level(logging.WARNING, "gateway_kube.watch"):
        watch.start()
        await watch.wait_first_attempt(5)
        await asyncio.sleep(0.01)
    assert not watch.permitted and not watch.synced and source.calls == [("list", "")]
    warnings = [r.message for r in caplog.records]
    assert len(warnings) == 1 and "grant list and watch on serviceaccounts" in warnings[0]
    await watch.aclose()


# --------------------------------------------------------------------------- lookups (real HTTP, FakeKubernetes)


def api_for(kube: FakeKubernetes, **kwargs: Any) -> KubeApi:
    return KubeApi(KubeConfig(server=kube.url, token=kube.bearer_token, source="test"), **kwargs)


async def wait_for(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_lookups_come_from_the_watch_after_one_list(kube: FakeKubernetes) -> None:
    for i in range(5):
        kube.add_service_account("apps", f"sa{i}", {ROLE: f"arn:aws:iam::111122223333:role/r{i}"})
    api = api_for(kube)
    accounts = ServiceAccounts(api, keep_annotations=KEEP, settings=WatchSettings(page_size=2))
    try:
        found = await asyncio.gather(*(accounts.get("apps", f"sa{i % 5}") for i in range(50)))
        assert [f["metadata"]["annotations"][ROLE][-2:] for f in found[:5]] == ["r0", "r1", "r2", "r3", "r4"]
        kube.add_service_account("apps", "later", {ROLE: "arn:aws:iam::111122223333:role/later"})
        await wait_for(lambda: accounts.watch.store.get("apps", "later") is not None)  # type: ignore[union-attr]
        assert (await accounts.get("apps", "later"))["metadata"]["uid"] == "sa-apps-later"
        kube.delete_service_account("apps", "sa0")
        await wait_for(lambda: accounts.watch.store.get("apps", "sa0") is None)  # type: ignore[union-attr]
        with pytest.raises(KubeNotFound):  # not in the copy: the GET decides
            await accounts.get("apps", "sa0")
    finally:
        await accounts.aclose()
        await api.aclose()
    assert kube.count(method="LIST") == 3  # five accounts in pages of two
    assert kube.count(method="WATCH") == 1
    assert kube.count("/namespaces/", method="GET") == 1  # only the deleted one


async def test_without_list_permission_every_lookup_is_a_get(kube: FakeKubernetes, caplog: pytest.LogCaptureFixture) -> None:
    kube.add_service_account("apps", "web", {ROLE: "arn:aws:iam::111122223333:role/web"})
    kube.inject("/api/v1/serviceaccounts", status=403)
    api = api_for(kube, cache_ttl=0)
    accounts = ServiceAccounts(api, keep_annotations=KEEP)
    try:
        with caplog.at_level(logging.WARNING, "gateway_kube.watch"):
            for _ in range(3):
                assert (await accounts.get("apps", "web"))["metadata"]["annotations"][ROLE].endswith("/web")
    finally:
        await accounts.aclose()
        await api.aclose()
    assert kube.count(method="LIST") == 1 and kube.count("/serviceaccounts/web", method="GET") == 3
    assert len([r for r in caplog.records if r.name == "gateway_kube.watch"]) == 1


async def test_an_unreachable_api_falls_back_to_the_get_and_its_error() -> None:
    api = KubeApi(KubeConfig(server="http://127.0.0.1:1", source="test"), timeout=0.5)
    accounts = ServiceAccounts(api, keep_annotations=KEEP)
    try:
        with pytest.raises(KubeConnectionError, match="GET /api/v1/namespaces/apps/serviceaccounts/web: no answer"):
            await accounts.get("apps", "web")
    finally:
        await accounts.aclose()
        await api.aclose()


async def test_a_malformed_watch_line_resumes_the_watch(kube: FakeKubernetes) -> None:
    kube.add_service_account("apps", "web", {ROLE: "arn:aws:iam::111122223333:role/web"})
    kube.send_watch_lines(b"{not json\n", b'{"type": "ADDED"}\n')
    api = api_for(kube)
    accounts = ServiceAccounts(api, keep_annotations=KEEP, settings=WatchSettings(backoff=Backoff(0, 0.01, 0.01)))
    try:
        await accounts.get("apps", "web")
        await wait_for(lambda: kube.count(method="WATCH") >= 2)
        kube.add_service_account("apps", "after", {ROLE: "arn:aws:iam::111122223333:role/after"})
        await wait_for(lambda: accounts.watch.store.get("apps", "after") is not None)  # type: ignore[union-attr]
    finally:
        await accounts.aclose()
        await api.aclose()
    assert accounts.watch.errors >= 1 and kube.count(method="LIST") == 1  # type: ignore[union-attr]  # resumed, not relisted


async def test_a_watch_with_no_data_reconnects_after_the_idle_timeout(kube: FakeKubernetes) -> None:
    kube.bookmark_interval = 60.0  # no bookmarks: the line stays silent
    api = api_for(kube)
    accounts = ServiceAccounts(api, settings=WatchSettings(idle_timeout=0.2, backoff=Backoff(0, 0.01, 0.01)))
    try:
        with pytest.raises(KubeNotFound):
            await accounts.get("apps", "none")
        await wait_for(lambda: kube.count(method="WATCH") >= 2)
    finally:
        await accounts.aclose()
        await api.aclose()


async def test_watch_off_is_one_get_per_lookup(kube: FakeKubernetes) -> None:
    kube.add_service_account("apps", "web")
    api = api_for(kube, cache_ttl=0)
    accounts = ServiceAccounts(api, max_entries=0)
    try:
        await accounts.get("apps", "web")
        await accounts.get("apps", "web")
    finally:
        await accounts.aclose()
        await api.aclose()
    assert kube.count(method="LIST") == 0 and kube.count("/serviceaccounts/web", method="GET") == 2
