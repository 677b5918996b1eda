"""Logging: setup (text or JSON lines, level, UTC) and the one structured line per mount.

Every line the process writes goes through the configured formatter: Python loggers of any
library (grpc, asyncio, botocore…), ``warnings``, uncaught exceptions in threads and, once
:func:`route_native_stderr` ran, what native code (gRPC core) writes to file descriptor 2.

Nothing here ever sees a secret value: the mount line carries names, counts and the
user-facing error message, which by construction contains no values or tokens.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field

from gateway.model import MountPlan, MountRequest
from gateway.text import bounded

MOUNT_FIELDS = "mount_fields"
MAX_LOGGED_ERROR = 4096
#: one encoder each for every line (``json.dumps`` with these options builds a new encoder on every call)
_encode_field = json.JSONEncoder(ensure_ascii=False).encode
_encode_document = json.JSONEncoder(ensure_ascii=False, default=str).encode


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and the mount's fields."""

    converter = time.gmtime  # type: ignore[assignment]  # typeshed types gmtime as taking no argument

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
        return _encode_document(document)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...`` with the time in UTC (ISO 8601, ``Z``)."""

    converter = time.gmtime  # type: ignore[assignment]  # typeshed types gmtime as taking no argument
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, MOUNT_FIELDS, {})
        if fields:
            line += " " + " ".join(f"{key}={_encode_field(value)}" for key, value in fields.items())
        return line


def configure(level: str = "info", fmt: str = "text", stream: object = None) -> None:
    """Configure the root logger once, from the composition root; every logger ends up there."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # neither format shows the thread or process: a record need not look them up (logging's documented switches)
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    for noisy in ("botocore", "urllib3", "hvac", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    for name in list(logging.root.manager.loggerDict):  # libraries that brought their own handler
        existing = logging.getLogger(name)
        existing.handlers[:] = [h for h in existing.handlers if isinstance(h, logging.NullHandler)]
        existing.propagate = True
    logging.captureWarnings(False)  # re-capture: an earlier capture may hold a showwarning since replaced
    logging.captureWarnings(True)
    threading.excepthook = _log_thread_exception


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is not SystemExit and args.exc_value is not None:
        thread = args.thread.name if args.thread else "?"
        logging.getLogger("gateway.thread").error(
            "uncaught exception in thread %s", thread, exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
        )


#: gRPC core's (absl) line prefix: severity letter, then MMDD
_NATIVE_LEVELS = {"E": logging.ERROR, "W": logging.WARNING, "I": logging.INFO, "F": logging.CRITICAL}


def route_native_stderr(logger_name: str = "grpc.core") -> None:
    """Send what native code writes to fd 2 through the configured formatter (``serve`` only).

    Python's own stderr (and the log handler) keep writing to the original stream; fd 2
    becomes a pipe that a daemon thread reads line by line into ``logger_name``.
    """
    original = os.dup(2)
    stream = os.fdopen(original, "w", buffering=1, encoding="utf-8", errors="replace")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stderr, sys.__stderr__):
            handler.setStream(stream)
    sys.stderr = stream
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    logger = logging.getLogger(logger_name)
    threading.Thread(target=_pump, args=(read_end, logger), name="native-stderr", daemon=True).start()


def _pump(read_end: int, logger: logging.Logger) -> None:
    with os.fdopen(read_end, "r", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            text = line.rstrip("\n")
            if text:
                logger.log(_NATIVE_LEVELS.get(text[:1], logging.WARNING) if text[1:5].isdigit() else logging.WARNING, "%s", text)


@dataclass
class MountLog:
    """Collects what the per-mount log line reports while a mount runs."""

    started: float = field(default_factory=time.monotonic)
    pod: str = ""
    namespace: str = ""
    service_account: str = ""
    spc: str = ""
    backends: list[str] = field(default_factory=list)
    objects: int = 0
    files: int = 0
    error: str = ""
    _mount_id: str = field(default="", init=False, repr=False)

    @property
    def mount_id(self) -> str:
        """A short random id tying the mount's log lines and its error together (drawn when first needed)."""
        if not self._mount_id:
            self._mount_id = secrets.token_hex(4)
        return self._mount_id

    def describe_request(self, request: MountRequest) -> None:
        identity = request.identity
        self.pod, self.namespace, self.service_account = identity.pod_name, identity.namespace, identity.service_account
        self.spc = request.spc_name

    def describe_plan(self, plan: MountPlan) -> None:
        self.backends = sorted(plan.locations)
        self.objects = len(plan.objects)

    def emit(self, logger: logging.Logger, outcome: str, duration: float) -> None:
        level = logging.INFO if outcome == "OK" else logging.WARNING
        if not logger.isEnabledFor(level):  # the fields are gathered only for a line that is written
            return
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
        logger.log(level, "mount %s", outcome, extra={MOUNT_FIELDS: fields})
