"""TLS to Vault as vault-csi-provider configures it: a CA file or a directory of CA files, the name
expected in Vault's certificate (also sent as SNI), a client certificate for mutual TLS, skip-verify.

One :class:`ssl.SSLContext` per distinct :class:`TlsSettings`. A CA directory is read once into an
in-memory bundle (OpenSSL's ``capath`` would need hashed file names; Vault clients read every PEM
file in the directory).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from gateway.plugin import InvalidArgument

PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class TlsSettings:
    """How one connection verifies Vault and shows itself; hashable (contexts are shared per value)."""

    ca_file: str = ""
    ca_directory: str = ""  # used only without ca_file
    server_name: str = ""
    client_cert: str = ""
    client_key: str = ""
    skip_verify: bool = False

    @property
    def client(self) -> tuple[str, str] | None:
        return (self.client_cert, self.client_key) if self.client_cert else None


def ssl_context(tls: TlsSettings) -> ssl.SSLContext:
    """The client TLS context for ``tls`` (the name to expect is passed per connection).

    Raises OSError when a CA directory is unusable and ssl.SSLError when a file holds no usable
    certificate or key — a Vault client refuses such a setup too."""
    if tls.skip_verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif tls.ca_file:
        context = ssl.create_default_context(cafile=tls.ca_file)
    elif tls.ca_directory:
        context = ssl.create_default_context(cadata=directory_bundle(tls.ca_directory))
    else:
        context = ssl.create_default_context()
    if tls.client:
        context.load_cert_chain(*tls.client)
    return context


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
