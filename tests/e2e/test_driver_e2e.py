"""End to end: kubelet (this test) → the real Secrets Store CSI Driver v1.6.1 → our gateway
(`serve`, configured and authorized as our chart renders it) → backends, against a real
kube-apiserver + etcd. See docs/interop.md ("End to end with the real driver").

Every case uses its own namespace objects (SecretProviderClass, ServiceAccount, pod), so the
cases share one stack (started once per session) without seeing each other.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import boto3
import grpc
import pytest
import yaml

from gateway_aws.testing import role_arn
from tests.e2e.cluster import ApiError, JsonObject
from tests.e2e.kubelet import Volume
from tests.e2e.stack import ASCP_PROVIDER, NODE_NAME, PROVIDER, Stack, ensure_namespace

pytestmark = pytest.mark.timeout(3000)  # the first case also builds the binaries (cold: many minutes)

NAMESPACE = "apps"
T = TypeVar("T")
SPCPS_API = "/apis/secrets-store.csi.x-k8s.io/v1/namespaces/{ns}/secretproviderclasspodstatuses"


def eventually(what: str, check: Callable[[], T | None], limit: float = 60.0) -> T:
    """The API is eventually consistent (the driver's controller reconciles): poll for a state."""
    give_up = time.monotonic() + limit
    last: Any = None
    while time.monotonic() < give_up:
        try:
            last = check()
        except ApiError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"{what}: not reached within {limit:.0f}s (last: {last})")


def spc(name: str, objects: list[dict[str, Any]], secret_objects: list[dict[str, Any]] | None = None,
        **parameters: str) -> JsonObject:  # fmt: skip
    spec: JsonObject = {"provider": PROVIDER, "parameters": {"objects": json.dumps(objects), **parameters}}
    if secret_objects:
        spec["secretObjects"] = secret_objects
    return {"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
            "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}  # fmt: skip


def service_account(stack: Stack, name: str, annotations: dict[str, str] | None = None) -> None:
    ensure_namespace(stack.admin, NAMESPACE)
    stack.admin.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                       "metadata": {"name": name, "namespace": NAMESPACE, "annotations": annotations or {}}})  # fmt: skip


def pod_status(stack: Stack, pod: JsonObject) -> JsonObject:
    """The driver's SecretProviderClassPodStatus of the pod (one SPC per pod in these tests)."""
    items = stack.admin.get(SPCPS_API.format(ns=NAMESPACE))["items"]
    mine = [i for i in items if i["status"]["podName"] == pod["metadata"]["name"]]
    assert len(mine) == 1, [i["metadata"]["name"] for i in items]
    return mine[0]


def versions(status: JsonObject) -> dict[str, str]:
    return {o["id"]: o["version"] for o in status["status"].get("objects", [])}


def secret_data(stack: Stack, name: str) -> dict[str, bytes]:
    secret = stack.admin.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{name}")
    return {k: base64.b64decode(v) for k, v in secret.get("data", {}).items()}


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus metric's samples whose labels include ``labels`` (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        if metric != name:
            continue
        pairs = dict(part.split("=", 1) for part in label_text.rstrip("}").split(",") if "=" in part)
        if all(pairs.get(k, "").strip('"') == v for k, v in labels.items()):
            total += float(value)
    return total


def gateway_metrics(stack: Stack) -> str:
    with urllib.request.urlopen(stack.gateway_http + "/metrics", timeout=10) as response:
        return response.read().decode()


def mounts_served(stack: Stack) -> float:
    """Mount RPCs our gateway answered (any outcome)."""
    return metric_value(gateway_metrics(stack), "secrets_gateway_mounts_total")


def mounted_pod(stack: Stack, name: str, spc_name: str, account: str = "web") -> tuple[JsonObject, Volume]:
    pod = stack.kubelet.create_pod(NAMESPACE, name, account, spc_name)
    return pod, stack.kubelet.publish(pod)


