"""A running test world: OpenBao behind a counting proxy, a fake Kubernetes API, a token issuer,
and helpers to mount through the real gRPC socket with the vault plugin.

``VaultWorld.running()`` starts everything and wires OpenBao's ``kubernetes`` auth method to the
fake API server's TokenReview; seeding secrets, policies and roles is up to the caller.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from gateway.plugin import DEFAULT_PROVIDER_NAME, Settings
from gateway.testing import PodContext, RawMountRequest, RunningGateway, mount_request, running_gateway
from gateway.testing.kube import FakeKubernetes
from gateway_vault.testing.issuer import ServiceAccountIssuer
from gateway_vault.testing.openbao import OpenBao
from gateway_vault.testing.proxy import CountingProxy


@dataclass
class VaultWorld:
    bao: OpenBao
    proxy: CountingProxy
    kube: FakeKubernetes
    issuer: ServiceAccountIssuer
    values: dict[str, Any] = field(default_factory=dict)  # planted secrets by label (str or bytes)
    _pods: dict[tuple[str, str, tuple[str, ...]], PodContext] = field(default_factory=dict, repr=False)

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[VaultWorld]:
        issuer = ServiceAccountIssuer()
        with FakeKubernetes(token_reviewer=issuer.review) as kube, OpenBao() as bao, CountingProxy(bao.address) as proxy:
            world = cls(bao, proxy, kube, issuer)
            world.enable_kubernetes_auth()
            yield world

    def enable_kubernetes_auth(self, mount: str = "kubernetes", namespace: str = "") -> None:
        self.bao.configure_kubernetes_auth(self.kube.url, self.kube.bearer_token, self.issuer.ca_pem(), mount=mount, namespace=namespace)

    @property
    def secret_strings(self) -> list[str]:
        """Every planted value as it could appear in text (str as is, bytes as base64)."""
        return [base64.b64encode(v).decode() if isinstance(v, bytes) else str(v) for v in self.values.values()]

    def pod(self, service_account: str = "web", namespace: str = "apps", audiences: tuple[str, ...] = ("vault",)) -> PodContext:
        """The one pod of ``service_account``: its remounts carry the same tokens, as kubelet sends them
        (another pod of the account: ``world.issuer.pod(..., name=...)``)."""
        key = (namespace, service_account, audiences)
        if key not in self._pods:
            self._pods[key] = self.issuer.pod(namespace, service_account, audiences)
        return self._pods[key]

    @staticmethod
    def settings(provider_name: str = DEFAULT_PROVIDER_NAME, strict_objects: bool = False, **options: str) -> Settings:
        """Settings with plugin options given as keyword arguments (``vault_role="x"`` → ``vault-role``);
        ``provider_name="vault"`` selects the vault-csi-provider dialect."""
        plugin_options = {name.replace("_", "-"): value for name, value in options.items()}
        return Settings(provider_name=provider_name, strict_objects=strict_objects, plugin_options=plugin_options)

    def request(self, objects: list[dict[str, Any]], pod: PodContext | None = None, **parameters: str | None) -> RawMountRequest:
        """A Mount request for ``objects`` (``objectType: vault`` unless they name one) through the proxy
        with role ``app``; a parameter set to None is left out."""
        typed = [{"objectType": "vault", **obj} for obj in objects]
        merged = {"vaultAddress": self.proxy.address, "roleName": "app", **parameters}
        return mount_request(typed, {k: v for k, v in merged.items() if v is not None}, pod=pod or self.pod())

    @asynccontextmanager
    async def gateway(
        self, *, fake_store: str = "", provider_name: str = DEFAULT_PROVIDER_NAME, strict_objects: bool = False, **options: str
    ) -> AsyncIterator[RunningGateway]:
        """A running gateway with the vault plugin (and the fake one when ``fake_store`` is given)."""
        import gateway_vault.plugin

        plugins: list[tuple[str, object]] = [("vault", gateway_vault.plugin)]
        if fake_store:
            import gateway_fake.plugin

            plugins.append(("fake", gateway_fake.plugin))
            options["fake_store"] = fake_store
        async with running_gateway(plugins, settings=self.settings(provider_name, strict_objects, **options)) as gw:
            yield gw
