"""The whole end-to-end stack: control plane, the driver under its own RBAC, our gateway as the
chart deploys it, and the backends' real peers (moto, the Pod Identity agent, OpenBao).

- The driver's CRDs, RBAC and CSIDriver come from its own Go module (the version built); the
  CSIDriver's ``tokenRequests`` are the audiences our chart's NOTES tell users to configure.
- Our gateway, twice (release ``sgw``: every plugin, provider ``secrets-gateway``; release
  ``sgw-ascp``: the ASCP drop-in, provider ``aws``, the aws plugin only), each
  the chart rendered with the real helm (tests/chart/tools.py); its ServiceAccount,
  ClusterRole and ClusterRoleBinding are applied to the API server, and ``python -m gateway``
  runs with the DaemonSet container's own args and env (only the host paths are rewritten),
  authenticated as that ServiceAccount — so the chart's RBAC meets a real authorizer.
- The driver: ``unshare --mount --propagation private secrets-store-csi-driver …`` as its
  ServiceAccount ``kube-system/secrets-store-csi-driver``.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway_aws.testing import FakePodIdentityAgent, MotoServer
from gateway_vault.testing.openbao import OpenBao
from tests.chart import tools as chart
from tests.e2e.cluster import ApiError, ControlPlane, JsonObject, Kube, Process, free_port, isolated_env, wait_until
from tests.e2e.kubelet import DRIVER_NAME, Kubelet, generate_csi_stubs

NODE_NAME = "e2e-node"
PROVIDER = "secrets-gateway"
ASCP_PROVIDER = "aws"
#: --rotation-poll-interval: long, so only Kubelet.age() (moving the last write back) makes a rotation due
ROTATION_INTERVAL = "10m"
DRIVER_SA = ("kube-system", "secrets-store-csi-driver")
DRIVER_MANIFESTS = ("secrets-store.csi.x-k8s.io_secretproviderclasses.yaml",
                    "secrets-store.csi.x-k8s.io_secretproviderclasspodstatuses.yaml",
                    "rbac-secretproviderclass.yaml", "rbac-secretprovidersyncing.yaml")  # fmt: skip


@dataclass
class Peers:
    """The backends' real peers; the chart values point the gateway at them."""

    moto: MotoServer
    agent: FakePodIdentityAgent
    bao: OpenBao