# --------------------------------------------------------------------------- fake backend


def test_fake_backend_mount_files_modes_and_contents(stack: Stack) -> None:
    stack.store.put("e2e/db", '{"username": "app", "password": "pw-1"}')
    stack.store.put("e2e/api-key", "key-1")
    service_account(stack, "web")
    stack.admin.apply(spc("fake-basic", [
        {"objectName": "e2e/db", "objectType": "fake", "objectAlias": "db.json", "filePermission": "0640",
         "jmesPath": [{"path": "username", "objectAlias": "db-user"},
                      {"path": "password", "objectAlias": "db-password", "filePermission": "0600"}]},
        {"objectName": "e2e/api-key", "objectType": "fake", "objectAlias": "api-key"},
    ]))  # fmt: skip
    pod, volume = mounted_pod(stack, "fake-basic", "fake-basic")
    assert stack.kubelet.files(volume) == {
        "db.json": (b'{"username": "app", "password": "pw-1"}', 0o640),
        "db-user": (b"app", 0o640),
        "db-password": (b"pw-1", 0o600),
        "api-key": (b"key-1", 0o644),
    }

    status = pod_status(stack, pod)
    assert status["status"]["mounted"] is True
    assert status["status"]["targetPath"] == volume.target
    assert status["status"]["secretProviderClassName"] == "fake-basic"
    assert status["metadata"]["labels"]["internal.secrets-store.csi.k8s.io/node-name"] == NODE_NAME
    assert set(versions(status)) == {"db.json", "db-user", "db-password", "api-key"}
    assert all(versions(status).values())


