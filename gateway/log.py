"""Logging: setup (text or JSON lines, level) and the one structured line per mount.

Nothing here ever sees a secret value: the mount line carries names, counts and the
user-facing error message, which by construction contains no values or tokens.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import time
from dataclasses import dataclass, field

from gateway.model import MountPlan, MountRequest
from gateway.text import bounded

MOUNT_FIELDS = "mount_fields"
MAX_LOGGED_ERROR = 4096


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the mount's fields."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        document.update(getattr(record, MOUNT_FIELDS, {}))
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...``"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, MOUNT_FIELDS, {})
        if fields:
            line += " " + " ".join(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in fields.items())
        return line


def configure(level: str = "info", fmt: str = "text", stream: object = None) -> None:
    """Configure the root logger once, from the composition root."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("botocore", "urllib3", "hvac", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


@dataclass
class MountLog:
    """Collects what the per-mount log line reports while a mount runs."""

    mount_id: str = field(default_factory=lambda: secrets.token_hex(4))
    started: float = field(default_factory=time.monotonic)
    pod: str = ""
    namespace: str = ""
    service_account: str = ""
    spc: str = ""
    backends: list[str] = field(default_factory=list)
    objects: int = 0
    files: int = 0
    error: str = ""

    def describe_request(self, request: MountRequest) -> None:
        identity = request.identity
        self.pod, self.namespace, self.service_account = identity.pod_name, identity.namespace, identity.service_account
        self.spc = request.spc_name

    def describe_plan(self, plan: MountPlan) -> None:
        self.backends = sorted(plan.locations)
        self.objects = len(plan.objects)

    def emit(self, logger: logging.Logger, outcome: str, duration: float) -> None:
        fields = {
            "mount_id": self.mount_id,
            "pod": self.pod,
            "namespace": self.namespace,
            "service_account": self.service_account,
            "spc": self.spc,
            "backends": self.backends,
            "objects": self.objects,
            "files": self.files,
            "duration_ms": round(duration * 1000, 2),
            "outcome": outcome,
        }
        if self.error:
            fields["error"] = bounded(self.error, MAX_LOGGED_ERROR)
        level = logging.INFO if outcome == "OK" else logging.WARNING
        logger.log(level, "mount %s", outcome, extra={MOUNT_FIELDS: fields})
