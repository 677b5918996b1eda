"""The test's kubelet: CSI calls to the real driver over its socket, as kubelet makes them.

CSI stubs are generated at test time from the CSI spec module's own ``csi.proto`` (the
version the driver is built with; ``scripts/e2e-binaries.sh`` reports its directory) into a
temporary directory. :class:`Kubelet` creates pods in the API server (``spec.nodeName`` =
the driver's ``--nodeid``), mints their service-account tokens with TokenRequest for the
audiences in the CSIDriver object's ``tokenRequests`` (bound to the pod, like kubelet), and
calls ``NodePublishVolume``/``NodeUnpublishVolume`` with kubelet's target-path shape
``<root>/pods/<uid>/volumes/kubernetes.io~csi/<volume>/mount`` and volume context.

The driver runs in its own mount namespace (``unshare --mount``); the tmpfs it mounts is seen
through ``/proc/<driver pid>/root`` (:meth:`Kubelet.view`).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import grpc

from tests.e2e.cluster import JsonObject, Kube

DRIVER_NAME = "secrets-store.csi.k8s.io"


def generate_csi_stubs(spec_dir: Path, out_dir: Path) -> tuple[ModuleType, ModuleType]:
    """``csi_pb2`` and ``csi_pb2_grpc`` generated from ``spec_dir/csi.proto`` into ``out_dir``."""
    import grpc_tools
    from grpc_tools import protoc

    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = ["protoc", f"-I{spec_dir}", f"-I{well_known}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", "csi.proto"]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on " + str(spec_dir / "csi.proto"))
    sys.path.insert(0, str(out_dir))
    try:
        return importlib.import_module("csi_pb2"), importlib.import_module("csi_pb2_grpc")
    finally:
        sys.path.remove(str(out_dir))


@dataclass
class Volume:
    """One published pod volume: where it is and what kubelet sent."""

    pod: JsonObject
    name: str
    target: str
    volume_id: str
    context: dict[str, str]


class Kubelet:
    def __init__(self, admin: Kube, socket: Path, root: Path, node_name: str, driver_pid: int,
                 stubs: tuple[ModuleType, ModuleType]) -> None:  # fmt: skip
        self.admin = admin
        self.root = root
        self.node_name = node_name
        self.driver_pid = driver_pid
        self.pb, pb_grpc = stubs
        self.channel = grpc.insecure_channel(f"unix://{socket}")
        self.node = pb_grpc.NodeStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    # ------------------------------------------------------------------ API objects

    def create_pod(self, namespace: str, name: str, service_account: str, spc: str, volume: str = "secrets") -> JsonObject:
        """A pod on this node with one inline CSI volume of ``spc`` (it stays Pending: no real kubelet)."""
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "nodeName": self.node_name, "serviceAccountName": service_account,
                "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                                "volumeMounts": [{"name": volume, "mountPath": "/mnt/secrets", "readOnly": True}]}],
                "volumes": [{"name": volume, "csi": {"driver": DRIVER_NAME, "readOnly": True,
                                                      "volumeAttributes": {"secretProviderClass": spc}}}],
            },
        }  # fmt: skip
        return self.admin.create(pod)

    def token_audiences(self) -> list[str]:
        driver = self.admin.get(f"/apis/storage.k8s.io/v1/csidrivers/{DRIVER_NAME}")
        return [item["audience"] for item in driver["spec"].get("tokenRequests") or []]

    def tokens(self, pod: JsonObject) -> dict[str, dict[str, str]]:
        """Bound tokens of the pod's service account, one per CSIDriver tokenRequests audience."""
        namespace, account = pod["metadata"]["namespace"], pod["spec"]["serviceAccountName"]
        minted = {}
        for audience in self.token_audiences():
            status = self.admin.service_account_token(namespace, account, [audience], pod=pod, seconds=3600)
            minted[audience] = {"token": status["token"], "expirationTimestamp": status["expirationTimestamp"]}
        return minted

    # ------------------------------------------------------------------ CSI

    def target_path(self, pod: JsonObject, volume: str) -> str:
        return str(self.root / "pods" / pod["metadata"]["uid"] / "volumes" / "kubernetes.io~csi" / volume / "mount")

    def publish(self, pod: JsonObject, volume: str = "secrets", tokens: dict[str, dict[str, str]] | None = None) -> Volume:
        """NodePublishVolume for the pod's CSI volume (kubelet creates the parent directory)."""
        spec_volume = next(v for v in pod["spec"]["volumes"] if v["name"] == volume)
        target = self.target_path(pod, volume)
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        context = dict(spec_volume["csi"].get("volumeAttributes", {}))
        context.update({
            "csi.storage.k8s.io/pod.name": pod["metadata"]["name"],
            "csi.storage.k8s.io/pod.namespace": pod["metadata"]["namespace"],
            "csi.storage.k8s.io/pod.uid": pod["metadata"]["uid"],
            "csi.storage.k8s.io/serviceAccount.name": pod["spec"]["serviceAccountName"],
            "csi.storage.k8s.io/ephemeral": "true",
        })  # fmt: skip
        minted = self.tokens(pod) if tokens is None else tokens
        if minted:
            context["csi.storage.k8s.io/serviceAccount.tokens"] = json.dumps(minted)
        # kubelet's volume id for inline volumes: "csi-" + a hash of pod uid, driver and volume name
        volume_id = "csi-" + uuid.uuid5(uuid.NAMESPACE_URL, f"{pod['metadata']['uid']}/{DRIVER_NAME}/{volume}").hex
        published = Volume(pod, volume, target, volume_id, context)
        self.republish(published)
        return published

    def republish(self, volume: Volume) -> None:
        """Kubelet's periodic NodePublishVolume for a mounted volume (CSIDriver requiresRepublish)."""
        capability = self.pb.VolumeCapability(
            mount=self.pb.VolumeCapability.MountVolume(),
            access_mode=self.pb.VolumeCapability.AccessMode(mode=self.pb.VolumeCapability.AccessMode.SINGLE_NODE_READER_ONLY),
        )
        request = self.pb.NodePublishVolumeRequest(volume_id=volume.volume_id, target_path=volume.target,
                                                   volume_capability=capability, readonly=True,
                                                   volume_context=volume.context)  # fmt: skip
        self.node.NodePublishVolume(request, timeout=120)

    def unpublish(self, volume: Volume) -> None:
        request = self.pb.NodeUnpublishVolumeRequest(volume_id=volume.volume_id, target_path=volume.target)
        self.node.NodeUnpublishVolume(request, timeout=120)

    # ------------------------------------------------------------------ the driver's view

    def view(self, path: str) -> Path:
        """``path`` as the driver (in its mount namespace) sees it."""
        return Path(f"/proc/{self.driver_pid}/root{path}")

    def files(self, volume: Volume) -> dict[str, tuple[bytes, int]]:
        """Every regular file of the volume (following the atomic writer's symlinks): path → (contents, mode)."""
        base = self.view(volume.target)
        found: dict[str, tuple[bytes, int]] = {}
        for entry in sorted(base.iterdir()):
            if entry.name.startswith(".."):
                continue
            _collect(base, entry, found)
        return found

    def age(self, volume: Volume, seconds: float) -> None:
        """Move the volume's last write ``seconds`` into the past: the driver's rotation clock."""
        path = self.view(volume.target)
        when = time.time() - seconds
        os.utime(path, (when, when))


def _collect(base: Path, entry: Path, found: dict[str, tuple[bytes, int]]) -> None:
    if entry.is_dir():
        for child in sorted(entry.iterdir()):
            _collect(base, child, found)
        return
    found[str(entry.relative_to(base))] = (entry.read_bytes(), entry.stat().st_mode & 0o777)