def test_secret_objects_sync_a_secret_with_labels_and_owner(stack: Stack) -> None:
    stack.store.put("e2e/sync-db", '{"username": "sync-user", "password": "sync-pw"}')
    service_account(stack, "web")
    stack.admin.apply(spc("fake-sync", [
        {"objectName": "e2e/sync-db", "objectType": "fake", "objectAlias": "db.json",
         "jmesPath": [{"path": "username", "objectAlias": "db-user"}, {"path": "password", "objectAlias": "db-password"}]},
    ], secret_objects=[{
        "secretName": "fake-synced", "type": "Opaque", "labels": {"app": "web", "tier": "e2e"},
        "data": [{"objectName": "db-user", "key": "username"}, {"objectName": "db-password", "key": "password"}],
    }]))  # fmt: skip
    pod, _ = mounted_pod(stack, "fake-sync", "fake-sync")
    status = pod_status(stack, pod)

    eventually("the synced Secret", lambda: secret_data(stack, "fake-synced"))
    secret = stack.admin.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/fake-synced")
    assert secret_data(stack, "fake-synced") == {"username": b"sync-user", "password": b"sync-pw"}
    assert secret["type"] == "Opaque"
    assert {"app": "web", "tier": "e2e", "secrets-store.csi.k8s.io/managed": "true"}.items() <= secret["metadata"]["labels"].items()
    # a pod without owners (no ReplicaSet): the driver's patcher makes the pod status the owner
    owners = eventually("the Secret's owner", lambda: stack.admin.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/fake-synced")["metadata"].get("ownerReferences"))
    assert [(o["kind"], o["name"], o["uid"]) for o in owners] == [("SecretProviderClassPodStatus", status["metadata"]["name"], status["metadata"]["uid"])]


def test_rotation_on_republish(stack: Stack) -> None:
    stack.store.put("e2e/rot-changing", {"versions": [{"id": "c1", "value": "first"}]})
    stack.store.put("e2e/rot-steady", {"versions": [{"id": "s1", "value": "steady"}]})
    service_account(stack, "web")
    stack.admin.apply(spc("fake-rotation", [
        {"objectName": "e2e/rot-changing", "objectType": "fake", "objectAlias": "changing"},
        {"objectName": "e2e/rot-steady", "objectType": "fake", "objectAlias": "steady"},
    ], secret_objects=[{"secretName": "fake-rotated", "type": "Opaque",
                        "data": [{"objectName": "changing", "key": "changing"}, {"objectName": "steady", "key": "steady"}]}]))  # fmt: skip
    pod, volume = mounted_pod(stack, "fake-rotation", "fake-rotation")
    assert versions(pod_status(stack, pod)) == {"changing": "c1", "steady": "s1"}
    eventually("the first Secret", lambda: secret_data(stack, "fake-rotated") == {"changing": b"first", "steady": b"steady"})

    stack.store.put("e2e/rot-changing", {"versions": [{"id": "c1", "value": "first"}, {"id": "c2", "value": "second"}]})
    served = mounts_served(stack)
    stack.kubelet.republish(volume)  # the last write is recent (interval 10m): the driver skips the provider
    assert mounts_served(stack) == served
    assert stack.kubelet.files(volume)["changing"] == (b"first", 0o644)

    stack.kubelet.age(volume, 3600)  # the last write an hour ago: this republish rotates
    stack.kubelet.republish(volume)
    assert mounts_served(stack) == served + 1
    assert {path: contents for path, (contents, _) in stack.kubelet.files(volume).items()} == {"changing": b"second", "steady": b"steady"}
    assert versions(pod_status(stack, pod)) == {"changing": "c2", "steady": "s1"}
    eventually("the rotated Secret", lambda: secret_data(stack, "fake-rotated") == {"changing": b"second", "steady": b"steady"})


def test_failing_provider_on_remount_keeps_the_old_files(stack: Stack) -> None:
    stack.store.put("e2e/going-away", "still here")
    service_account(stack, "web")
    stack.admin.apply(spc("fake-failing", [{"objectName": "e2e/going-away", "objectType": "fake", "objectAlias": "value"}]))
    pod, volume = mounted_pod(stack, "fake-failing", "fake-failing")
    before = versions(pod_status(stack, pod))

    stack.store.remove("e2e/going-away")
    not_found = metric_value(gateway_metrics(stack), "secrets_gateway_mounts_total", outcome="NotFound")
    stack.kubelet.age(volume, 3600)
    stack.kubelet.republish(volume)  # v1.6 masks remount failures: kubelet sees success
    assert metric_value(gateway_metrics(stack), "secrets_gateway_mounts_total", outcome="NotFound") == not_found + 1
    assert stack.kubelet.files(volume) == {"value": (b"still here", 0o644)}
    assert versions(pod_status(stack, pod)) == before


def test_first_mount_failure_reaches_kubelet_with_our_message(stack: Stack) -> None:
    service_account(stack, "web")
    stack.admin.apply(spc("fake-missing", [{"objectName": "e2e/never-created", "objectType": "fake"}]))
    pod = stack.kubelet.create_pod(NAMESPACE, "fake-missing", "web", "fake-missing")
    with pytest.raises(grpc.RpcError) as failure:
        stack.kubelet.publish(pod)
    message = failure.value.details()
    assert f"failed to mount secrets store objects for pod {NAMESPACE}/fake-missing" in message
    assert "e2e/never-created" in message and "code = NotFound" in message


def test_node_unpublish_cleans_up(stack: Stack) -> None:
    stack.store.put("e2e/short-lived", "bye")
    service_account(stack, "web")
    stack.admin.apply(spc("fake-unpublish", [{"objectName": "e2e/short-lived", "objectType": "fake"}]))
    _, volume = mounted_pod(stack, "fake-unpublish", "fake-unpublish")
    assert volume.target in mount_points(stack)

    stack.kubelet.unpublish(volume)
    assert volume.target not in mount_points(stack)
    assert not stack.kubelet.view(volume.target).exists()


def mount_points(stack: Stack) -> set[str]:
    """Mount points in the driver's mount namespace."""
    with open(f"/proc/{stack.driver.pid}/mountinfo", encoding="utf-8") as handle:
        return {line.split()[4] for line in handle}


# --------------------------------------------------------------------------- real backends


def audit(stack: Stack, verb: str, resource: str, user: str, stage: str = "ResponseComplete") -> list[JsonObject]:
    """Audit events (at ``stage``; a watch in progress has only ResponseStarted) of ``user`` doing ``verb`` on ``resource``."""
    return [e for e in stack.plane.audit_events()
            if e.get("stage") == stage and e.get("verb") == verb
            and e.get("objectRef", {}).get("resource") == resource and e.get("user", {}).get("username") == user]  # fmt: skip


VAULT_REVIEWER = ("kube-system", "openbao-token-reviewer")
VAULT_OBJECTS = [{"objectName": "db-password", "objectType": "vault", "secretPath": "secret/data/web/db", "secretKey": "password"}]


@pytest.fixture(scope="module")
def vault_version(stack: Stack) -> int:
    """OpenBao's kubernetes auth reviewing tokens with this API server (as a ServiceAccount bound to
    system:auth-delegator), role e2e-web for apps/vault-web; returns the KV v2 version written."""
    bao, admin = stack.peers.bao, stack.admin
    namespace, name = VAULT_REVIEWER
    admin.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}})
    admin.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                 "metadata": {"name": "openbao-token-reviewer"},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
                 "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]})  # fmt: skip
    reviewer_jwt = admin.service_account_token(namespace, name)["token"]
    bao.configure_kubernetes_auth(stack.plane.server, reviewer_jwt, stack.plane.ca_file.read_text())
    bao.put_policy("e2e-web", 'path "secret/data/web/*" { capabilities = ["read"] }')
    bao.kubernetes_role("e2e-web", NAMESPACE, "vault-web", ["e2e-web"], audience="vault")
    return bao.kv2_put("secret", "web/db", {"password": "from-openbao", "user": "web"})


