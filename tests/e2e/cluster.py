"""A real Kubernetes control plane for the end-to-end tests: etcd + kube-apiserver on 127.0.0.1.

The binaries come from ``scripts/e2e-binaries.sh`` (built once, cached outside the clone).
:class:`ControlPlane` makes a throw-away PKI with openssl (a CA and a serving certificate,
the service-account signing key), starts etcd and kube-apiserver with static-token
authentication (one ``system:masters`` admin), RBAC authorization and an audit log, and
waits until ``/readyz`` answers. :class:`Kube` is a small JSON client for the API (urllib
with an explicit SSL context: ``requests`` would let ``REQUESTS_CA_BUNDLE`` override the CA).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "e2e-binaries.sh"
BUILD_TIMEOUT = 2700  # cold: module downloads + compiling kube-apiserver (27 min measured on a heavily loaded 2-core machine)
READY_TIMEOUT = 120.0

JsonObject = dict[str, Any]

#: audit everything at Metadata level (who did what to which object), request bodies never
AUDIT_POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}


def build_binaries() -> dict[str, str]:
    """name → path of etcd, kube-apiserver, secrets-store-csi-driver and the Go module dirs it reports."""
    result = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    if result.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT.name} failed:\n{result.stderr[-4000:]}")
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ApiError(Exception):
    def __init__(self, status: int, body: JsonObject, where: str) -> None:
        super().__init__(f"{where}: HTTP {status}: {body.get('message', body)}")
        self.status = status
        self.body = body


@dataclass
class Kube:
    """A JSON client for one identity (bearer token) of the test API server."""

    server: str
    ca_file: Path
    token: str = field(repr=False)

    def __post_init__(self) -> None:
        self._context = ssl.create_default_context(cafile=str(self.ca_file))

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> JsonObject:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.server + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=30) as response:
                payload = response.read()
                try:
                    return json.loads(payload or b"{}")
                except ValueError:  # /readyz and friends answer text
                    return {"text": payload.decode(errors="replace")}
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            try:
                decoded = json.loads(payload)
            except ValueError:
                decoded = {"message": payload.decode(errors="replace")}
            raise ApiError(exc.code, decoded, f"{method} {path}") from None

    def get(self, path: str) -> JsonObject:
        return self.request("GET", path)

    def create(self, obj: Mapping[str, Any]) -> JsonObject:
        return self.request("POST", collection_path(obj), dict(obj))

    def apply(self, obj: Mapping[str, Any]) -> JsonObject:
        """Server-side apply (create or update) of one object."""
        path = object_path(obj) + "?fieldManager=sgw-e2e&force=true"
        return self.request("PATCH", path, dict(obj), content_type="application/apply-patch+yaml")

    def merge_patch(self, path: str, patch: Mapping[str, Any]) -> JsonObject:
        return self.request("PATCH", path, dict(patch), content_type="application/merge-patch+json")

    def delete(self, path: str) -> JsonObject:
        return self.request("DELETE", path)

    def can_i(self, verb: str, resource: str, namespace: str = "", group: str = "", name: str = "") -> bool:
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": {"verb": verb, "resource": resource, "namespace": namespace,
                                                  "group": group, "name": name}}}  # fmt: skip
        return bool(self.create(review)["status"].get("allowed"))

    def service_account_token(
        self, namespace: str, name: str, audiences: Iterable[str] = (), pod: Mapping[str, Any] | None = None, seconds: int = 3600
    ) -> JsonObject:
        """TokenRequest: a bound token (bound to ``pod`` when given); returns its ``status``."""
        spec: JsonObject = {"expirationSeconds": seconds}
        if audiences:
            spec["audiences"] = list(audiences)
        if pod is not None:
            spec["boundObjectRef"] = {"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"],
                                      "uid": pod["metadata"]["uid"]}  # fmt: skip
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
        return self.request("POST", path, body)["status"]

    def as_service_account(self, namespace: str, name: str) -> Kube:
        return Kube(self.server, self.ca_file, self.service_account_token(namespace, name)["token"])

    def write_kubeconfig(self, path: Path) -> Path:
        document = {
            "apiVersion": "v1", "kind": "Config", "current-context": "e2e",
            "clusters": [{"name": "e2e", "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": "e2e", "user": {"token": self.token}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e"}}],
        }  # fmt: skip
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        path.chmod(0o600)
        return path


_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "CSIDriver", "Node"}


def _resource(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(API prefix, plural resource) of an object by its apiVersion and kind."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    plural = kind.lower() + ("es" if kind.endswith("s") else "s")
    if kind.endswith("y"):
        plural = kind.lower()[:-1] + "ies"
    return prefix, plural


def collection_path(obj: Mapping[str, Any]) -> str:
    prefix, plural = _resource(obj)
    namespace = obj.get("metadata", {}).get("namespace")
    if obj["kind"] in _CLUSTER_SCOPED or not namespace:
        return f"{prefix}/{plural}"
    return f"{prefix}/namespaces/{quote(namespace)}/{plural}"


def object_path(obj: Mapping[str, Any]) -> str:
    return f"{collection_path(obj)}/{quote(obj['metadata']['name'])}"


# --------------------------------------------------------------------------- PKI


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(directory: Path) -> dict[str, Path]:
    """A CA, a serving certificate for 127.0.0.1/localhost, and the service-account key pair."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=sgw-e2e-ca", cwd=directory)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=kube-apiserver", cwd=directory)  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=directory)  # fmt: skip
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=directory)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)
    return {name: directory / name for name in ("ca.crt", "server.crt", "server.key", "sa.key", "sa.pub")}


