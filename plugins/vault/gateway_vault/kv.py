"""KV v1/v2: which API path a ``secretPath`` is read from.

KV v2 serves secrets under ``<mount>/data/<name>``. vault-csi-provider users write that full
API path; users of the ``bao kv``/``vault kv`` CLI write ``<mount>/<name>``. Both work: with
``kvVersion: auto`` (the default) the mount is looked up once (``sys/internal/ui/mounts/<path>``,
the same preflight the CLI makes) and ``data/`` is inserted after a KV v2 mount unless present.
``kvVersion: 2`` takes the first path segment as the mount without asking; ``kvVersion: 1`` (and
every POST) uses the path as written. Vault forbids nested mounts, so a known mount prefix of a
path is its mount; mounts are remembered per (address, namespace) for ``--vault-mount-cache-ttl``.
They hold no secret and no identity-specific data (the lookup only succeeds for a token that may
use the mount, and each pod's read is still authorized by Vault with its own token).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.plugin import ExpiringCache, GatewayError, SingleFlight
from gateway_vault.client import VaultCall, VaultClient, member
from gateway_vault.connection import Connection
from gateway_vault.errors import read_error
from gateway_vault.query import SecretQuery

DATA = "data/"


@dataclass(frozen=True)
class MountInfo:
    path: str  # with a trailing slash, e.g. "secret/"
    engine: str  # "kv", "pki", ...
    kv_version: int = 0  # 1 or 2 for KV mounts, 0 otherwise


@dataclass(frozen=True)
class ApiPath:
    """Where a query is sent, and what is mounted there (None: not looked up or unknown)."""

    path: str
    kv2: bool
    mount: MountInfo | None = None


def kv2_data_path(path: str, mount: str) -> str:
    relative = path[len(mount):]
    if relative.startswith(DATA) or relative == DATA.rstrip("/"):
        return path
    return mount + DATA + relative


class KvMounts:
    def __init__(self, client: VaultClient, ttl: float, clock: Callable[[], float]) -> None:
        self.client = client
        self.ttl = ttl
        self.clock = clock
        self._cache: ExpiringCache[tuple[str, str, str], MountInfo] = ExpiringCache(max_entries=4096, clock=clock)
        #: keyed by first path segment and token: a pod never inherits the answer another pod's token got
        self._lookups: SingleFlight[tuple[str, str, str, str], MountInfo | None] = SingleFlight()

    async def api_path(self, connection: Connection, token: str, query: SecretQuery) -> ApiPath:
        if query.method != "GET" or query.kv_version == "1":
            return ApiPath(query.path, kv2=False)
        if query.kv_version == "2":
            first = query.path.split("/", 1)[0] + "/"
            return ApiPath(kv2_data_path(query.path, first), kv2=True)
        mount = await self.mount_of(connection, token, query.path)
        if mount is None or mount.kv_version != 2:
            return ApiPath(query.path, kv2=False, mount=mount)
        return ApiPath(kv2_data_path(query.path, mount.path), kv2=True, mount=mount)

    async def mount_of(self, connection: Connection, token: str, path: str) -> MountInfo | None:
        """The mount serving ``path``: remembered, else looked up; None when Vault will not say.

        Concurrent lookups that share a first path segment wait for one another: paths of one
        mount (the usual case) then cost a single lookup; a path the answer does not cover asks itself.
        """
        known = self._known(connection, path)
        if known is not None:
            return known
        first = path.split("/", 1)[0]
        shared = await self._lookups.do((connection.address, connection.namespace, first, token), lambda: self._lookup(connection, token, path))
        if shared is not None and (path + "/").startswith(shared.path):
            return shared
        return self._known(connection, path) or await self._lookup(connection, token, path)

    def _known(self, connection: Connection, path: str) -> MountInfo | None:
        segments = path.split("/")
        for depth in range(1, len(segments) + 1):
            found = self._cache.get((connection.address, connection.namespace, "/".join(segments[:depth]) + "/"))
            if found is not None:
                return found
        return None

    async def _lookup(self, connection: Connection, token: str, path: str) -> MountInfo | None:
        call = VaultCall("mounts", "GET", f"sys/internal/ui/mounts/{path}", token=token)
        try:
            body = await self.client.call(connection, call, lambda reply: read_error(reply, "the pod's token", f'"{path}"'))
        except GatewayError as exc:
            if exc.retryable:
                raise
            return None  # no access or no mount: the read itself reports the precise error
        data = member(body, "data")
        mount_path, engine = data.get("path"), data.get("type")
        if not isinstance(mount_path, str) or not isinstance(engine, str):
            return None
        mount_path = mount_path.strip("/") + "/"
        if not (path + "/").startswith(mount_path):
            return None
        version = 0 if engine not in ("kv", "generic") else 2 if str(member(data, "options").get("version", "1")) == "2" else 1
        info = MountInfo(mount_path, engine, version)
        if self.ttl > 0:
            self._cache.put((connection.address, connection.namespace, info.path), info, self.clock() + self.ttl)
        return info