def vault_pod(stack: Stack, name: str, account: str) -> JsonObject:
    service_account(stack, account)
    stack.admin.apply(spc(name, VAULT_OBJECTS, roleName="e2e-web"))
    return stack.kubelet.create_pod(NAMESPACE, name, account, name)


def test_vault_kubernetes_auth_reviews_the_pod_token_with_this_api_server(stack: Stack, vault_version: int) -> None:
    pod = vault_pod(stack, "vault-web", "vault-web")
    volume = stack.kubelet.publish(pod)
    assert stack.kubelet.files(volume) == {"db-password": (b"from-openbao", 0o644)}
    assert versions(pod_status(stack, pod)) == {"db-password": str(vault_version)}
    reviews = audit(stack, "create", "tokenreviews", "system:serviceaccount:{}:{}".format(*VAULT_REVIEWER))
    assert reviews and all(e["responseStatus"]["code"] == 201 for e in reviews)


def test_vault_rotation_on_republish(stack: Stack, vault_version: int) -> None:
    """A new KV v2 version reaches the file and the pod status once a republish is due."""
    bao = stack.peers.bao
    first = bao.kv2_put("secret", "web/rotating", {"token": "one"})
    service_account(stack, "vault-web")
    objects = [{"objectName": "token", "objectType": "vault", "secretPath": "secret/data/web/rotating", "secretKey": "token"}]
    stack.admin.apply(spc("vault-rotating", objects, roleName="e2e-web"))
    pod, volume = mounted_pod(stack, "vault-rotating", "vault-rotating", account="vault-web")
    assert stack.kubelet.files(volume) == {"token": (b"one", 0o644)}
    assert versions(pod_status(stack, pod)) == {"token": str(first)}  # KV v2: the version is the KV version

    second = bao.kv2_put("secret", "web/rotating", {"token": "two"})
    stack.kubelet.age(volume, 3600)
    stack.kubelet.republish(volume)
    assert stack.kubelet.files(volume) == {"token": (b"two", 0o644)}
    assert versions(pod_status(stack, pod)) == {"token": str(second)}


