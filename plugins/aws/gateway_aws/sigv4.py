"""AWS Signature Version 4 for the plugin's own requests: the headers to add, as botocore's ``SigV4Auth`` makes them.

Signed: ``host`` and every given header but the ones botocore never signs (``User-Agent`` among them), plus the
``X-Amz-Date`` and ``X-Amz-Security-Token`` added here; the payload hash covers the body. Only what the plugin
sends is handled: a path without a query string (``/`` for the JSON protocol).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
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
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    result = {**headers, "X-Amz-Date": stamp}
    if token:
        result["X-Amz-Security-Token"] = token
    signing = sorted(
        [("host", host)] + [(name.lower(), " ".join(value.split())) for name, value in result.items() if name.lower() not in UNSIGNED]
    )
    names = ";".join(name for name, _ in signing)
    canonical = "\n".join(
        [method, quote(path or "/", safe="/~"), "", "".join(f"{name}:{value}\n" for name, value in signing), names,
         hashlib.sha256(body).hexdigest()]
    )  # fmt: skip
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = f"AWS4{secret_key}".encode()
    for part in (stamp[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    result["Authorization"] = f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={names}, Signature={signature}"
    return result
