"""ServiceAccount metadata from one LIST + WATCH per process, instead of one GET per new account.

:class:`ServiceAccounts` answers ``get(namespace, name)`` from a node-local copy of every
ServiceAccount's metadata, kept current by a watch: the API server sees one paginated LIST and one
long-lived WATCH per node, however many pods mount (O(1) per node, not O(pods)).

- Metadata only (``PartialObjectMetadata``): no spec, no secrets list. Each entry keeps the
  namespace, name, uid and only the annotations plugins asked for (``keep_annotations``); at most
  ``max_entries`` accounts are kept (more are counted and served by GETs).
- The watch resumes from its last ``resourceVersion`` after a disconnect or an idle timeout (bookmarks
  keep that version fresh); a 410 Gone lists again. Errors back off (jittered, up to a minute).
- Until the first LIST has completed, callers wait for it (at most the request timeout); an account
  not in the copy (not yet seen, over the cap, or the watch is reconnecting) is read by the rate-limited,
  cached GET of :class:`~gateway_kube.kubeapi.KubeApi`, exactly as without a watch.
- Without list/watch permission (403) the copy is given up with one warning and every lookup is a GET.

The watch starts at the first lookup, so a process that never needs an account never lists them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from gateway.plugin import Backoff, outside_call_timeout
from gateway_kube.kubeapi import (
    KUBERNETES,
    JsonObject,
    KubeAnswerTooLarge,
    KubeApi,
    KubeApiError,
    KubeForbidden,
    KubeGone,
    KubeMalformedEvent,
    nested,
)

log = logging.getLogger("gateway_kube.watch")
COLLECTION = "/api/v1/serviceaccounts"
MIN_PAGE = 10  # the smallest page asked for when pages come back above the answer cap


@dataclass(frozen=True, slots=True)
class AccountMetadata:
    """What is kept of one ServiceAccount (about 500 bytes with its key and strings)."""

    uid: str
    kept: tuple[tuple[str, str], ...] = ()  # the annotations plugins asked for, as pairs (smaller than a dict)

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.kept)

    def document(self, namespace: str, name: str) -> JsonObject:
        """Shaped like the API's object (``metadata`` only), so readers need not care where it came from."""
        return {"metadata": {"namespace": namespace, "name": name, "uid": self.uid, "annotations": self.annotations}}


class AccountStore:
    """At most ``max_entries`` accounts, each with only the ``keep_annotations`` (``None``: all)."""

    def __init__(self, max_entries: int, keep_annotations: frozenset[str] | None) -> None:
        self.max_entries = max_entries
        self.keep_annotations = keep_annotations
        self._entries: dict[tuple[str, str], AccountMetadata] = {}
        #: accounts not kept because the store was full (since the last LIST)
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, namespace: str, name: str) -> AccountMetadata | None:
        return self._entries.get((namespace, name))

    def apply(self, kind: str, metadata: JsonObject) -> None:
        """One ADDED/MODIFIED/DELETED object's metadata (a malformed one raises :class:`KubeMalformedEvent`)."""
        key = _key(metadata)
        if kind == "DELETED":
            self._entries.pop(key, None)
            return
        if key not in self._entries and len(self._entries) >= self.max_entries:
            self.dropped += 1
            return
        self._entries[key] = self._metadata(metadata)

    def _metadata(self, metadata: JsonObject) -> AccountMetadata:
        annotations = nested(metadata, "annotations")
        if self.keep_annotations is not None:
            annotations = {k: v for k, v in annotations.items() if k in self.keep_annotations}
        if not all(isinstance(v, str) for v in annotations.values()):
            raise KubeMalformedEvent("a ServiceAccount has an annotation that is not a string", path=COLLECTION)
        return AccountMetadata(str(metadata.get("uid") or ""), tuple((sys.intern(k), v) for k, v in annotations.items()))


def _key(metadata: JsonObject) -> tuple[str, str]:
    namespace, name = metadata.get("namespace"), metadata.get("name")
    if not isinstance(namespace, str) or not isinstance(name, str) or not namespace or not name:
        raise KubeMalformedEvent("a ServiceAccount event names no namespace and name", path=COLLECTION)
    return sys.intern(namespace), name