@pytest.mark.parametrize(
    ("case", "account", "refusal"),
    [pytest.param("outside-role", "vault-intruder", "service account name not authorized", id="service-account-outside-the-role"),
     pytest.param("deleted-pod", "vault-web", "permission denied", id="token-bound-to-a-deleted-pod")],
)  # fmt: skip
def test_vault_login_refused(stack: Stack, vault_version: int, case: str, account: str, refusal: str) -> None:
    """OpenBao refuses the login: the role does not name the account, or the API server's TokenReview
    rejects a token whose bound pod is gone (only a real API server knows)."""
    pod = vault_pod(stack, f"vault-{case}", account)
    tokens = stack.kubelet.tokens(pod)
    if case == "deleted-pod":
        stack.admin.delete(f"/api/v1/namespaces/{NAMESPACE}/pods/{pod['metadata']['name']}?gracePeriodSeconds=0")
    with pytest.raises(grpc.RpcError) as failure:
        stack.kubelet.publish(pod, tokens=tokens)
    assert "code = PermissionDenied" in failure.value.details()
    assert f'login failed for role "e2e-web" (auth/kubernetes) (HTTP 403): {refusal}' in failure.value.details()


def aws_secret(stack: Stack, name: str, value: str) -> dict[str, Any]:
    """Create a Secrets Manager secret in moto (the account every role of these tests belongs to)."""
    client = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=stack.peers.moto.url,
                          aws_access_key_id="e2e", aws_secret_access_key="e2e")  # fmt: skip
    return dict(client.create_secret(Name=name, SecretString=value))


def irsa_mount(stack: Stack, name: str) -> Volume:
    """A Secrets Manager object mounted with IRSA: the role ARN from the ServiceAccount annotation."""
    aws_secret(stack, f"e2e/{name}", f"{name}-value")
    service_account(stack, name, {"eks.amazonaws.com/role-arn": role_arn(f"e2e-{name}")})
    stack.admin.apply(spc(name, [{"objectName": f"e2e/{name}", "objectType": "secretsmanager", "objectAlias": "db"}], region="us-east-1"))
    return mounted_pod(stack, name, name, account=name)[1]


def assert_role_read(stack: Stack, gateway: tuple[str, str], account: str) -> None:
    """The gateway running as ``gateway`` read ``account``'s annotation from the API server: by its ServiceAccount
    watch (a LIST, then a WATCH, both granted by the chart), or by a GET when the watch had not seen it yet."""
    user = "system:serviceaccount:{}:{}".format(*gateway)
    listed = audit(stack, "list", "serviceaccounts", user)
    watching = audit(stack, "watch", "serviceaccounts", user, stage="ResponseStarted")
    got = [e for e in audit(stack, "get", "serviceaccounts", user) if e["objectRef"].get("name") == account]
    assert listed and all(e["responseStatus"]["code"] == 200 for e in listed), "the chart lets the gateway list ServiceAccounts"
    assert any(e["responseStatus"]["code"] == 200 for e in watching) or any(e["responseStatus"]["code"] == 200 for e in got)


def test_aws_irsa_role_from_the_service_account_annotation(stack: Stack) -> None:
    volume = irsa_mount(stack, "aws-irsa")
    assert stack.kubelet.files(volume) == {"db": (b"aws-irsa-value", 0o644)}
    assert_role_read(stack, stack.gateway_service_account, "aws-irsa")


