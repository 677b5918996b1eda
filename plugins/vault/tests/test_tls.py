"""TLS to Vault: ``vaultCACertPath`` / ``--vault-ca-cert``, ``vaultSkipTLSVerify`` / ``--vault-skip-tls-verify``,
against a real OpenBao with a generated CA (dev-only token auth, which these tests also cover)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from gateway.client import MountFailure
from gateway_vault.testing import OpenBao
from gateway_vault.testing import VaultWorld as World

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # skip-verify cases, on purpose
OBJECT = {"objectName": "v", "secretPath": "secret/app/tls", "secretKey": "v"}


@dataclass
class TlsVault:
    bao: OpenBao
    value: str


@pytest.fixture(scope="module")
def tls_vault() -> Iterator[TlsVault]:
    with OpenBao(tls=True) as bao:
        value = f"tls-{secrets.token_hex(8)}"
        bao.kv2_put("secret", "app/tls", {"v": value})
        yield TlsVault(bao, value)


@dataclass(frozen=True)
class TlsCase:
    id: str
    parameters: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    error: tuple[str, str] | None = None  # (code, message part)


CA = "{ca}"  # replaced by the generated CA's path
CASES = [
    TlsCase("ca-cert-parameter", {"vaultCACertPath": CA}),
    TlsCase("ca-cert-server-default", options={"vault_ca_cert": CA}),
    TlsCase("skip-verify-parameter", {"vaultSkipTLSVerify": "true"}),
    TlsCase("skip-verify-server-default", options={"vault_skip_tls_verify": "true"}),
    TlsCase("system-roots-refuse-the-dev-ca", error=("Unavailable", "TLS with Vault failed: certificate verify failed (check vaultCACertPath)")),
    TlsCase(
        "parameter-false-overrides-server-skip", {"vaultSkipTLSVerify": "false"}, {"vault_skip_tls_verify": "true"},
        error=("Unavailable", "certificate verify failed"),
    ),
    TlsCase("skip-and-ca-conflict", {"vaultSkipTLSVerify": "true", "vaultCACertPath": CA}, error=("InvalidArgument", "conflicts with the CA certificate")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_tls(world: World, tls_vault: TlsVault, case: TlsCase) -> None:
    ca = str(tls_vault.bao.ca_cert)
    options = {
        "vault_address": tls_vault.bao.address, "vault_allow_token_auth": "true", "vault_token": "root", "vault_auth_method": "token",
        **{k: v.replace(CA, ca) for k, v in case.options.items()},
    }
    parameters = {k: v.replace(CA, ca) for k, v in case.parameters.items()}
    request = world.request([OBJECT], world.pod(audiences=()), vaultAddress=None, roleName=None, **parameters)
    async with world.gateway(**options) as gw:
        if case.error is None:
            result = await gw.mount(request)
            assert result.files[0].contents == tls_vault.value.encode()
            return
        with pytest.raises(MountFailure) as failure:
            await gw.mount(request)
        retries = gw.metrics.registry.get_sample_value("secrets_gateway_retries_total", {"backend": "vault", "operation": "mounts"})
    assert (failure.value.code_name, case.error[1] in failure.value.message) == (case.error[0], True)
    assert not retries  # a certificate problem is not retried at the same address
