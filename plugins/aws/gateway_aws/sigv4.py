"""AWS Signature Version 4 for the plugin's own requests: the headers to add, as botocore's ``SigV4Auth`` makes them.

Signed: ``host`` and every given header but the ones botocore never signs (``User-Agent`` among them), plus the
``X-Amz-Date`` and ``X-Amz-Security-Token`` added here; the payload hash covers the body. Only what the plugin
sends is handled: a path without a query string (``/`` for the JSON protocol).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
STAMP = "%Y%m%dT%H%M%SZ"
UNSIGNED = frozenset({"user-agent", "expect", "x-amzn-trace-id", "connection", "content-length", "transfer-encoding"})


def signed_headers(
    *,
    method: str,
    host: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    access_key: str,
    secret_key: str,
    token: str | None,
    service: str,
    region: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """``headers`` plus ``X-Amz-Date``, ``X-Amz-Security-Token`` (with a session token) and ``Authorization``."""
    stamp = now.strftime(STAMP) if now is not None else time.strftime(STAMP, time.gmtime())
    day = stamp[:8]
    result = {**headers, "X-Amz-Date": stamp}
    if token:
        result["X-Amz-Security-Token"] = token
    signing = sorted(
        [("host", host)] + [(lowered, " ".join(value.split())) for name, value in result.items() if (lowered := name.lower()) not in UNSIGNED]
    )
    names = ";".join([name for name, _ in signing])
    lines = "".join([f"{name}:{value}\n" for name, value in signing])
    canonical = f"{method}\n{_canonical_path(path)}\n\n{lines}\n{names}\n{hashlib.sha256(body).hexdigest()}"
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")  # one-shot, in C: hmac.new() is a Python object per step
    signature = hmac.digest(key, to_sign.encode(), "sha256").hex()
    result["Authorization"] = f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={names}, Signature={signature}"
    return result


@functools.lru_cache(maxsize=64)
def _canonical_path(path: str) -> str:
    """The URI-encoded path (the plugin's are a handful, ``/`` for the JSON protocol)."""
    return quote(path or "/", safe="/~")