def test_aws_pod_identity_through_the_agent(stack: Stack) -> None:
    aws_secret(stack, "e2e/pod-identity-db", "pod-identity-value")
    service_account(stack, "aws-pod-identity")
    stack.admin.apply(spc("aws-pod-identity", [
        {"objectName": "e2e/pod-identity-db", "objectType": "secretsmanager", "objectAlias": "db"},
    ], region="us-east-1", usePodIdentity="true"))  # fmt: skip
    pod = stack.kubelet.create_pod(NAMESPACE, "aws-pod-identity", "aws-pod-identity", "aws-pod-identity")
    tokens = stack.kubelet.tokens(pod)
    stack.peers.agent.associate(tokens["pods.eks.amazonaws.com"]["token"], role_arn("e2e-pod-identity"))
    requests_before = stack.peers.agent.requests
    volume = stack.kubelet.publish(pod, tokens=tokens)
    assert stack.kubelet.files(volume) == {"db": (b"pod-identity-value", 0o644)}
    assert stack.peers.agent.requests > requests_before


def test_ascp_class_unchanged_through_the_aws_release(stack: Stack) -> None:
    """A SecretProviderClass written for ASCP (provider aws) mounts through the chart's drop-in release
    (providerName aws): ASCP's path translation, JMESPath files and the Secrets Manager version ids."""
    db = aws_secret(stack, "e2e/ascp-db", '{"username": "ascp-user", "password": "ascp-pw"}')
    aws_secret(stack, "e2e/ascp-key", "ascp-key-value")
    service_account(stack, "aws-ascp", {"eks.amazonaws.com/role-arn": role_arn("e2e-ascp")})
    manifest = spc("ascp-class", [], region="us-east-1")
    manifest["spec"]["provider"] = ASCP_PROVIDER
    manifest["spec"]["parameters"]["objects"] = """
- objectName: "e2e/ascp-db"
  objectType: "secretsmanager"
  objectAlias: "db.json"
  jmesPath:
    - path: username
      objectAlias: db-user
- objectName: "e2e/ascp-key"
  objectType: "secretsmanager"
"""
    stack.admin.apply(manifest)
    pod, volume = mounted_pod(stack, "ascp-class", "ascp-class", account="aws-ascp")
    assert stack.kubelet.files(volume) == {
        "db.json": (b'{"username": "ascp-user", "password": "ascp-pw"}', 0o644),
        "db-user": (b"ascp-user", 0o644),
        "e2e_ascp-key": (b"ascp-key-value", 0o644),  # ASCP's pathTranslation: "/" becomes "_"
    }
    assert db["VersionId"] in versions(pod_status(stack, pod)).values()
    assert_role_read(stack, stack.ascp.service_account, "aws-ascp")


def test_ascp_class_without_region_takes_the_node_label(stack: Stack) -> None:
    """No region in the class or the release: pod → spec.nodeName → the Node's topology label, read from
    the real API server with the ClusterRole the chart renders for that case (pods and nodes)."""
    stack.admin.apply({"apiVersion": "v1", "kind": "Node",
                       "metadata": {"name": NODE_NAME, "labels": {"topology.kubernetes.io/region": "us-east-1"}}})  # fmt: skip
    aws_secret(stack, "e2e/ascp-regionless", "from-the-node-region")
    service_account(stack, "aws-regionless", {"eks.amazonaws.com/role-arn": role_arn("e2e-regionless")})
    manifest = spc("ascp-regionless", [{"objectName": "e2e/ascp-regionless", "objectType": "secretsmanager", "objectAlias": "value"}])
    manifest["spec"]["provider"] = ASCP_PROVIDER
    stack.admin.apply(manifest)
    _, volume = mounted_pod(stack, "ascp-regionless", "ascp-regionless", account="aws-regionless")
    assert stack.kubelet.files(volume) == {"value": (b"from-the-node-region", 0o644)}
    user = "system:serviceaccount:{}:{}".format(*stack.ascp.service_account)
    assert any(e["objectRef"].get("name") == "ascp-regionless" for e in audit(stack, "get", "pods", user))
    assert any(e["objectRef"].get("name") == NODE_NAME for e in audit(stack, "get", "nodes", user))


