"""TLS to Vault as vault-csi-provider configures it: a CA file or a directory of CA files, the name
expected in Vault's certificate (also sent as SNI), a client certificate for mutual TLS, skip-verify.

One ``requests.Session`` per distinct :class:`TlsSettings`. A CA directory is read once into a
bundle file of its own (OpenSSL's ``capath`` would need hashed file names; Vault clients read every
PEM file in the directory), removed when the session closes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import requests.adapters

from gateway.errors import InvalidArgument

PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class TlsSettings:
    """How one connection verifies Vault and shows itself; hashable (sessions are shared per value)."""

    ca_file: str = ""
    ca_directory: str = ""  # used only without ca_file
    server_name: str = ""
    client_cert: str = ""
    client_key: str = ""
    skip_verify: bool = False

    @property
    def client(self) -> tuple[str, str] | None:
        return (self.client_cert, self.client_key) if self.client_cert else None


class _NamedServerAdapter(requests.adapters.HTTPAdapter):
    """Connects to the address but verifies (and sends as SNI) ``server_name``."""

    def __init__(self, server_name: str, **kwargs: Any) -> None:
        self.server_name = server_name
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self.server_name:
            kwargs.update(server_hostname=self.server_name, assert_hostname=self.server_name)
        super().init_poolmanager(*args, **kwargs)


class VaultSession(requests.Session):
    """A session configured from :class:`TlsSettings`; owns the CA bundle it may have written."""

    def __init__(self, tls: TlsSettings, pool_size: int) -> None:
        super().__init__()
        self._bundle_dir = ""
        if tls.skip_verify:
            self.verify = False
        elif tls.ca_file:
            self.verify = tls.ca_file
        elif tls.ca_directory:
            self._bundle_dir = tempfile.mkdtemp(prefix="gateway-vault-ca-")
            bundle = Path(self._bundle_dir) / "ca.pem"
            bundle.write_text(directory_bundle(tls.ca_directory), encoding="utf-8")
            self.verify = str(bundle)
        self.cert = tls.client
        adapter = _NamedServerAdapter(tls.server_name, pool_connections=16, pool_maxsize=pool_size)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def close(self) -> None:
        super().close()
        if self._bundle_dir:
            shutil.rmtree(self._bundle_dir, ignore_errors=True)


def directory_bundle(directory: str) -> str:
    """Every PEM certificate file under ``directory`` (sorted, recursively), as one bundle.

    Raises OSError (reported as a TLS problem) when the directory is unreadable or a file holds no
    certificate — a Vault client refuses such a directory too."""
    pems = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".."))  # Kubernetes' ..data symlink and timestamped copies
        for name in sorted(files):
            path = os.path.join(root, name)
            if name.startswith("..") or not os.path.isfile(path):
                continue
            text = Path(path).read_text(encoding="utf-8", errors="replace")
            if PEM_CERTIFICATE not in text:
                raise OSError(f"{path} holds no PEM certificate")
            pems.append(text.strip() + "\n")
    if not pems:
        raise OSError(f"{directory} holds no CA certificate")
    return "".join(pems)


def check_files(tls: TlsSettings, names: dict[str, str]) -> None:
    """Each configured file or directory exists on the node; ``names`` maps a field to the parameter to name."""
    wanted = [("client_cert", tls.client_cert, os.path.isfile), ("client_key", tls.client_key, os.path.isfile)]
    if not tls.skip_verify:
        wanted += [("ca_file", tls.ca_file, os.path.isfile), ("ca_directory", "" if tls.ca_file else tls.ca_directory, os.path.isdir)]
    for field, path, exists in wanted:
        if path and not exists(path):
            kind = "directory" if field == "ca_directory" else "file"
            raise InvalidArgument(f'{names[field]} "{path}" is not a readable {kind} on the node')
