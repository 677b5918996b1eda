"""deploy/kind cannot run here (no container engine), so everything it applies is rendered and
validated offline: the driver chart it installs (the real chart of the pinned release), our chart
with the quickstart values, the example SecretProviderClass (against the driver's own CRD schema)
and the demo pod. The demo and rotation outputs are produced by mounting through the gateway, and
the pinned versions are kept consistent across the README, the script and the configs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gateway_fake.store import parse_store
from tests.chart.tools import (
    CHART,
    DRIVER_CHART_VERSION,
    KIND_DIR,
    KUBE_VERSION,
    REPO,
    by_kind,
    driver_chart,
    gateway_container,
    load_all,
    load_yaml,
    one,
    render,
    validate_objects,
)

pytestmark = pytest.mark.timeout(1200)  # the first test may build helm

SCRIPT = KIND_DIR / "quickstart.sh"
README = KIND_DIR / "README.md"
EXAMPLE_STORE = REPO / "examples" / "fake" / "store.yaml"
ROTATED_STORE = KIND_DIR / "store-rotated.yaml"
EXAMPLE_SPC = REPO / "examples" / "fake" / "spc.yaml"
DEMO_POD = KIND_DIR / "demo-pod.yaml"
ENTRYPOINT = "import sys; from gateway.cli import main; sys.exit(main())"


def script_vars() -> dict[str, str]:
    """The plain NAME=value / NAME=${NAME:-value} assignments at the top of quickstart.sh."""
    found = {}
    for name, value in re.findall(r"^([A-Z_]+)=(\S+)$", SCRIPT.read_text(), re.MULTILINE):
        default = re.fullmatch(r"\$\{[A-Z_]+:-(.*)\}", value)
        found[name] = default.group(1) if default else value
    for name, value in found.items():  # ${OTHER}-suffix
        found[name] = re.sub(r"\$\{([A-Z_]+)\}", lambda m: found[m.group(1)], value)
    return found


VARS = script_vars()


def render_driver() -> list[dict[str, Any]]:
    return render([KIND_DIR / "csi-driver-values.yaml"], chart=driver_chart(), release=VARS["DRIVER_RELEASE"],
                  extra=["--include-crds"])


def render_gateway(store: Path = EXAMPLE_STORE) -> list[dict[str, Any]]:
    return render([KIND_DIR / "gateway-values.yaml"], set_files=[f"plugins.fake.store={store}"],
                  release=VARS["GATEWAY_RELEASE"])


# --------------------------------------------------------------------------- versions and the script


def test_script_is_valid_bash() -> None:
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert SCRIPT.stat().st_mode & 0o111, "quickstart.sh must be executable"


def test_pinned_versions_agree() -> None:
    readme = README.read_text()
    node_image = load_yaml(KIND_DIR / "kind-config.yaml")["nodes"][0]["image"]
    match = re.fullmatch(r"kindest/node:v(\d+\.\d+\.\d+)@sha256:[0-9a-f]{64}", node_image)
    assert match, f"the kind node image must be pinned by digest: {node_image}"
    assert match.group(1) == KUBE_VERSION, "the tests render for the Kubernetes version the cluster runs"
    assert node_image in readme
    assert re.fullmatch(r"v\d+\.\d+\.\d+", VARS["KIND_VERSION"]) and f"| kind | {VARS['KIND_VERSION']} |" in readme
    assert VARS["CSI_DRIVER_CHART_VERSION"] == DRIVER_CHART_VERSION
    assert f"| Secrets Store CSI Driver chart | {DRIVER_CHART_VERSION} " in readme
    assert load_yaml(CHART / "Chart.yaml")["annotations"]["secrets-gateway/driver-chart-version"] == DRIVER_CHART_VERSION
    (image,) = [c["image"] for c in load_yaml(DEMO_POD)["spec"]["containers"]]
    assert re.fullmatch(r"busybox:\d+\.\d+\.\d+", image) and f"`{image}`" in readme
    dockerfile = (REPO / "Dockerfile").read_text()
    for pinned in re.findall(r"^ARG \w+_IMAGE=\S+?[:/]([\w.-]+:[\w.-]+)$", dockerfile, re.MULTILINE):
        assert pinned.split(":")[1] in readme


def test_script_references_existing_files() -> None:
    text = SCRIPT.read_text()
    references = re.findall(r'"\$(HERE|REPO_ROOT)/([^"$]+)"', text)
    assert len(references) >= 7
    for base, relative in references:
        path = (KIND_DIR if base == "HERE" else REPO) / relative
        assert path.exists(), f"quickstart.sh uses {path}"


def test_script_steps_are_documented() -> None:
    steps = re.findall(r"^step_(\w+)\(\)", SCRIPT.read_text(), re.MULTILINE)
    assert steps == ["cluster", "driver", "image", "gateway", "demo", "rotate", "down"]
    readme = README.read_text()
    for step in steps[:-1]:
        assert f"**{step}**" in readme


# --------------------------------------------------------------------------- what the script applies


def test_kind_config() -> None:
    config = load_yaml(KIND_DIR / "kind-config.yaml")
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    assert config["name"] == VARS["CLUSTER_NAME"]
    assert [node["role"] for node in config["nodes"]] == ["control-plane"]


def test_driver_chart_with_the_quickstart_values() -> None:
    docs = render_driver()
    assert validate_objects(docs) == []
    csidriver = one(docs, "CSIDriver")
    assert [r["audience"] for r in csidriver["spec"]["tokenRequests"]] == [
        "sts.amazonaws.com", "pods.eks.amazonaws.com", "vault"]
    assert csidriver["spec"]["requiresRepublish"] is True
    (daemonset,) = by_kind(docs, "DaemonSet")
    driver_args = next(c["args"] for c in daemonset["spec"]["template"]["spec"]["containers"]
                       if "--enable-secret-rotation=true" in c.get("args", []))
    assert "--rotation-poll-interval=15s" in driver_args
    gateway_dir = gateway_container(render_gateway()).flag("providers-dir")
    assert f"--provider-volume={gateway_dir}" in driver_args, "the driver searches the gateway's socket directory"
    assert any(r["metadata"]["name"] == "secretprovidersyncing-role" for r in by_kind(docs, "ClusterRole"))
    crds = {crd["spec"]["names"]["kind"] for crd in by_kind(docs, "CustomResourceDefinition")}
    assert {"SecretProviderClass", "SecretProviderClassPodStatus"} <= crds


def test_gateway_chart_with_the_quickstart_values() -> None:
    docs = render_gateway()
    assert validate_objects(docs) == []
    container = gateway_container(docs)
    assert container.spec["image"] == VARS["IMAGE"] and container.spec["imagePullPolicy"] == "Never"
    assert container.flag("plugins") == "fake"
    daemonset = one(docs, "DaemonSet")
    assert daemonset["metadata"]["name"] == VARS["GATEWAY_RELEASE"], "rollout status daemonset/<release>"
    assert daemonset["metadata"]["namespace"] == VARS["NAMESPACE"]
    configmap = one(docs, "ConfigMap")
    assert configmap["metadata"]["name"] == VARS["FAKE_STORE_CONFIGMAP"], "quickstart.sh rotate patches this ConfigMap"
    assert configmap["data"]["store.yaml"].strip() == EXAMPLE_STORE.read_text().strip()


def test_rotation_changes_only_the_configmap() -> None:
    """No pod restart: the DaemonSet must not change when the store does."""
    before, after = render_gateway(), render_gateway(ROTATED_STORE)
    assert one(before, "DaemonSet") == one(after, "DaemonSet")
    assert one(before, "ConfigMap") != one(after, "ConfigMap")
    assert [d["kind"] for d in before] == [d["kind"] for d in after]


def test_rotation_patch(tmp_path: Path) -> None:
    """The merge patch quickstart.sh builds with kubectl (offline: --dry-run=client) replaces the store."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: the rotation patch is built with `kubectl create configmap --dry-run=client`")
    command = re.search(r"data=\$\((kubectl create configmap .*?)\)\n", SCRIPT.read_text(), re.DOTALL).group(1)
    assert command == ('kubectl create configmap rotated --from-file=store.yaml="$HERE/store-rotated.yaml" \\\n'
                       "    --dry-run=client -o jsonpath='{.data}'")
    result = subprocess.run(
        [kubectl, "create", "configmap", "rotated", f"--from-file=store.yaml={ROTATED_STORE}", "--dry-run=client",
         "-o", "jsonpath={.data}"],
        capture_output=True, text=True, timeout=60, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path),
                                                          "KUBECONFIG": str(tmp_path / "none")},
    )
    assert result.returncode == 0, result.stderr
    patch = json.loads('{"data":' + result.stdout + "}")  # as in: --patch "{\"data\":$data}"
    assert patch["data"] == {"store.yaml": ROTATED_STORE.read_text()}
    assert parse_store(patch["data"]["store.yaml"], "patch").secrets["prod/db"].current.id == "v3"