# --------------------------------------------------------------------------- validate


#: (verb, resource, group) the chart's gateway identity may do with plugins.aws.region set — the IRSA
#: ServiceAccount read — and requests it must be refused (the region is known: no pod or node reads)
GATEWAY_ALLOWED = [("get", "serviceaccounts", ""), ("list", "serviceaccounts", ""), ("watch", "serviceaccounts", "")]
GATEWAY_REFUSED = [("get", "pods", ""), ("get", "nodes", ""), ("list", "pods", ""), ("get", "secrets", ""), ("list", "secrets", ""),
                   ("create", "tokenreviews", "authentication.k8s.io"), ("update", "serviceaccounts", ""),
                   ("delete", "serviceaccounts", "")]  # fmt: skip


def test_chart_rbac_is_what_the_gateway_needs(stack: Stack) -> None:
    """The chart's ClusterRole, as the real authorizer applies it: the reads the aws plugin makes, nothing more
    (that they suffice: the IRSA cases mount, and the audit case finds no refused request)."""
    gateway = stack.admin.as_service_account(*stack.gateway_service_account)
    for verb, resource, group in GATEWAY_ALLOWED + GATEWAY_REFUSED:
        namespace = "" if resource == "nodes" else NAMESPACE
        expected = (verb, resource, group) in GATEWAY_ALLOWED
        assert gateway.can_i(verb, resource, namespace=namespace, group=group) is expected, (verb, resource)


#: (case id, object descriptor, what `validate` and the driver's mount both report; "" = accepted)
VALIDATE_TABLE = [
    ("valid", {"objectName": "e2e/validated", "objectType": "fake", "objectAlias": "ok", "filePermission": "0600"}, ""),
    ("reserved-path", {"objectName": "e2e/validated", "objectType": "fake", "objectAlias": "../escape"}, "starts with '..'"),
    ("unknown-object-type", {"objectName": "e2e/validated", "objectType": "nosuchbackend"}, "Invalid objectType"),
    ("bad-file-permission", {"objectName": "e2e/validated", "objectType": "fake", "filePermission": "0999"}, "0999"),
]


def validate_name(case: str) -> str:
    return f"validate-{case}"


