"""Service-account JWTs signed by a test key, and the TokenReview decision for them.

OpenBao's ``jwt`` auth method validates these tokens against :attr:`ServiceAccountIssuer.public_pem`;
its ``kubernetes`` auth method sends them to :class:`gateway.testing.kube.FakeKubernetes`, whose
``token_reviewer`` is :meth:`ServiceAccountIssuer.review`. The claims are those of a real
projected token, including the legacy ``kubernetes.io/serviceaccount/*`` ones OpenBao reads.
"""

from __future__ import annotations

import datetime
import secrets
import time
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from gateway.testing import PodContext

ISSUER = "https://kubernetes.default.svc.cluster.local"


class ServiceAccountIssuer:
    def __init__(self, issuer: str = ISSUER) -> None:
        self.issuer = issuer
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.revoked: set[str] = set()

    @property
    def public_pem(self) -> str:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def token(self, namespace: str, service_account: str, audience: str = "vault", lifetime: int = 3600) -> str:
        now = int(time.time())
        uid = f"uid-{namespace}-{service_account}"
        claims = {
            "iss": self.issuer,
            "sub": f"system:serviceaccount:{namespace}:{service_account}",
            "aud": [audience],
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),  # as kubelet's bound tokens: two pods never share a token
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": service_account, "uid": uid}},
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/service-account.name": service_account,
            "kubernetes.io/serviceaccount/service-account.uid": uid,
        }
        return jwt.encode(claims, self._key, algorithm="RS256")

    def review(self, token: str, audiences: list[str]) -> dict[str, Any] | None:
        """TokenReview: the user of a valid, unrevoked token of ours; None otherwise."""
        if token in self.revoked:
            return None
        try:
            claims = jwt.decode(token, self._key.public_key(), algorithms=["RS256"], options={"verify_aud": False})
        except jwt.PyJWTError:
            return None
        if audiences and not set(audiences) & set(claims.get("aud", [])):
            return None
        return {"username": claims["sub"], "uid": claims["kubernetes.io/serviceaccount/service-account.uid"], "groups": []}

    def ca_pem(self) -> str:
        """A self-signed certificate: OpenBao's kubernetes auth config insists on a CA even for http."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kubernetes-ca")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self._key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode()

    def pod(self, namespace: str, service_account: str, audiences: tuple[str, ...] = ("vault",), name: str = "") -> PodContext:
        """A pod whose request carries this issuer's tokens for ``audiences``."""
        tokens = {audience: self.token(namespace, service_account, audience) for audience in audiences}
        return PodContext(name=name or f"{service_account}-0", namespace=namespace, service_account=service_account, tokens=tokens)
