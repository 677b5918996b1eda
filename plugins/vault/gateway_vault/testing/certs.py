"""A throwaway certificate authority for TLS tests: a CA, a server certificate for one DNS name
(and, only when asked, for 127.0.0.1: otherwise clients must name the server) and a client certificate, as PEM files."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class ThrowawayPki:
    directory: Path
    server_name: str

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def client_cert(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.directory / "client.key"

    @classmethod
    def create(cls, directory: Path, server_name: str = "vault.test", *, loopback: bool = False) -> ThrowawayPki:
        directory.mkdir(parents=True, exist_ok=True)
        pki = cls(directory, server_name)
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (
            _builder(_name("test CA"), _name("test CA"), ca_key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        _write(pki.ca, ca.public_bytes(serialization.Encoding.PEM))
        server_names: list[x509.GeneralName] = [x509.DNSName(server_name)]
        if loopback:
            server_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        for cert_path, key_path, name, sans in (
            (pki.server_cert, pki.server_key, server_name, server_names),
            (pki.client_cert, pki.client_key, "test client", []),
        ):
            key = ec.generate_private_key(ec.SECP256R1())
            builder = _builder(_name(name), ca.subject, key.public_key(), now)
            if sans:
                builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            _write(cert_path, builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
            _write(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return pki


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: datetime.datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