class WatchSource(Protocol):
    """What the watch needs of the API (:class:`~gateway_kube.kubeapi.KubeApi` has it; tests script it)."""

    timeout: float

    async def list_metadata(self, path: str, *, limit: int, continue_token: str = "") -> JsonObject: ...

    def watch_metadata(
        self, path: str, *, resource_version: str, timeout_seconds: int, idle_timeout: float
    ) -> AbstractAsyncContextManager[AsyncIterator[JsonObject]]: ...


@dataclass(frozen=True)
class WatchSettings:
    page_size: int = 500
    watch_seconds: int = 300  # the server ends each watch after about this long (jittered by up to 20%)
    idle_timeout: float = 150.0  # no byte (event or bookmark) for this long: reconnect
    backoff: Backoff = field(default_factory=lambda: Backoff(attempts=0, base=0.5, cap=60.0))


class ServiceAccountWatch:
    """The LIST + WATCH loop keeping an :class:`AccountStore` current (see the module docstring)."""

    def __init__(
        self,
        source: WatchSource,
        store_factory: Callable[[], AccountStore],
        settings: WatchSettings = WatchSettings(),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.source = source
        self.store_factory = store_factory
        self.settings = settings
        self.sleep = sleep
        self.store = store_factory()
        #: True while the store mirrors the API server (listed, and the watch is connected or resuming)
        self.synced = False
        #: False once the API refused list/watch (403): every lookup is a GET from then on
        self.permitted = True
        self.resource_version = ""
        self.lists = 0  # LISTs started (a relist after 410 counts too)
        self.watches = 0  # WATCH connections opened
        self.errors = 0  # failures the loop survived
        self.malformed = 0  # objects skipped because they name no account
        self._first_attempt = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failures = 0

    def start(self) -> None:
        """Start the loop once (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="serviceaccount-watch")

    async def wait_first_attempt(self, timeout: float) -> None:
        """Until the first LIST has ended (listed or failed), at most ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self._first_attempt.wait()
        except TimeoutError:
            pass

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while self.permitted:
            try:
                if not self.resource_version:
                    await self._list()
                if not await self._watch():  # ended without a single event or bookmark: do not reconnect at once
                    await self.sleep(self.settings.backoff.delay(self._failures))
                    self._failures += 1
            except KubeForbidden as exc:
                self._give_up(exc)
            except KubeGone as exc:
                log.info("ServiceAccount watch: resourceVersion %s is too old; listing again", self.resource_version)
                self.resource_version = ""
                if self._failures:  # 410 again before any progress: not at once
                    await self._back_off(exc)
                else:
                    self._failures = 1
            except (KubeApiError, OSError) as exc:  # never let the loop die: back off and resume
                await self._back_off(exc)
            except Exception as exc:  # a bug must not end the loop either; it is logged in full
                log.exception("ServiceAccount watch: unexpected failure")
                await self._back_off(exc)
            finally:
                self._first_attempt.set()

    async def _list(self) -> None:
        """Every account, page by page, into a fresh store that replaces the old one at the end."""
        self.lists += 1
        store, continue_token, limit = self.store_factory(), "", self.settings.page_size
        while True:
            try:
                page = await self.source.list_metadata(COLLECTION, limit=limit, continue_token=continue_token)
            except KubeAnswerTooLarge:
                if limit <= MIN_PAGE:
                    raise
                limit = max(MIN_PAGE, limit // 4)  # accounts with huge annotations: smaller pages, same position
                continue
            items = page.get("items")
            if not isinstance(items, list):
                raise KubeMalformedEvent("the ServiceAccount list has no items", path=COLLECTION)
            for item in items:
                self._apply(store, "ADDED", nested(item, "metadata") if isinstance(item, dict) else {})
            continue_token = str(nested(page, "metadata").get("continue") or "")
            if not continue_token:
                break
        version = str(nested(page, "metadata").get("resourceVersion") or "")
        if not version:
            raise KubeMalformedEvent("the ServiceAccount list has no resourceVersion", path=COLLECTION)
        if store.dropped:
            log.warning(
                "ServiceAccount watch: %d accounts beyond the limit of %d are not kept; they are read one GET at a time",
                store.dropped, store.max_entries,
            )
        self.store, self.resource_version, self.synced = store, version, True
        self._first_attempt.set()

    async def _watch(self) -> int:
        """One WATCH connection, from :attr:`resource_version` until the server ends it; the events it brought."""
        seconds = int(self.settings.watch_seconds * random.uniform(0.8, 1.0))
        self.watches += 1
        received = 0
        async with self.source.watch_metadata(
            COLLECTION, resource_version=self.resource_version, timeout_seconds=seconds, idle_timeout=self.settings.idle_timeout
        ) as events:
            self.synced = True
            async for event in events:
                self._event(event)
                received += 1
        return received

    def _event(self, event: JsonObject) -> None:
        kind, obj = event["type"], event["object"]
        if kind == "ERROR":
            code = obj.get("code")
            message = str(obj.get("message") or "watch error")
            if code == 410:
                raise KubeGone(f"ServiceAccount watch: {message}", status=410, path=COLLECTION)
            raise KubeApiError(f"ServiceAccount watch: {message}", status=code if isinstance(code, int) else 0, path=COLLECTION)
        metadata = nested(obj, "metadata")
        if kind != "BOOKMARK":
            self._apply(self.store, kind, metadata)
        version = metadata.get("resourceVersion")
        if isinstance(version, str) and version:
            self.resource_version = version
        self._failures = 0  # progress

    def _apply(self, store: AccountStore, kind: str, metadata: JsonObject) -> None:
        """One object into ``store``; a malformed one is skipped (counted, logged once) — never the whole watch."""
        try:
            store.apply(kind, metadata)
        except KubeMalformedEvent as exc:
            self.malformed += 1
            (log.warning if self.malformed == 1 else log.debug)("ServiceAccount watch: skipped an object: %s", exc.message)

    def _give_up(self, exc: KubeApiError) -> None:
        self.permitted = self.synced = False
        self.store = self.store_factory()
        log.warning(
            "ServiceAccount watch: the API server refuses to list/watch serviceaccounts (%s); "
            "reading each ServiceAccount with one GET instead (hint: grant list and watch on serviceaccounts)",
            exc.api_message,
        )

    async def _back_off(self, exc: BaseException) -> None:
        self.synced = False
        self.errors += 1
        delay = self.settings.backoff.delay(self._failures)
        self._failures += 1
        text = exc.api_message if isinstance(exc, KubeApiError) else repr(exc)
        (log.warning if self._failures == 1 else log.debug)(
            "ServiceAccount watch interrupted (%s); resuming in %.1fs, GETs meanwhile", text, delay
        )
        await self.sleep(delay)


class ServiceAccounts:
    """ServiceAccount lookups: the watched copy when it has the account, else one GET through ``api``.

    ``max_entries`` 0 turns the watch off (every lookup a GET, as before there was one); ``source``
    replaces ``api`` as what is listed and watched (tests).
    """

    def __init__(
        self,
        api: KubeApi,
        *,
        keep_annotations: frozenset[str] | None = None,
        max_entries: int = 20_000,
        settings: WatchSettings = WatchSettings(),
        on_lookup: Callable[[str], None] | None = None,
        source: WatchSource | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api = api
        self._on_lookup = on_lookup or (lambda origin: None)
        self.watch = (
            ServiceAccountWatch(source or api, lambda: AccountStore(max_entries, keep_annotations), settings, sleep)
            if max_entries > 0
            else None
        )

    async def get(self, namespace: str, name: str) -> JsonObject:
        """The account's object (from the watch: ``metadata`` only); raises the typed errors of a GET."""
        watch = self.watch
        if watch is not None and watch.permitted:
            watch.start()
            if not watch.synced:
                async with outside_call_timeout(KUBERNETES):  # a Kubernetes wait, not the backend's
                    await watch.wait_first_attempt(self.api.timeout)
            found = watch.store.get(namespace, name) if watch.synced else None
            if found is not None:
                self._on_lookup("watch")
                return found.document(namespace, name)
        self._on_lookup("get")
        return await self.api.service_account(namespace, name)

    async def aclose(self) -> None:
        if self.watch is not None:
            await self.watch.aclose()

