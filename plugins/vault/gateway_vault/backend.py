"""The ``vault`` backend: Vault objects are validated here, and read by :class:`~gateway_vault.reader.VaultReader`.

The reader (the HTTP client, the Kubernetes API, the token and mount caches, and the modules behind them) is built
at the backend's first fetch or cache check: a gateway whose classes never use Vault holds none of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from gateway.plugin import (
    Backend,
    FetchBatch,
    FetchOutcome,
    InvalidArgument,
    Metrics,
    MountRequest,
    ObjectSpec,
    PermissionDenied,
)
from gateway_vault.connection import ADDRESS, FAILOVER_ADDRESSES, resolve, unknown_parameters
from gateway_vault.dialect import NATIVE, VAULT_CSI_PROVIDER, dialect_of
from gateway_vault.options import VaultConfig
from gateway_vault.query import OBJECT_OPTIONS, SECRET_ARGS, object_problems

if TYPE_CHECKING:
    from gateway_kube.kubeapi import KubeApi
    from gateway_vault.reader import VaultReader


class VaultBackend(Backend):
    name = "vault"
    description = "HashiCorp Vault / OpenBao: KV v1/v2 and any secrets engine, with Kubernetes or JWT auth"
    object_options = OBJECT_OPTIONS
    structured_options = frozenset({SECRET_ARGS})
    location_parameter = ADDRESS
    failover_parameter = FAILOVER_ADDRESSES
    location_noun = "address"

    def __init__(
        self,
        config: VaultConfig,
        metrics: Metrics | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        kube: KubeApi | None = None,
    ) -> None:
        self.config = config
        self.default_location = config.address
        self.metrics = metrics or Metrics()
        self._clock = clock
        self._kube = kube
        self._reader: VaultReader | None = None

    def check_object(self, obj: ObjectSpec) -> list[str]:
        """Problems in both dialects (the object does not say which its class is read in; the
        fetch parses it again in the class's dialect and reports what remains)."""
        problems = [object_problems(obj, self.config.kv_version or d.kv_version, d) for d in (NATIVE, VAULT_CSI_PROVIDER)]
        return problems[0] if all(problems) else []

    def static_locations(self, parameters: Mapping[str, str]) -> tuple[str, ...] | None:
        """vault-csi-provider's default address applies in its dialect when nothing names one."""
        fallback = dialect_of(parameters, self.config.provider_name).default_address
        if fallback and not parameters.get(self.location_parameter) and not self.default_location:
            parameters = {**parameters, self.location_parameter: fallback}
        return super().static_locations(parameters)

    async def locations(self, request: MountRequest) -> tuple[str, ...]:
        """The addresses, after checking every connection parameter (so bad ones fail before any fetch)."""
        found = await super().locations(request)
        try:
            for address in found:
                resolve(self.config, request.attributes, address)
        except (InvalidArgument, PermissionDenied) as exc:
            raise type(exc)(f"{self.name}: {exc.message}", reason=exc.reason) from None
        return found

    def cache_evidence(self, batch: FetchBatch) -> str:
        return self._reading().evidence(batch)

    def unknown_parameters(self, parameters: Mapping[str, str]) -> list[str]:
        """Names starting with ``vault`` it does not know, and its own names in the wrong case."""
        return unknown_parameters(parameters)

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        return await self._reading().fetch_many(batch)

    async def aclose(self) -> None:
        if self._reader is not None:
            await self._reader.aclose()

    def _reading(self) -> VaultReader:
        if self._reader is None:
            from gateway_vault.reader import VaultReader  # its modules only once a class uses Vault

            self._reader = VaultReader(self.config, self.metrics, self._clock, self._kube)
        return self._reader
