"""The HMAC key behind object versions, kept in a Kubernetes Secret so versions survive restarts.

As vault-csi-provider's ``-hmac-secret-name``: the first provider to need the key reads the Secret
(in its own namespace); when it is missing, every provider races to create it (immutable, one
random 32-byte key under ``data.key``) and the losers read the winner's. All providers on all
nodes then give equal content equal versions, before and after restarts, so the driver does not
rewrite files after a provider restart. Until the key is available (no RBAC, API down), versions
use a per-process key and the load is retried after :data:`RETRY_AFTER` seconds; a Secret without a
usable key is reported (delete it to let a new one be created) and not overwritten.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
import time
from collections.abc import Callable

from gateway.plugin import GatewayError, InvalidArgument
from gateway_kube.kubeapi import KubeApi, KubeConflict, KubeNotFound

KEY_NAME = "key"
KEY_BYTES = 32
RETRY_AFTER = 30.0
log = logging.getLogger("gateway_vault")


class HmacKeySecret:
    def __init__(self, kube: KubeApi, namespace: str, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.clock = clock
        self._key: bytes | None = None
        self._next_try = 0.0

    @property
    def where(self) -> str:
        return f"Secret {self.namespace}/{self.name}"

    async def key(self) -> bytes | None:
        """The shared key; None while it cannot be had (then retried after a pause, never per mount)."""
        if self._key is not None or self.clock() < self._next_try:
            return self._key
        try:
            self._key = await self._get_or_create()
        except GatewayError as exc:
            self._next_try = self.clock() + RETRY_AFTER
            log.warning("object versions use a per-process key until the HMAC key in %s can be read: %s", self.where, exc.message)
        return self._key

    async def _get_or_create(self) -> bytes:
        try:
            return self._key_of(await self.kube.secret(self.namespace, self.name))
        except KubeNotFound:
            pass
        candidate = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "immutable": True,
            "data": {KEY_NAME: base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()},
        }
        try:
            created = await self.kube.create_secret(self.namespace, candidate)
        except KubeConflict:  # another provider created it first: use theirs
            created = await self.kube.secret(self.namespace, self.name)
        else:
            log.info("created the HMAC key for object versions in %s", self.where)
        return self._key_of(created)

    def _key_of(self, secret: dict[str, object]) -> bytes:
        data = secret.get("data")
        encoded = data.get(KEY_NAME) if isinstance(data, dict) else None
        try:
            key = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
        except (binascii.Error, ValueError):
            key = b""
        if not key:
            raise InvalidArgument(f'{self.where} has no usable "{KEY_NAME}"; delete it to let a new key be created')
        return key