@pytest.fixture(scope="module")
def validate_report(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """One `secrets-gateway validate` run (the gateway's --plugins) over every case's SecretProviderClass:
    SecretProviderClass name → its error messages."""
    manifests = tmp_path_factory.mktemp("validate") / "spcs.yaml"
    manifests.write_text(yaml.safe_dump_all([spc(validate_name(case), [descriptor]) for case, descriptor, _ in VALIDATE_TABLE]))
    plugins = next(a for a in stack.gateway_args if a.startswith("--plugins="))
    command = [sys.executable, "-m", "gateway", "validate", plugins, f"--provider-name={PROVIDER}", str(manifests)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    report: dict[str, list[str]] = {validate_name(case): [] for case, _, _ in VALIDATE_TABLE}
    for line in (result.stdout + result.stderr).splitlines():
        found = re.match(r"error: \S+#\d+ \(([^)]+)\): (.*)", line)
        if found:
            report[found.group(1)].append(found.group(2))
    assert result.returncode == (1 if any(report.values()) else 0), result.stdout + result.stderr
    return report


@pytest.mark.parametrize(("case", "descriptor", "expected"), [pytest.param(*row, id=row[0]) for row in VALIDATE_TABLE])
def test_validate_agrees_with_the_driver(stack: Stack, validate_report: dict[str, list[str]], case: str, descriptor: dict[str, Any], expected: str) -> None:
    """`secrets-gateway validate` refuses exactly what a real mount through the driver refuses, with the same message."""
    stack.store.put("e2e/validated", "validated-value")
    service_account(stack, "web")
    name = validate_name(case)
    stack.admin.apply(spc(name, [descriptor]))
    pod = stack.kubelet.create_pod(NAMESPACE, name, "web", name)
    if not expected:
        assert validate_report[name] == []
        volume = stack.kubelet.publish(pod)
        assert stack.kubelet.files(volume) == {"ok": (b"validated-value", 0o600)}
        return
    [message] = validate_report[name]
    assert expected in message
    with pytest.raises(grpc.RpcError) as failure:
        stack.kubelet.publish(pod)
    assert "code = InvalidArgument" in failure.value.details()
    assert message in failure.value.details()


UNSYNCABLE = "fake-unsyncable"


def unsyncable_class() -> JsonObject:
    """secretObjects naming a file the class does not mount."""
    return spc(UNSYNCABLE, [{"objectName": "e2e/unsyncable", "objectType": "fake", "objectAlias": "present"}],
               secret_objects=[{"secretName": "never-synced", "type": "Opaque", "data": [{"objectName": "absent", "key": "k"}]}])  # fmt: skip


def test_driver_and_validate_refuse_to_sync_a_secret_from_a_file_not_mounted(stack: Stack, tmp_path: Path) -> None:
    """The mount succeeds but the driver never syncs the Secret (a pod event says why); `validate` says so up front."""
    stack.store.put("e2e/unsyncable", "value")
    service_account(stack, "web")
    stack.admin.apply(unsyncable_class())
    pod, volume = mounted_pod(stack, UNSYNCABLE, UNSYNCABLE)  # the mount itself succeeds
    assert stack.kubelet.files(volume) == {"present": (b"value", 0o644)}

    def refusal() -> str:
        events = stack.admin.get(f"/api/v1/namespaces/{NAMESPACE}/events")["items"]
        return next((e["message"] for e in events if e["involvedObject"].get("uid") == pod["metadata"]["uid"]
                     and e["reason"] == "FailedToCreateSecret"), "")  # fmt: skip

    message = eventually("the driver's FailedToCreateSecret event", refusal)
    assert "file matching objectName absent not found in the pod" in message

    manifest = tmp_path / "spc.yaml"
    manifest.write_text(yaml.safe_dump(unsyncable_class()), encoding="utf-8")
    plugins = next(a for a in stack.gateway_args if a.startswith("--plugins="))
    result = subprocess.run([sys.executable, "-m", "gateway", "validate", plugins, str(manifest)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert 'secretObjects[0].data[0]: objectName "absent" is not a file' in result.stdout + result.stderr


def test_audit_log_every_request_of_the_driver_and_the_gateway_was_allowed(stack: Stack) -> None:
    """Over the whole session (this case runs last; it mounts once itself): the driver's RBAC from its
    module and our chart's ClusterRole cover every request the two made, and our gateway only ever
    reads (GET, and LIST + WATCH of ServiceAccount metadata)."""
    irsa_mount(stack, "aws-audited")
    gateway_users = {"system:serviceaccount:{}:{}".format(*g.service_account) for g in (stack.main, stack.ascp)}
    driver_user = "system:serviceaccount:kube-system:secrets-store-csi-driver"
    events = [e for e in stack.plane.audit_events() if e.get("stage") == "ResponseComplete"]
    by_driver = [e for e in events if e["user"]["username"] == driver_user]
    by_gateway = [
        e for e in events if e["user"]["username"] in gateway_users and e.get("objectRef", {}).get("resource") != "selfsubjectaccessreviews"
    ]  # fmt: skip (those are this test's)
    assert by_driver and by_gateway
    refused = [(e["user"]["username"], e["verb"], e["requestURI"]) for e in by_driver + by_gateway if e["responseStatus"]["code"] in (401, 403)]
    assert refused == []
    reads = {("get", "serviceaccounts"), ("list", "serviceaccounts"), ("watch", "serviceaccounts"), ("get", "pods"), ("get", "nodes")}
    assert {(e["verb"], e["objectRef"]["resource"]) for e in by_gateway} <= reads