# --------------------------------------------------------------------------- processes


@dataclass
class Process:
    """A child process whose output goes to a log file (no pipe left undrained)."""

    name: str
    command: list[str]
    log: Path
    env: Mapping[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                          env=dict(self.env) if self.env is not None else None)  # fmt: skip
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout)


def wait_until(what: str, check: Any, process: Process, timeout: float = READY_TIMEOUT) -> None:
    """Poll ``check()`` until it is truthy; fail with the process log if it died or took too long."""
    give_up = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (OSError, ApiError, ssl.SSLError):
            pass
        if not process.alive():
            raise RuntimeError(f"{process.name} exited before {what}:\n{process.tail()}")
        if time.monotonic() > give_up:
            raise RuntimeError(f"{process.name}: no {what} within {timeout:.0f}s:\n{process.tail()}")
        time.sleep(0.2)


@dataclass
class ControlPlane:
    """etcd + kube-apiserver in ``directory``; ``admin`` is a system:masters client; ``apiserver_flags``
    are added to kube-apiserver's (e.g. ``--watch-cache=false``)."""

    binaries: Mapping[str, str]
    directory: Path
    apiserver_flags: tuple[str, ...] = ()
    processes: list[Process] = field(default_factory=list)

    def start(self) -> ControlPlane:
        pki = make_pki(self.directory / "pki")
        self.ca_file = pki["ca.crt"]
        self.audit_log = self.directory / "audit.log"
        admin_token = secrets.token_hex(16)
        tokens = self.directory / "tokens.csv"
        tokens.write_text(f"{admin_token},e2e-admin,e2e-admin-uid,system:masters\n")
        policy = self.directory / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(AUDIT_POLICY))

        etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
        etcd = Process("etcd", [
            self.binaries["etcd"], "--data-dir", str(self.directory / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{etcd_port}", "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-cluster", f"default=http://127.0.0.1:{etcd_peer}", "--listen-metrics-urls", "",
        ], self.directory / "etcd.log").start()  # fmt: skip
        self.processes.append(etcd)
        self.etcd = f"http://127.0.0.1:{etcd_port}"
        wait_until("etcd health", lambda: _http_ok(f"{self.etcd}/health"), etcd)

        self.server = f"https://127.0.0.1:{api_port}"
        apiserver = Process("kube-apiserver", [
            self.binaries["kube-apiserver"], f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", f"--secure-port={api_port}", "--advertise-address=127.0.0.1",
            f"--tls-cert-file={pki['server.crt']}", f"--tls-private-key-file={pki['server.key']}",
            f"--token-auth-file={tokens}", "--authorization-mode=RBAC", "--anonymous-auth=false",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki['sa.pub']}", f"--service-account-signing-key-file={pki['sa.key']}",
            "--service-cluster-ip-range=10.96.0.0/16", "--endpoint-reconciler-type=none",
            f"--audit-log-path={self.audit_log}", f"--audit-policy-file={policy}",
            f"--cert-dir={self.directory / 'certs'}", *self.apiserver_flags,
        ], self.directory / "kube-apiserver.log").start()  # fmt: skip
        self.processes.append(apiserver)
        self.admin = Kube(self.server, self.ca_file, admin_token)
        wait_until("/readyz", lambda: self.admin.request("GET", "/readyz?verbose") is not None, apiserver)
        wait_until("the kube-system namespace", lambda: self.admin.get("/api/v1/namespaces/kube-system"), apiserver)
        return self

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision (what kube-apiserver does every 5 minutes): a watch
        from an older resourceVersion than the returned one can no longer be served. Through etcd's JSON gateway."""
        revision = int(_etcd_call(self.etcd, "/v3/kv/range", {"key": "AA=="})["header"]["revision"])
        _etcd_call(self.etcd, "/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    def audit_events(self) -> list[JsonObject]:
        lines = self.audit_log.read_text(encoding="utf-8").splitlines() if self.audit_log.exists() else []
        return [json.loads(line) for line in lines if line.strip()]

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def _etcd_call(etcd: str, path: str, body: JsonObject) -> JsonObject:
    request = urllib.request.Request(etcd + path, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: JsonObject = json.loads(response.read())
        return answer


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bool(response.status == 200)


def isolated_env() -> dict[str, str]:
    """This process's environment minus anything pointing at another cluster, AWS account or proxy."""
    dropped = ("KUBERNETES_", "KUBECONFIG", "AWS_", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
