"""TLS to Vault against real OpenBao servers: a dev-TLS one (generated CA) and one whose second
listener requires a client certificate and presents a certificate for ``vault.test`` only.

Covered: ``vaultCACertPath`` / ``--vault-ca-cert``, ``vaultCADirectory``, ``vaultTLSServerName``,
``vaultTLSClientCertPath``/``KeyPath`` (mTLS), ``vaultSkipTLSVerify`` and how it layers over a
server-wide CA in both dialects. Dev-only token auth keeps logins out of the picture.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.client import MountFailure
from gateway_vault.testing import OpenBao
from gateway_vault.testing import VaultWorld as World

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # skip-verify cases, on purpose
OBJECT = {"objectName": "v", "secretPath": "secret/data/app/tls", "secretKey": "v"}


@dataclass
class TlsVaults:
    dev: OpenBao  # -dev-tls: certificate for 127.0.0.1
    mutual: OpenBao  # second listener: client certificate required, certificate for vault.test only
    value: str
    ca_directory: Path  # the mutual server's CA next to an unrelated certificate

    def paths(self) -> dict[str, str]:
        pki = self.mutual.pki
        assert pki is not None
        return {
            "{dev_ca}": str(self.dev.ca_cert), "{ca}": str(pki.ca), "{ca_dir}": str(self.ca_directory),
            "{cert}": str(pki.client_cert), "{key}": str(pki.client_key),
        }


@pytest.fixture(scope="module")
def tls_vaults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsVaults]:
    value = f"tls-{secrets.token_hex(8)}"
    with OpenBao(tls=True) as dev, OpenBao(mutual_tls=True) as mutual:
        for bao in (dev, mutual):
            bao.kv2_put("secret", "app/tls", {"v": value})
        assert mutual.pki is not None
        directory = tmp_path_factory.mktemp("cas")
        shutil.copy(mutual.pki.ca, directory / "vault-ca.crt")
        shutil.copy(dev.ca_cert, directory / "other-ca.pem")
        yield TlsVaults(dev, mutual, value, directory)


@dataclass(frozen=True)
class TlsCase:
    id: str
    parameters: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    error: tuple[str, str] | None = None  # (code, message part)
    mutual: bool = False  # against the mTLS listener
    provider_name: str = "secrets-gateway"


MTLS = {"vaultCACertPath": "{ca}", "vaultTLSServerName": "vault.test", "vaultTLSClientCertPath": "{cert}", "vaultTLSClientKeyPath": "{key}"}
CASES = [
    TlsCase("ca-cert-parameter", {"vaultCACertPath": "{dev_ca}"}),
    TlsCase("ca-cert-server-default", options={"vault_ca_cert": "{dev_ca}"}),
    TlsCase("skip-verify-parameter", {"vaultSkipTLSVerify": "true"}),
    TlsCase("skip-verify-server-default", options={"vault_skip_tls_verify": "true"}),
    TlsCase("system-roots-refuse-the-dev-ca", error=("Unavailable", "certificate verify failed (check vaultCACertPath or vaultCADirectory)")),
    TlsCase(
        "parameter-false-overrides-server-skip", {"vaultSkipTLSVerify": "false"}, {"vault_skip_tls_verify": "true"},
        error=("Unavailable", "certificate verify failed"),
    ),
    TlsCase("skip-and-ca-conflict", {"vaultSkipTLSVerify": "true", "vaultCACertPath": "{dev_ca}"}, error=("InvalidArgument", "conflicts with vaultCACertPath")),
    TlsCase("class-skip-wins-over-server-ca", {"vaultSkipTLSVerify": "true"}, {"vault_ca_cert": "{ca}"}),
    TlsCase("mtls", MTLS, mutual=True),
    TlsCase("mtls-ca-directory", {**MTLS, "vaultCACertPath": "", "vaultCADirectory": "{ca_dir}"}, mutual=True),
    TlsCase(
        "mtls-from-server-options", options={"vault_ca_cert": "{ca}", "vault_tls_server_name": "vault.test", "vault_tls_client_cert": "{cert}", "vault_tls_client_key": "{key}"},
        mutual=True,
    ),
    TlsCase("mtls-skip-verify-needs-no-name", {"vaultSkipTLSVerify": "true", "vaultTLSClientCertPath": "{cert}", "vaultTLSClientKeyPath": "{key}"}, mutual=True),
    TlsCase(
        "mtls-without-server-name", {**MTLS, "vaultTLSServerName": ""}, mutual=True,
        error=("Unavailable", "certificate is not valid for that host name (check vaultTLSServerName)"),
    ),
    TlsCase(
        "mtls-without-client-certificate", {**MTLS, "vaultTLSClientCertPath": "", "vaultTLSClientKeyPath": ""}, mutual=True,
        error=("Unavailable", "Vault refused the client certificate (check vaultTLSClientCertPath and vaultTLSClientKeyPath)"),
    ),
    TlsCase("vault-dialect-skip-wins-over-class-ca", {"vaultSkipTLSVerify": "true", "vaultCACertPath": "{ca}"}, provider_name="vault"),
    TlsCase(
        "vault-dialect-false-keeps-server-skip", {"vaultSkipTLSVerify": "false"}, {"vault_skip_tls_verify": "true"}, provider_name="vault",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_tls(world: World, tls_vaults: TlsVaults, case: TlsCase) -> None:
    paths = tls_vaults.paths()

    def local(value: str) -> str:
        return paths.get(value, value)

    bao = tls_vaults.mutual if case.mutual else tls_vaults.dev
    address = bao.mtls_address if case.mutual else bao.address
    options = {
        "vault_address": address, "vault_allow_token_auth": "true", "vault_token": "root", "vault_auth_method": "token",
        **{k: local(v) for k, v in case.options.items()},
    }
    parameters = {k: local(v) for k, v in case.parameters.items() if v}
    request = world.request([OBJECT], world.pod(audiences=()), vaultAddress=None, roleName=None, **parameters)
    async with world.gateway(provider_name=case.provider_name, **options) as gw:
        if case.error is None:
            result = await gw.mount(request)
            assert result.files[0].contents == tls_vaults.value.encode()
            return
        with pytest.raises(MountFailure) as failure:
            await gw.mount(request)
        retries = [
            gw.metrics.registry.get_sample_value("secrets_gateway_retries_total", {"backend": "vault", "operation": operation})
            for operation in ("mounts", "read")
        ]
    assert (failure.value.code_name, case.error[1] in failure.value.message) == (case.error[0], True), failure.value.message
    assert not any(retries)  # a certificate problem is not retried at the same address


@pytest.mark.parametrize(
    ("variables", "mutual"),
    [
        pytest.param({"VAULT_CACERT": "{dev_ca}"}, False, id="vault-cacert"),
        pytest.param({"VAULT_CAPATH": "{ca_dir}", "VAULT_TLS_SERVER_NAME": "vault.test", "VAULT_CLIENT_CERT": "{cert}", "VAULT_CLIENT_KEY": "{key}"},
                     True, id="vault-capath-server-name-client-cert"),
    ],
)
async def test_tls_from_the_vault_environment(world: World, tls_vaults: TlsVaults, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], mutual: bool) -> None:
    """The provider's environment (``VAULT_*``, as every Vault client reads it) configures TLS when no option or parameter does."""
    paths = tls_vaults.paths()
    for name, value in variables.items():
        monkeypatch.setenv(name, paths.get(value, value))
    address = tls_vaults.mutual.mtls_address if mutual else tls_vaults.dev.address
    monkeypatch.setenv("VAULT_ADDR", address)
    request = world.request([OBJECT], world.pod(audiences=()), vaultAddress=None, roleName=None)
    async with world.gateway(provider_name="vault", vault_allow_token_auth="true", vault_token="root", vault_auth_method="token") as gw:
        result = await gw.mount(request)
    assert result.files[0].contents == tls_vaults.value.encode()
