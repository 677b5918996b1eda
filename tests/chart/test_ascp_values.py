"""ASCP's chart values through our chart with the real helm: the values map of
docs/migrate-from-ascp.md, rendered.

fixtures/ascp-values.yaml is a values file written for the AWS provider's chart (every key with a
meaning here); it is also a scenario of cases.py, so it is linted, validated and *served* by the real
CLI like the others. Here: each ASCP key lands on the value the guide names, NOTES lists it as
deprecated, keys without a meaning are refused with the reason, and the guide's table covers every
key of ASCP's chart.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.chart.tools import REPO, RenderError, gateway_container, load_yaml, one, render, render_notes

pytestmark = pytest.mark.timeout(1200)  # the first test may build helm

FIXTURE = REPO / "tests" / "chart" / "fixtures" / "ascp-values.yaml"
GUIDE = REPO / "docs" / "migrate-from-ascp.md"

#: every value of ASCP's chart 3.1.x: its values.yaml plus the keys only its templates and README use
ASCP_KEYS = (
    "image.repository", "image.pullPolicy", "image.tag", "awsRegion", "nameOverride", "fullnameOverride",
    "providerVolume", "kubeletPath", "driverWritesSecrets", "commonLabels", "podLabels", "podAnnotations",
    "affinity", "resources", "priorityClassName", "nodeSelector", "tolerations", "port", "updateStrategy",
    "imagePullSecrets", "rbac.install", "rbac.serviceAccountName", "securityContext.privileged",
    "securityContext.allowPrivilegeEscalation", "useFipsEndpoint", "podIdentityHttpTimeout", "dnsPolicy",
    "dnsConfig", "k8sThrottlingParams.qps", "k8sThrottlingParams.burst", "eksAddonVersion",
    "secrets-store-csi-driver.install",
)
#: ASCP key → the value of ours it sets (the guide's "here" column)
MAPPED = {
    "awsRegion": "plugins.aws.region",
    "providerVolume": "providersDir",
    "useFipsEndpoint": "plugins.aws.env.SECRETS_GATEWAY_AWS_USE_FIPS_ENDPOINT",
    "podIdentityHttpTimeout": "plugins.aws.env.SECRETS_GATEWAY_AWS_POD_IDENTITY_TIMEOUT",
    "k8sThrottlingParams.qps": "plugins.aws.kubeQPS",
    "k8sThrottlingParams.burst": "plugins.aws.kubeBurst",
    "rbac.install": "rbac.create",
    "rbac.serviceAccountName": "serviceAccount.name",
}
#: accepted, nothing to set: the behaviour is fixed here
FIXED = ("driverWritesSecrets", "securityContext.privileged", "securityContext.allowPrivilegeEscalation",
         "secrets-store-csi-driver.install")
#: refused: (values, what the message must say)
REFUSED = [
    pytest.param({"kubeletPath": "/var/lib/kubelet"}, "kubeletPath is a value of the AWS provider's chart", id="kubeletPath"),
    pytest.param({"port": 8989}, "the health and metrics port here is http.port", id="port"),
    pytest.param({"eksAddonVersion": "v1.0.0-eksbuild.1"}, "eksAddonVersion is a value", id="eksAddonVersion"),
    pytest.param({"image": {"repository": "public.ecr.aws/aws-secrets-manager/secrets-store-csi-driver-provider-aws"}},
                 "is ASCP's image", id="image.repository"),
    pytest.param({"secrets-store-csi-driver": {"install": True}}, "this chart does not install the Secrets Store CSI Driver",
                 id="secrets-store-csi-driver.install"),
    pytest.param({"secrets-store-csi-driver": {"tokenRequests": [{"audience": "sts.amazonaws.com"}]}},
                 "this chart does not install the Secrets Store CSI Driver", id="driver-subchart-installs-by-default"),
    pytest.param({"awsRegion": "eu-west-1", "plugins": {"aws": {"region": "us-east-1"}}},
                 "awsRegion (ASCP) eu-west-1 and plugins.aws.region us-east-1 disagree", id="awsRegion-conflict"),
    pytest.param({"providerVolume": "/a", "providersDir": "/b"}, "providerVolume (ASCP) /a and providersDir /b disagree",
                 id="providerVolume-conflict"),
    pytest.param({"rbac": {"serviceAccountName": "a"}, "serviceAccount": {"name": "b"}},
                 "rbac.serviceAccountName (ASCP) a and serviceAccount.name b disagree", id="serviceAccountName-conflict"),
]
SAME = tuple(key for key in ASCP_KEYS if key not in MAPPED and key not in FIXED
             and key not in {"kubeletPath", "port", "eksAddonVersion", "image.repository", "image.tag"})


def _values_file(tmp_path: Path, values: dict[str, Any]) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(json.dumps(values))
    return path


def _leaf(values: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        values = values[part]
    return values


def test_the_fixture_sets_every_ascp_key_with_a_meaning_here() -> None:
    fixture = load_yaml(FIXTURE)
    for key in (*MAPPED, *FIXED, *SAME):
        _leaf(fixture, key)  # KeyError names a key the fixture lacks


def test_ascp_values_land_on_ours() -> None:
    fixture = load_yaml(FIXTURE)
    docs = render([FIXTURE])
    container = gateway_container(docs)
    pod = container.pod
    env = container.env
    assert container.flag("providers-dir") == fixture["providerVolume"]
    assert env["AWS_REGION"] == fixture["awsRegion"]
    assert env["SECRETS_GATEWAY_AWS_USE_FIPS_ENDPOINT"] == "true"
    assert env["SECRETS_GATEWAY_AWS_POD_IDENTITY_TIMEOUT"] == "0.25"  # 250ms as the plugin's seconds
    assert (env["SECRETS_GATEWAY_AWS_KUBE_QPS"], env["SECRETS_GATEWAY_AWS_KUBE_BURST"]) == ("20", "40")
    account = one(docs, "ServiceAccount")["metadata"]["name"]
    assert account == pod["serviceAccountName"] == fixture["rbac"]["serviceAccountName"]
    assert one(docs, "ClusterRoleBinding")["subjects"][0]["name"] == account
    # same names, same meaning
    daemonset = one(docs, "DaemonSet")
    assert daemonset["metadata"]["name"] == f"sgw-{fixture['nameOverride']}"
    assert daemonset["metadata"]["labels"]["team"] == "platform"
    template = daemonset["spec"]["template"]
    assert template["metadata"]["labels"]["app.example.com/tier"] == "node"
    assert template["metadata"]["annotations"] == fixture["podAnnotations"]
    assert pod["affinity"] == fixture["affinity"], "ASCP's own Fargate exclusion is not repeated"
    assert container.spec["resources"] == fixture["resources"]
    assert pod["priorityClassName"] == fixture["priorityClassName"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", **fixture["nodeSelector"]}
    assert pod["tolerations"] == fixture["tolerations"]
    assert daemonset["spec"]["updateStrategy"] == fixture["updateStrategy"]
    assert pod["imagePullSecrets"] == fixture["imagePullSecrets"]
    assert container.spec["imagePullPolicy"] == "Always"
    assert (pod["dnsPolicy"], pod["dnsConfig"]) == (fixture["dnsPolicy"], fixture["dnsConfig"])
    assert container.spec["securityContext"]["privileged"] is False
    assert container.spec["securityContext"]["allowPrivilegeEscalation"] is False


def test_rbac_install_false_means_bring_your_own_account(tmp_path: Path) -> None:
    docs = render([_values_file(tmp_path, {"rbac": {"install": False, "serviceAccountName": "mine"}})])
    assert {doc["kind"] for doc in docs} == {"DaemonSet"}
    assert gateway_container(docs).pod["serviceAccountName"] == "mine"


def test_our_explicit_plugin_env_wins_over_the_ascp_key(tmp_path: Path) -> None:
    values = {"useFipsEndpoint": True, "podIdentityHttpTimeout": "2s",
              "plugins": {"aws": {"env": {"SECRETS_GATEWAY_AWS_USE_FIPS_ENDPOINT": "false"}}}}
    env = gateway_container(render([_values_file(tmp_path, values)])).env
    assert env["SECRETS_GATEWAY_AWS_USE_FIPS_ENDPOINT"] == "false"
    assert env["SECRETS_GATEWAY_AWS_POD_IDENTITY_TIMEOUT"] == "2"


@pytest.mark.parametrize(("duration", "seconds"), [
    pytest.param("250ms", "0.25", id="milliseconds"), pytest.param("2s", "2", id="seconds"),
    pytest.param("1.5s", "1.5", id="fraction"), pytest.param("1m", "60", id="minutes"),
])
def test_pod_identity_timeout_go_duration(duration: str, seconds: str) -> None:
    env = gateway_container(render(sets=[f"podIdentityHttpTimeout={duration}"])).env
    assert env["SECRETS_GATEWAY_AWS_POD_IDENTITY_TIMEOUT"] == seconds


def test_empty_ascp_defaults_change_nothing(tmp_path: Path) -> None:
    """ASCP's own defaults (awsRegion "", podIdentityHttpTimeout empty, useFipsEndpoint false) are no-ops."""
    values = {"awsRegion": "", "podIdentityHttpTimeout": None, "useFipsEndpoint": False, "driverWritesSecrets": False,
              "providerVolume": "/var/run/secrets-store-csi-providers", "rbac": {"install": True}}
    assert gateway_container(render([_values_file(tmp_path, values)])).env == gateway_container(render()).env


