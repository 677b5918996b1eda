"""The bad-input corpus: case files, request building, and one real gateway server for the session.

Shared by the corpus runner (``tests/corpus/test_corpus.py``) and the fuzz run (``tests/fuzz``).
The file format is described in ``tests/corpus/README.md``.

The server is the real gRPC provider on a temporary unix socket (``gateway.testing.running_gateway``)
with the real ``fake`` plugin reading :data:`STORE_FILE`. It runs in this process, on its own event
loop in a background thread, so synchronous tests (and hypothesis) can call it and its memory is
this process's memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import shutil
import tempfile
import threading
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import yaml

from gateway.client import MountFailure
from gateway.errors import go_code_name
from gateway.model import MountResult
from gateway.request import POD_NAME, POD_NAMESPACE, POD_UID, SERVICE_ACCOUNT, SPC_NAME, RawMountRequest
from gateway.settings import Settings
from gateway.testing import RunningGateway, running_gateway
from gateway_aws import ascp as ascp_dialect_plugin
from gateway_fake import plugin as fake_plugin

_Dumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump_yaml(value: Any) -> str:
    """``yaml.safe_dump`` (with libyaml when available: the pure-Python emitter takes seconds on MB strings)."""
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


CORPUS_DIR = Path(__file__).parent
CASES_DIR = CORPUS_DIR / "cases"
STORE_FILE = CORPUS_DIR / "store.yaml"

#: every secret value and token in the corpus contains this marker; no error message may
PLANTED = "PLANTED"
#: a sane bound for a pod event (the server cuts status messages near 3,000 characters)
MAX_MESSAGE_CHARS = 4096
#: RSS growth allowed over the whole corpus (10,000-object and multi-MiB cases included)
RSS_GROWTH_BOUND = 50 * 1024 * 1024
#: client-side bound per call, far above any legitimate answer: a hang shows up as a failure
CALL_TIMEOUT = 30.0
#: how long past its gRPC deadline a call may take before the harness calls it a hang
HANG_GRACE = 3.0

#: the limits of the session's server (small, so "too large" cases stay cheap); it answers as
#: provider "aws", so classes are read in the ASCP dialect, whose messages the cases quote
SETTINGS = Settings(
    provider_name="aws",
    max_objects=10_000,
    max_value_bytes=256 * 1024,
    max_response_bytes=512 * 1024,
    max_parameter_bytes=8 * 1024 * 1024,  # the huge-string cases test their messages, not the parameter budget
    max_parse_seconds=20.0,  # the 200,000-node cases parse in seconds; on a loaded test machine in more than 10
    backend_timeout=5.0,
    mount_timeout=20.0,
    http_address="",
)

#: the fake backend, and only the ASCP dialect of the aws plugin (no AWS backends)
PLUGINS = [("fake", fake_plugin), ("ascp", ascp_dialect_plugin)]
POD = {"name": "corpus-pod", "namespace": "corpus", "serviceAccount": "corpus-sa", "uid": "0b9f4a4e-corpus"}
GOOD_OBJECTS = "- {objectName: good, objectType: fake}\n"
GOOD_CONTENTS = b"good-value"
CODES = {go_code_name(code): code for code in grpc.StatusCode}

CASE_KEYS = frozenset({"id", "description", "request", "expect", "xfail", "heavy", "isolate", "deadline"})
REQUEST_KEYS = frozenset(
    {"objects", "parameters", "pod", "extra_attributes", "attributes", "secrets", "permission", "current_versions", "target_path"}
)
EXPECT_KEYS = frozenset({"code", "message", "absent"})


class Hang(Exception):
    """A call that did not even time out: the event loop serving it is blocked."""


class CorpusError(ValueError):
    """A case file is malformed (a bug in the corpus, not in the gateway)."""


# --------------------------------------------------------------------------- directives


def expand(value: Any) -> Any:
    """Expand the compact directives of a case (see README.md) into the values they stand for.

    A mapping with exactly one key starting with ``$`` is a directive:

    - ``$repeat: {text: "x", count: 5000000}`` → ``"x" * 5000000`` (``char`` is an alias of ``text``)
    - ``$concat: [a, {$repeat: …}, b]`` → the parts (expanded) joined
    - ``$range: {template: "- {objectName: o{i}, objectType: fake}\\n", count: 10000, start: 0, sep: ""}``
      → the template once per ``i`` (only ``{i}`` is substituted), joined by ``sep``; with
      ``list: true`` the list of them instead
    - ``$json: <any>`` → ``json.dumps`` of the (expanded) value
    - ``$yaml: <any>`` → ``yaml.safe_dump`` of the (expanded) value
    - ``$chars: [0x202E, 0x200B]`` → the string of those code points (lone surrogates allowed)
    """
    if isinstance(value, list):
        return [expand(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, argument), = value.items()
        if isinstance(key, str) and key.startswith("$"):
            return _directive(key, argument)
    return {key: expand(item) for key, item in value.items()}


def _directive(name: str, argument: Any) -> Any:
    if name == "$repeat":
        text = argument.get("text", argument.get("char"))
        return _string(expand(text), name) * int(argument["count"])
    if name == "$concat":
        return "".join(_string(expand(part), name) for part in argument)
    if name == "$range":
        template = _string(expand(argument["template"]), name)
        start = int(argument.get("start", 0))
        numbers = range(start, start + int(argument["count"]))
        if argument.get("list"):
            return [template.replace("{i}", str(i)) for i in numbers]
        return str(argument.get("sep", "")).join(template.replace("{i}", str(i)) for i in numbers)
    if name == "$json":
        return json.dumps(expand(argument))
    if name == "$yaml":
        return dump_yaml(expand(argument))
    if name == "$chars":
        return "".join(chr(int(point)) for point in argument)
    raise CorpusError(f"unknown directive {name}")


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise CorpusError(f"{where}: expected a string, got {type(value).__name__}")
    return value


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    id: str
    description: str
    source: str  # file name inside cases/
    spec: Mapping[str, Any] = field(repr=False)  # the request mapping, directives not yet expanded
    code: str = "InvalidArgument"
    fragments: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    xfail: str = ""
    heavy: bool = False
    isolate: bool = False  # run in a child process with its own server (the case crashed the process)
    deadline: float = CALL_TIMEOUT  # the client's deadline for this case

    def build(self) -> RawMountRequest:
        return build_request(self.spec)

    def fingerprint(self) -> str:
        """Identifies the request as written (directives unexpanded): two cases must differ."""
        text = json.dumps(self.spec, sort_keys=True, ensure_ascii=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def load_cases(directory: Path = CASES_DIR) -> list[Case]:
    cases: list[Case] = []
    for path in sorted(directory.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or not isinstance(document.get("cases"), list):
            raise CorpusError(f"{path.name}: expected a mapping with a 'cases' list")
        defaults = document.get("defaults") or {}
        for number, raw in enumerate(document["cases"]):
            cases.append(_case(raw, defaults, f"{path.name} case {number}", path.name))
    return cases


def _case(raw: Any, defaults: Mapping[str, Any], where: str, source: str) -> Case:
    if not isinstance(raw, dict):
        raise CorpusError(f"{where}: a case must be a mapping")
    unknown = set(raw) - CASE_KEYS
    if unknown:
        raise CorpusError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("id", "description", "request", "expect"):
        if key not in raw:
            raise CorpusError(f"{where}: missing {key}")
    request = {**defaults.get("request", {}), **raw["request"]}
    expect = {**defaults.get("expect", {}), **raw["expect"]}
    if set(request) - REQUEST_KEYS:
        raise CorpusError(f"{where} ({raw['id']}): unknown request keys {sorted(set(request) - REQUEST_KEYS)}")
    if "attributes" in request and set(request) & {"objects", "parameters", "pod", "extra_attributes"}:
        raise CorpusError(f"{where} ({raw['id']}): 'attributes' replaces objects/parameters/pod/extra_attributes")
    if set(expect) - EXPECT_KEYS:
        raise CorpusError(f"{where} ({raw['id']}): unknown expect keys {sorted(set(expect) - EXPECT_KEYS)}")
    fragments = expect.get("message", [])
    fragments = [fragments] if isinstance(fragments, str) else list(fragments)
    absent = expect.get("absent", [])
    absent = [absent] if isinstance(absent, str) else list(absent)
    code = expect.get("code", "InvalidArgument")
    if code not in CODES:
        raise CorpusError(f"{where} ({raw['id']}): unknown code {code!r} (use Go spelling, e.g. InvalidArgument)")
    return Case(
        id=str(raw["id"]),
        description=str(raw["description"]),
        source=source,
        spec=request,
        code=code,
        fragments=tuple(expand(fragment) for fragment in fragments),
        absent=tuple(expand(fragment) for fragment in absent),
        xfail=str(raw.get("xfail") or ""),
        heavy=bool(raw.get("heavy", False)),
        isolate=bool(raw.get("isolate", False)),
        deadline=float(raw.get("deadline", CALL_TIMEOUT)),
    )


def build_request(spec: Mapping[str, Any]) -> RawMountRequest:
    """The Mount request a case describes, built the way the driver builds one."""
    spec = expand(dict(spec))
    if "attributes" in spec:
        attributes = _wire_json(spec["attributes"])
    else:
        parameters = dict(spec.get("parameters") or {})
        if "objects" in spec:
            objects = spec["objects"]
            parameters["objects"] = objects if isinstance(objects, str) else dump_yaml(objects)
        merged: dict[str, Any] = dict(parameters)
        pod = spec.get("pod", POD)
        if pod is not None:
            merged.update(
                {
                    POD_NAME: pod.get("name", ""),
                    POD_NAMESPACE: pod.get("namespace", ""),
                    POD_UID: pod.get("uid", ""),
                    SERVICE_ACCOUNT: pod.get("serviceAccount", ""),
                    "csi.storage.k8s.io/ephemeral": "false",
                    SPC_NAME: "corpus-spc",
                }
            )
        merged.update(spec.get("extra_attributes") or {})
        attributes = json.dumps(merged)
    return RawMountRequest(
        attributes=attributes,
        secrets=_wire_json(spec.get("secrets", "{}")),
        permission=_wire_json(spec.get("permission", "420")),
        target_path=str(spec.get("target_path", "/var/lib/kubelet/pods/corpus/volumes/kubernetes.io~csi/secrets/mount")),
        current_versions=tuple(_version_pair(item) for item in spec.get("current_versions", ())),
    )


def _version_pair(item: Any) -> tuple[str, str]:
    """``[id, version]`` or ``"id=version"``."""
    if isinstance(item, str):
        object_id, _, version = item.partition("=")
        return object_id, version
    object_id, version = item
    return str(object_id), str(version)


def _wire_json(value: Any) -> str:
    """A string is sent as it is; anything else as its JSON text."""
    return value if isinstance(value, str) else json.dumps(value)


def good_request() -> RawMountRequest:
    return build_request({"objects": GOOD_OBJECTS})


def check_good(result: MountResult) -> None:
    assert [(f.path, f.contents) for f in result.files] == [("good", GOOD_CONTENTS)], "the known-good mount changed"


def write_store(directory: Path) -> Path:
    """The fake store file, with its directives expanded."""
    document = expand(yaml.safe_load(STORE_FILE.read_text(encoding="utf-8")))
    path = directory / "store.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1 << 30), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the server


class SessionGateway:
    """The real provider server, on its own event loop in a daemon thread."""

    def __init__(self, settings: Settings = SETTINGS) -> None:
        self._directory = Path(tempfile.mkdtemp(prefix="sgw-corpus-", dir="/tmp"))
        store = write_store(self._directory)
        self.settings = replace(settings, plugin_options={**settings.plugin_options, "fake-store": str(store)})
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="corpus-gateway", daemon=True)
        self._stack = AsyncExitStack()
        self.running: RunningGateway | None = None
        self.users = 0

    def start(self) -> None:
        self._thread.start()
        self.running = self._call(self._stack.enter_async_context(running_gateway(PLUGINS, settings=self.settings)), 30)
        self.running.gateway.planner.start_workers(wait=True)  # cases with a short deadline do not wait for a worker to start

    def stop(self) -> None:
        try:
            self._call(self._stack.aclose(), 30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()
            shutil.rmtree(self._directory, ignore_errors=True)

    def _call(self, coroutine: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def mount(self, raw: RawMountRequest, timeout: float = CALL_TIMEOUT) -> MountResult:
        """Mount through the socket; return the files or raise :class:`MountFailure`.

        ``timeout`` is the client's gRPC deadline. When even that does not come back (the server's
        event loop, which the client shares, is blocked), this raises :class:`Hang`.
        """
        assert self.running is not None
        future = asyncio.run_coroutine_threadsafe(self.running.mount(raw, timeout=timeout), self.loop)
        try:
            return future.result(timeout + HANG_GRACE)
        except concurrent.futures.TimeoutError:
            raise Hang(f"no answer at all within {timeout + HANG_GRACE:g}s: the server's event loop is blocked") from None

    def mount_outcome(self, raw: RawMountRequest, timeout: float = CALL_TIMEOUT) -> MountResult | MountFailure:
        try:
            return self.mount(raw, timeout)
        except MountFailure as failure:
            return failure


_lock = threading.Lock()
_shared: SessionGateway | None = None


def acquire() -> SessionGateway:
    """The session's one server (started on first use; shared by the corpus and the fuzz run)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = SessionGateway()
            _shared.start()
        _shared.users += 1
        return _shared


def release(gateway: SessionGateway) -> None:
    global _shared
    with _lock:
        gateway.users -= 1
        if gateway.users == 0 and _shared is gateway:
            _shared = None
            gateway.stop()