def _driver_crd_schema(kind: str) -> dict[str, Any]:
    crd_dir = driver_chart() / "crds"
    for path in sorted(crd_dir.glob("*.yaml")):
        crd = load_yaml(path)
        if crd["spec"]["names"]["kind"] == kind:
            (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
            return version["schema"]["openAPIV3Schema"]
    raise AssertionError(f"no CRD for {kind} in {crd_dir}")


def test_example_spc_matches_the_driver_crd_and_our_provider() -> None:
    (spc,) = load_all(EXAMPLE_SPC)
    assert spc["apiVersion"] == "secrets-store.csi.x-k8s.io/v1"
    jsonschema.Draft4Validator(_driver_crd_schema("SecretProviderClass")).validate(spc)
    assert all(isinstance(value, str) for value in spc["spec"]["parameters"].values()), "SPC parameters are strings"
    container = gateway_container(render_gateway())
    assert spc["spec"]["provider"] == container.flag("provider-name")
    pod = load_yaml(DEMO_POD)
    assert spc["metadata"]["namespace"] == pod["metadata"]["namespace"]


def test_demo_pod() -> None:
    pod = load_yaml(DEMO_POD)
    assert validate_objects([pod]) == []
    assert pod["metadata"]["name"] == VARS["DEMO_POD"]
    (volume,) = pod["spec"]["volumes"]
    assert volume["csi"]["driver"] == one(render_driver(), "CSIDriver")["metadata"]["name"]
    assert volume["csi"]["volumeAttributes"]["secretProviderClass"] == load_all(EXAMPLE_SPC)[0]["metadata"]["name"]
    (container,) = pod["spec"]["containers"]
    assert container["volumeMounts"][0]["mountPath"] == "/mnt/secrets"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


# --------------------------------------------------------------------------- what the demo shows


def _mount(store: Path, out: Path) -> dict[str, bytes]:
    result = subprocess.run(
        [sys.executable, "-c", ENTRYPOINT, "mount", str(EXAMPLE_SPC), "--plugins", "fake", "--fake-store", str(store),
         "--out", str(out)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_demo_files_and_rotation(tmp_path: Path) -> None:
    before = _mount(EXAMPLE_STORE, tmp_path / "before")
    after = _mount(ROTATED_STORE, tmp_path / "after")
    readme = README.read_text()
    listed = re.search(r"\$ kubectl exec secrets-demo -- ls /mnt/secrets\n(.+)\n", readme).group(1).split()
    assert sorted(listed) == sorted({path.split("/")[0] for path in before})
    shown = re.search(r"cat /mnt/secrets/db-password\n(.+)\n", readme).group(1).strip()
    assert before["db-password"].decode() == shown
    for file in re.findall(r"for file in ([^;]+);", SCRIPT.read_text())[0].split():
        assert file in before, f"quickstart.sh prints {file}"
    assert before.keys() == after.keys()
    changed = {path for path in before if before[path] != after[path]}
    assert changed == {"db-password", "db.json", "db-previous.json", "prod_api-key"}
    assert json.loads(after["db-previous.json"])["password"] == before["db-password"].decode()