@pytest.mark.parametrize(("values", "expected"), REFUSED)
def test_ascp_values_without_a_meaning_are_refused(values: dict[str, Any], expected: str, tmp_path: Path) -> None:
    with pytest.raises(RenderError) as refused:
        render([_values_file(tmp_path, values)])
    message = str(refused.value)
    assert expected in message
    assert "docs/migrate-from-ascp.md" in message


@pytest.mark.parametrize("key", ["securityContext.privileged", "securityContext.allowPrivilegeEscalation"])
def test_privileges_cannot_be_granted(key: str, tmp_path: Path) -> None:
    section, name = key.split(".")
    with pytest.raises(RenderError) as refused:
        render([_values_file(tmp_path, {section: {name: True}})])
    assert f"at '/{section}/{name}'" in str(refused.value)


def test_notes_list_the_deprecated_keys(tmp_path: Path) -> None:
    notes = render_notes([FIXTURE], tmp_path=tmp_path)
    assert "DEPRECATED: these values come from the AWS provider's chart (ASCP)" in notes
    listed = dict(re.findall(r"^ +(\S+) -> (.+)$", notes, re.MULTILINE))
    for ascp_key, ours in MAPPED.items():
        top = ascp_key.split(".")[0] if ascp_key.startswith("k8sThrottlingParams") else ascp_key
        assert ours in listed[top], (ascp_key, listed)
    assert "driverWritesSecrets" in listed and "secrets-store-csi-driver" in listed
    assert "DEPRECATED" not in render_notes(tmp_path=tmp_path / "defaults")


def _guide_rows() -> dict[str, str]:
    """ASCP key → the rest of its row in the guide's values map."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("## Values map", 1)[1].split("\n## ", 1)[0]
    return {match[0]: match[1] for match in re.findall(r"^\| `([^`]+)` \|(.*)$", section, re.MULTILINE)}


def test_the_guide_maps_every_ascp_key() -> None:
    rows = _guide_rows()
    assert set(rows) == set(ASCP_KEYS)
    for key, ours in MAPPED.items():
        assert f"`{ours}`" in rows[key], (key, rows[key])
    for param in REFUSED:
        key = param.id
        if key in rows:
            assert "refused" in rows[key], (key, rows[key])
    for key in SAME:
        assert "same" in rows[key], (key, rows[key])


def test_every_template_maps_the_ascp_values_first() -> None:
    """The mapping rewrites .Values in place: a template rendered before any other must still see it."""
    first = '{{- include "secrets-gateway.ascpValues" . -}}'
    templates = sorted((REPO / "charts" / "secrets-gateway" / "templates").glob("*.yaml"))
    assert templates
    assert [path.name for path in templates if path.read_text().splitlines()[0] != first] == []
