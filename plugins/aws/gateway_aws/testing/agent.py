"""A small real HTTP server acting as the EKS Pod Identity agent (``GET /v1/credentials``).

A token is associated with a role (:meth:`FakePodIdentityAgent.associate`); the agent
answers its ``Authorization`` header with fresh credentials for that role and reports each
issued access key to ``on_issue`` (e.g. :meth:`AwsProxy.register_role`), so the proxy can
apply per-role faults. Unknown tokens get 400; :meth:`fail` and :meth:`delay` inject errors
and latency for the next ``times`` requests.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.testing.local import LocalHTTPServer, QuietHandler

CREDENTIALS_PATH = "/v1/credentials"


@dataclass
class _Fault:
    status: int
    latency: float
    times: int


class FakePodIdentityAgent(LocalHTTPServer):

    thread_name = "pod-identity-agent"
    def __init__(self, on_issue: Callable[[str, str], None] | None = None, lifetime: timedelta = timedelta(hours=6)) -> None:
        self.on_issue = on_issue or (lambda access_key, role: None)
        self.lifetime = lifetime
        self.associations: dict[str, str] = {}  # token -> role ARN
        self.requests = 0
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()

    def associate(self, token: str, role: str) -> None:
        self.associations[token] = role

    def fail(self, status: int = 500, times: int = 1) -> None:
        with self._lock:
            self._faults.append(_Fault(status, 0.0, times))

    def delay(self, seconds: float, times: int = 1) -> None:
        with self._lock:
            self._faults.append(_Fault(0, seconds, times))

    @property
    def url(self) -> str:
        return self.base_url + CREDENTIALS_PATH

    def answer(self, path: str, token: str) -> tuple[int, dict[str, Any], float]:
        with self._lock:
            self.requests += 1
            fault = next((f for f in self._faults if f.times > 0), None)
            if fault is not None:
                fault.times -= 1
        latency = fault.latency if fault else 0.0
        if fault is not None and fault.status:
            return fault.status, {"message": "injected agent fault"}, latency
        if path != CREDENTIALS_PATH:
            return 404, {"message": "not found"}, latency
        role = self.associations.get(token)
        if role is None:
            return 400, {"message": "Service account token cannot be verified"}, latency
        access_key = "ASIA" + secrets.token_hex(8).upper()
        self.on_issue(access_key, role)
        expiration = (datetime.now(UTC) + self.lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
        document = {
            "AccessKeyId": access_key,
            "SecretAccessKey": secrets.token_urlsafe(30),
            "Token": secrets.token_urlsafe(60),
            "AccountId": role.split(":")[4],
            "Expiration": expiration,
        }
        return 200, document, latency


class _Handler(QuietHandler):
    owner: FakePodIdentityAgent

    def do_GET(self) -> None:
        status, document, latency = self.owner.answer(self.path, self.headers.get("Authorization", ""))
        if latency:
            time.sleep(latency)
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


FakePodIdentityAgent.handler_class = _Handler