class FakeStore:
    """The fake backend's store file; every write moves its mtime forward so the backend re-reads it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.secrets: dict[str, Any] = {}
        self._write()

    def put(self, name: str, spec: Any) -> None:
        self.secrets[name] = spec
        self._write()

    def remove(self, name: str) -> None:
        self.secrets.pop(name, None)
        self._write()

    def _write(self) -> None:
        before = self.path.stat().st_mtime if self.path.exists() else time.time()
        self.path.write_text(yaml.safe_dump({"secrets": self.secrets}), encoding="utf-8")
        when = max(before + 1, time.time())
        os.utime(self.path, (when, when))


def chart_values(peers: Peers, http_port: int) -> dict[str, Any]:
    """The main release: every built-in plugin, provider name secrets-gateway."""
    return {
        "providerName": PROVIDER,
        "logging": {"level": "debug", "format": "text"},
        "http": {"host": "127.0.0.1", "port": http_port},
        "plugins": {
            "aws": {"enabled": True, "region": "us-east-1", "podIdentityEndpoint": peers.agent.url,
                    "env": {"AWS_ENDPOINT_URL": peers.moto.url}},
            "vault": {"enabled": True, "address": peers.bao.address, "audience": "vault"},
            "fake": {"enabled": True},
        },
    }  # fmt: skip


def ascp_chart_values(peers: Peers, http_port: int) -> dict[str, Any]:
    """The drop-in release for ASCP classes: provider name aws, the aws plugin only, no default region
    (a class without one takes its node's region label, through the pod and node reads the chart grants)."""
    return {
        "providerName": ASCP_PROVIDER,
        "logging": {"level": "debug", "format": "text"},
        "http": {"host": "127.0.0.1", "port": http_port},
        "plugins": {
            "aws": {"enabled": True, "podIdentityEndpoint": peers.agent.url,
                    "env": {"AWS_ENDPOINT_URL": peers.moto.url}},
            "vault": {"enabled": False},
            "fake": {"enabled": False},
        },
    }  # fmt: skip


def chart_token_audiences(values_file: Path, scratch: Path) -> list[str]:
    """The CSIDriver tokenRequests audiences our chart's NOTES tell users to set on the driver chart."""
    notes = chart.render_notes([values_file], tmp_path=scratch)
    return re.findall(r"tokenRequests\[\d+\]\.audience=([^' \\]+)", notes)


@dataclass
class ReleaseGateway:
    """One chart release served by a `secrets-gateway serve` process."""

    release: str
    process: Process
    service_account: tuple[str, str]
    args: list[str]
    http: str
    socket: Path


@dataclass
class Stack:
    plane: ControlPlane
    peers: Peers
    kubelet: Kubelet
    store: FakeStore
    main: ReleaseGateway
    ascp: ReleaseGateway
    driver: Process

    @property
    def admin(self) -> Kube:
        return self.plane.admin

    @property
    def gateway_http(self) -> str:
        return self.main.http

    @property
    def gateway_service_account(self) -> tuple[str, str]:
        return self.main.service_account

    @property
    def gateway_args(self) -> list[str]:
        return self.main.args


def apply_all(kube: Kube, docs: list[Mapping[str, Any]]) -> None:
    for doc in docs:
        kube.apply(doc)


def _load_docs(path: Path) -> list[JsonObject]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def wait_crds_established(kube: Kube, names: list[str], process: Process) -> None:
    def established() -> bool:
        for name in names:
            crd = kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            conditions = {c["type"]: c["status"] for c in crd.get("status", {}).get("conditions", [])}
            if conditions.get("Established") != "True":
                return False
        kube.get("/apis/secrets-store.csi.x-k8s.io/v1/secretproviderclasses")
        return True

    wait_until("established CRDs", established, process)


def install_driver(plane: ControlPlane, driver_module: Path, audiences: list[str]) -> None:
    deploy = driver_module / "deploy"
    docs = [doc for name in DRIVER_MANIFESTS for doc in _load_docs(deploy / name)]
    apply_all(plane.admin, docs)
    csidriver = _load_docs(deploy / "csidriver.yaml")[0]
    csidriver["spec"]["tokenRequests"] = [{"audience": audience} for audience in audiences]
    plane.admin.apply(csidriver)
    crds = [d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"]
    wait_crds_established(plane.admin, crds, plane.processes[-1])


def gateway_command(container: chart.Container, providers_dir: Path) -> list[str]:
    """The chart container's args with the host's providers dir: ``python -m gateway <args>``."""
    args = [f"--providers-dir={providers_dir}" if arg.startswith("--providers-dir=") else arg for arg in container.args]
    return [sys.executable, "-m", "gateway", *args]


@contextmanager
def running_stack(binaries: Mapping[str, str], peers: Peers, work: Path) -> Iterator[Stack]:
    with ExitStack() as cleanup:
        plane = ControlPlane(binaries, work / "control-plane")
        cleanup.callback(plane.stop)
        plane.start()
        admin = plane.admin

        providers = Path(tempfile_dir("sgw-e2e-providers-"))
        cleanup.callback(shutil.rmtree, providers, True)
        store = FakeStore(work / "fake-store.yaml")
        main_port, ascp_port = free_port(), free_port()
        main_values = write_values(work / "values.yaml", chart_values(peers, main_port))
        audiences = chart_token_audiences(main_values, work / "notes")
        install_driver(plane, Path(binaries["driver-module"]), audiences)

        ascp_values = write_values(work / "ascp-values.yaml", ascp_chart_values(peers, ascp_port))
        main = serve_release(admin, "sgw", main_values, providers, store, work, cleanup, main_port)
        ascp = serve_release(admin, "sgw-ascp", ascp_values, providers, store, work, cleanup, ascp_port)
        for release in (main, ascp):  # both start in parallel; the driver needs their sockets
            wait_until(f"socket {release.socket}", release.socket.exists, release.process)

        driver_dir = Path(tempfile_dir("sgw-e2e-driver-"))
        cleanup.callback(shutil.rmtree, driver_dir, True)
        csi_socket = driver_dir / "csi.sock"
        driver_kubeconfig = admin.as_service_account(*DRIVER_SA).write_kubeconfig(work / "driver.kubeconfig")
        metrics_port = free_port()
        driver = Process("secrets-store-csi-driver", [
            "unshare", "--mount", "--propagation", "private", "--", binaries["secrets-store-csi-driver"],
            f"--endpoint=unix://{csi_socket}", f"--nodeid={NODE_NAME}", f"--drivername={DRIVER_NAME}",
            f"--provider-volume={providers}", f"--additional-provider-volume-paths={providers}",
            f"--metrics-addr=127.0.0.1:{metrics_port}", "--enable-secret-rotation=true",
            f"--rotation-poll-interval={ROTATION_INTERVAL}", "-v=5",
        ], work / "driver.log", env={**isolated_env(), "KUBECONFIG": str(driver_kubeconfig)}).start()  # fmt: skip
        cleanup.callback(driver.stop)
        wait_until(f"socket {csi_socket}", csi_socket.exists, driver)

        stubs = generate_csi_stubs(Path(binaries["csi-spec"]), work / "csi-stubs")
        kubelet = Kubelet(admin, csi_socket, work / "kubelet", NODE_NAME, driver.pid, stubs)
        cleanup.callback(kubelet.close)
        yield Stack(plane, peers, kubelet, store, main, ascp, driver)


def write_values(path: Path, values: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(values)), encoding="utf-8")
    return path


def serve_release(admin: Kube, release: str, values_file: Path, providers: Path, store: FakeStore, work: Path,
                  cleanup: ExitStack, http_port: int) -> ReleaseGateway:  # fmt: skip
    """Render the chart, apply its identity objects as `helm install` would, and start the DaemonSet's
    container as a local process authenticated as the release's ServiceAccount (its socket appears
    once it serves)."""
    rendered = chart.render([values_file], release=release)
    apply_all(admin, [d for d in rendered if d["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")])
    metadata = chart.one(rendered, "ServiceAccount")["metadata"]
    service_account = (metadata.get("namespace", chart.NAMESPACE), metadata["name"])
    container = chart.gateway_container(rendered)
    kubeconfig = admin.as_service_account(*service_account).write_kubeconfig(work / f"{release}.kubeconfig")
    env = {**isolated_env(), **container.env, "KUBECONFIG": str(kubeconfig), "AWS_EC2_METADATA_DISABLED": "true"}
    if "SECRETS_GATEWAY_FAKE_STORE" in env:  # the chart mounts its store ConfigMap there; ours is a local file
        env["SECRETS_GATEWAY_FAKE_STORE"] = str(store.path)
    process = Process(f"secrets-gateway serve ({release})", gateway_command(container, providers), work / f"{release}.log", env=env)
    process.start()
    cleanup.callback(process.stop)
    socket = providers / f"{container.flag('provider-name')}.sock"
    return ReleaseGateway(release, process, service_account, container.args, f"http://127.0.0.1:{http_port}", socket)


def tempfile_dir(prefix: str) -> str:
    """A short directory under /tmp: unix socket paths are limited to 107 bytes."""
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


def ensure_namespace(kube: Kube, name: str) -> None:
    try:
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except ApiError as exc:
        if exc.status != 409:
            raise
