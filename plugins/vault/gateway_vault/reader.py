"""Reading one batch of Vault objects: the HTTP client, the pod's Vault token, the KV mounts, the version signer.

Built by :class:`~gateway_vault.backend.VaultBackend` at its first fetch (or cache check), so a gateway whose classes
never use Vault holds none of it: per batch, resolve the connection (SPC parameters over server defaults), get the
pod's Vault token (cached or by login), send each distinct query once — concurrently — and cut every object's value
out of its query's answer. A 403 with a cached token triggers one check whether the token was revoked, and then one
re-login and retry of the denied queries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence

from gateway.plugin import (
    FetchBatch,
    Fetched,
    FetchFailure,
    FetchOutcome,
    GatewayError,
    InvalidArgument,
    Metrics,
    PermissionDenied,
    PodIdentity,
)
from gateway_kube.kubeapi import KubeApi, discover_config
from gateway_vault.auth import TokenSource, VaultToken
from gateway_vault.client import VaultCall, VaultClient
from gateway_vault.connection import Connection, resolve
from gateway_vault.dialect import VaultDialect
from gateway_vault.errors import read_error
from gateway_vault.extract import SecretData, VersionSigner, secret_data, select
from gateway_vault.hmackey import HmacKeySecret
from gateway_vault.kv import ApiPath, KvMounts
from gateway_vault.options import VaultConfig
from gateway_vault.podtokens import PodTokenRequester
from gateway_vault.query import ObjectQuery, QueryError, SecretQuery, parse_object

Answer = SecretData | GatewayError


class VaultReader:
    def __init__(self, config: VaultConfig, metrics: Metrics, clock: Callable[[], float], kube: KubeApi | None = None) -> None:
        self.config = config
        self.client = VaultClient(
            timeout=config.request_timeout,
            retries=config.retries,
            max_parallel=config.max_parallel,
            per_namespace=config.max_parallel_per_namespace,
            max_response_bytes=config.max_response_bytes,
            metrics=metrics,
        )
        #: the Kubernetes API, only for the HMAC key Secret and TokenRequests (configured at first use)
        self.kube = kube or KubeApi(lambda: discover_config(config.kubeconfig))
        requester = PodTokenRequester(self.kube) if config.token_request != "false" else None
        self.tokens = TokenSource(self.client, config, metrics, clock, requester)
        self.mounts = KvMounts(self.client, config.mount_cache_ttl, clock)
        persisted = HmacKeySecret(self.kube, config.hmac_secret_namespace, config.hmac_secret_name) if config.hmac_secret_name else None
        self.versions = VersionSigner(persisted)

    def evidence(self, batch: FetchBatch) -> str:
        """The digest of the pod's own valid JWT, which a login with a missed cache would present."""
        return self.tokens.evidence(resolve(self.config, batch.request.attributes, batch.location), batch.identity)

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        connection = resolve(self.config, batch.request.attributes, batch.location)
        dialect = connection.dialect
        outcomes: list[FetchOutcome] = []
        wanted: dict[int, ObjectQuery] = {}
        for item in batch.items:
            try:
                wanted[item.key] = parse_object(item.ref, item.options, self.config.kv_version or dialect.kv_version, dialect)
            except QueryError as exc:
                outcomes.append(FetchFailure(item.key, InvalidArgument(str(exc), reason="BadObject")))
        if wanted:
            await self.versions.load()
            answers = await self._fetch(connection, batch.identity, {w.query for w in wanted.values()})
            outcomes += [self._outcome(key, w, answers[w.query], dialect) for key, w in wanted.items()]
        return outcomes

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.kube.aclose()

    # ------------------------------------------------------------------ steps

    async def _fetch(self, connection: Connection, identity: PodIdentity, queries: Collection[SecretQuery]) -> dict[SecretQuery, Answer]:
        """Each distinct query once, concurrently, with the pod's token."""
        try:
            token = await self.tokens.token(connection, identity)
        except GatewayError as exc:
            return dict.fromkeys(queries, exc)
        answers = await self._read_all(connection, token, queries)
        denied = [query for query, answer in answers.items() if isinstance(answer, PermissionDenied)]
        if denied:
            try:
                fresh = await self.tokens.replace_if_revoked(connection, identity, token)
            except GatewayError as exc:
                return {**answers, **dict.fromkeys(denied, exc)}
            if fresh is not None:
                answers.update(await self._read_all(connection, fresh, denied))
        return answers

    async def _read_all(self, connection: Connection, token: VaultToken, queries: Collection[SecretQuery]) -> dict[SecretQuery, Answer]:
        ordered = list(queries)
        results = await asyncio.gather(*(self._read(connection, token, query) for query in ordered))
        return dict(zip(ordered, results, strict=True))

    async def _read(self, connection: Connection, token: VaultToken, query: SecretQuery) -> Answer:
        try:
            target = await self.mounts.api_path(connection, token.value, query)
            what = f'"{target.path}"' + (f" version {query.version}" if query.version else "")
            _check_versioned(query, target)
            params: list[tuple[str, str]] = [*query.query, *(query.arguments.items() if query.reads else ())]
            if query.version:
                params.append(("version", query.version))
            call = VaultCall(
                "read" if query.reads else "write",
                query.method,
                target.path,
                token=token.value,
                params=params or None,
                body=None if query.reads else query.arguments,
            )
            body = await self.client.call(connection, call, lambda reply: read_error(reply, connection.auth.describe(), what))
            return secret_data(body, what)
        except GatewayError as exc:
            return exc

    def _outcome(self, key: int, wanted: ObjectQuery, answer: Answer, dialect: VaultDialect) -> FetchOutcome:
        if isinstance(answer, GatewayError):
            return FetchFailure(key, answer)
        try:
            value = select(answer, wanted.key, dialect)
        except GatewayError as exc:
            return FetchFailure(key, exc)
        # Issued (POST) and leased answers are unique to this pod: keep them out of the node-local cache.
        cacheable = wanted.query.reads and not answer.leased
        return Fetched(key, value, answer.kv_version or self.versions.version(wanted, value), cacheable=cacheable)


def _check_versioned(query: SecretQuery, target: ApiPath) -> None:
    """``objectVersion`` needs KV v2; refuse it on a mount known to be something else."""
    if not query.version or target.kv2 or target.mount is None:
        return
    mount = target.mount
    engine = f"KV v{mount.kv_version}" if mount.kv_version else mount.engine
    raise InvalidArgument(f'objectVersion {query.version} needs a KV v2 secret, but "{query.path}" is on the {engine} mount "{mount.path}"')
