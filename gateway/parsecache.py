"""The planner's parse cache: parsed SecretProviderClasses kept by a digest of the text they came from.

Bounded by the memory the parsed results hold (each entry weighed by its caller, see
:meth:`gateway.objects.ParsedObjects.kept_bytes`), not by the size of one class: a legal 1.4 MB
class is parsed once, not on every mount. Keys are SHA-256 digests, so the cache does not keep the
texts themselves. Safe to use from threads. What it keeps is long-lived by design, so it is kept
out of garbage collections (:mod:`gateway.gcpolicy`).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Generic, TypeVar

from gateway import gcpolicy

V = TypeVar("V")

ENTRY_OVERHEAD_BYTES = 2048


class ParseCache(Generic[V]):
    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[bytes, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(texts: Sequence[str]) -> bytes:
        digest = hashlib.sha256()
        for text in texts:
            encoded = text.encode("utf-8", "surrogatepass")
            digest.update(len(encoded).to_bytes(8, "big"))
            digest.update(encoded)
        return digest.digest()

    def get(self, key: bytes) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: bytes, value: V, kept_bytes: int) -> None:
        """Keep ``value`` (holding about ``kept_bytes``), evicting the least recently used over the bound."""
        weight = kept_bytes + ENTRY_OVERHEAD_BYTES
        if weight > self.max_bytes:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self.bytes -= previous[1]
            self._entries[key] = (value, weight)
            self.bytes += weight
            while self.bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self.bytes -= evicted
        gcpolicy.admitted_long_lived(weight)
