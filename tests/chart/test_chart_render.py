"""The chart through the real helm: lint, render every scenario, validate against the Kubernetes
schemas offline, and check the properties that matter (security, RBAC, probes, socket, NOTES).

helm is pinned and installed on first use (see tools.py); without Go these tests are skipped.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.cases import (
    AWS_REGION_RULES,
    AWS_RULES,
    DRIVER_DIRS,
    INVALID_CASES,
    SA_WATCH_RULES,
    SCENARIO_PARAMS,
    SCENARIOS,
    TEMPLATE_FAILURES,
    TOKENREVIEW_RULE,
    Scenario,
)
from tests.chart.tools import (
    CHART,
    DRIVER_CHART_VERSION,
    HELM_MODULE,
    HELM_VERSION,
    NAMESPACE,
    RELEASE,
    REPO,
    RenderError,
    binary_module_version,
    by_kind,
    ci_values_files,
    driver_chart,
    ensure_helm,
    gateway_container,
    helm,
    one,
    render,
    render_notes,
    tools_dir,
    validate_objects,
)

pytestmark = pytest.mark.timeout(1200)  # the first test may build helm (about 2.5 minutes here)
OLDEST_SCHEMAS = "1.25.0"  # the oldest Kubernetes schemas kubernetes-validate ships

RENDERED: dict[str, list[dict[str, Any]]] = {}


def rendered(scenario: Scenario) -> list[dict[str, Any]]:
    if scenario.name not in RENDERED:
        RENDERED[scenario.name] = render(scenario.paths, set_files=scenario.set_files)
    return copy.deepcopy(RENDERED[scenario.name])


def test_helm_is_the_pinned_version() -> None:
    assert binary_module_version(ensure_helm(), HELM_MODULE) == HELM_VERSION


def test_every_ci_values_file_has_a_scenario() -> None:
    covered = {Path(value).name for scenario in SCENARIOS for value in scenario.values}
    assert {path.name for path in ci_values_files()} <= covered


# --------------------------------------------------------------------------- lint and schemas


@pytest.mark.parametrize("values", [None, *ci_values_files()],
                         ids=lambda p: "chart-defaults" if p is None else p.name.removesuffix("-values.yaml"))
def test_helm_lint_strict(values: Path | None) -> None:
    args = ["lint", CHART, "--strict", "--kube-version", "1.37.0", "--namespace", NAMESPACE]
    result = helm(*args, *(["--values", values] if values else []), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("scenario", SCENARIO_PARAMS)
def test_rendered_objects_are_valid_kubernetes(scenario: Scenario) -> None:
    docs = rendered(scenario)
    assert validate_objects(docs) == []
    assert {doc["kind"] for doc in docs} == scenario.kinds
    for doc in docs:
        if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE


def test_validation_catches_a_misspelt_field() -> None:
    """Negative control: the strict schemas really reject unknown fields in a rendered object."""
    daemonset = one(rendered(SCENARIOS[0]), "DaemonSet")
    daemonset["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    problems = validate_objects([daemonset])
    assert len(problems) == 1 and "securityContex" in problems[0]


@pytest.mark.parametrize(("override", "pointer"), INVALID_CASES)
def test_helm_refuses_schema_violations(override: dict[str, Any], pointer: str, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(json.dumps(override))  # JSON is YAML, and keeps "0999" a string
    with pytest.raises(RenderError) as refused:
        render([values])
    message = str(refused.value)
    assert "don't meet the specifications of the schema" in message
    if "invalid propertyName" in message:
        # helm v3.22 (santhosh-tekuri/jsonschema v6) reports a bad map key at an unrelated location
        assert f"invalid propertyName '{_innermost_key(override)}'" in message
    else:
        assert f"- at '{pointer}': " in message


def _innermost_key(values: dict[str, Any]) -> str:
    """The deepest key of a single-path override ({"a": {"b": 1}} → "b")."""
    key, value = next(iter(values.items()))
    while isinstance(value, dict) and value:
        key, value = next(iter(value.items()))
    return key


@pytest.mark.parametrize(("sets", "expected"), TEMPLATE_FAILURES)
def test_templates_refuse_contradictions(sets: list[str], expected: str) -> None:
    with pytest.raises(RenderError) as refused:
        render(sets=sets)
    assert expected in str(refused.value)


# --------------------------------------------------------------------------- the DaemonSet


@pytest.mark.parametrize("scenario", SCENARIO_PARAMS)
def test_security_context(scenario: Scenario) -> None:
    container = gateway_container(rendered(scenario))
    pod = container.pod
    assert container.spec["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsNonRoot"] is scenario.non_root
    assert pod["securityContext"].get("runAsUser") == scenario.run_as_user
    assert not pod.get("hostPID") and not pod.get("hostIPC")
    for init in pod.get("initContainers", []):  # only the providers-dir preparation, and only with non-root
        assert scenario.non_root
        context = init["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN", "FOWNER"]}
        assert init["command"][-3:] == [scenario.providers_dir, str(scenario.run_as_user), str(scenario.run_as_user)]


@pytest.mark.parametrize("scenario", SCENARIO_PARAMS)
def test_socket_directory_and_provider(scenario: Scenario) -> None:
    container = gateway_container(rendered(scenario))
    # --log-level/--log-format belong to the main parser: before the command
    assert container.args[0].startswith("--log-level=") and container.args[1].startswith("--log-format=")
    assert container.args[2] == "serve"
    assert container.flag("providers-dir") == scenario.providers_dir
    assert container.flag("provider-name") == scenario.provider_name
    assert container.flag("socket-mode") == "0600"
    assert container.flag("plugins") == scenario.plugins
    assert container.volumes["providers-dir"]["hostPath"] == {"path": scenario.providers_dir, "type": "DirectoryOrCreate"}
    assert container.mounts["providers-dir"]["mountPath"] == scenario.providers_dir
    assert not container.mounts["providers-dir"].get("readOnly")
    for arg in scenario.args:
        assert arg in container.args
    assert container.env.items() >= scenario.env.items()


@pytest.mark.parametrize("scenario", SCENARIO_PARAMS)
def test_probes_use_the_health_port(scenario: Scenario) -> None:
    container = gateway_container(rendered(scenario))
    spec = container.spec
    if scenario.http_port is None:
        assert container.flag("http-address") == ""
        assert "ports" not in spec and "livenessProbe" not in spec and "readinessProbe" not in spec
        return
    assert container.flag("http-address").endswith(f":{scenario.http_port}")
    assert spec["ports"] == [{"name": "http", "containerPort": scenario.http_port, "protocol": "TCP"}]
    expected = {"livenessProbe": ("/healthz", scenario.liveness), "readinessProbe": ("/readyz", scenario.readiness)}
    for probe, (path, enabled) in expected.items():
        if enabled:
            assert spec[probe]["httpGet"] == {"path": path, "port": "http"}
        else:
            assert probe not in spec


@pytest.mark.parametrize("scenario", SCENARIO_PARAMS)
def test_scheduling_like_the_driver(scenario: Scenario) -> None:
    docs = rendered(scenario)
    pod = gateway_container(docs).pod
    assert pod["nodeSelector"]["kubernetes.io/os"] == "linux"
    if scenario.name == "hostnetwork":
        assert pod["priorityClassName"] == "secrets-critical"
        assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
        assert pod["nodeSelector"]["node-role.example.com/workers"] == "true"
        assert one(docs, "DaemonSet")["spec"]["updateStrategy"] == {"type": "OnDelete"}
    else:
        assert pod["priorityClassName"] == "system-node-critical"
        assert "hostNetwork" not in pod
    assert pod["terminationGracePeriodSeconds"] > float(gateway_container(docs).flag("grace-period"))


def test_null_removes_a_default() -> None:
    pod = gateway_container(render(sets=["affinity=null", "excludeFargate=false", "resources=null",
                                         "priorityClassName=null"])).pod
    assert "affinity" not in pod and "priorityClassName" not in pod
    assert "resources" not in pod["containers"][0]


FARGATE = {"key": "eks.amazonaws.com/compute-type", "operator": "NotIn", "values": ["fargate"]}
VIRTUAL_KUBELET = {"key": "type", "operator": "NotIn", "values": ["virtual-kubelet"]}
ZONE = {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}
ON_FARGATE = {"key": "eks.amazonaws.com/compute-type", "operator": "In", "values": ["fargate"]}


def _affinity(terms: list[dict[str, Any]]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}


@pytest.mark.parametrize(
    ("affinity", "exclude", "expected"),
    [
        pytest.param(..., True, _affinity([{"matchExpressions": [VIRTUAL_KUBELET, FARGATE]}]), id="chart-default"),
        pytest.param(None, True, _affinity([{"matchExpressions": [FARGATE]}]), id="null-affinity-still-no-fargate"),
        pytest.param(_affinity([{"matchExpressions": [ZONE]}, {"matchFields": [{"key": "metadata.name", "operator": "In",
                                                                                  "values": ["n1"]}]}]), True,
                     _affinity([{"matchExpressions": [ZONE, FARGATE]},
                                {"matchExpressions": [FARGATE],
                                 "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]),
                     id="every-term-of-the-user-affinity"),
        pytest.param(_affinity([{"matchExpressions": [ON_FARGATE]}]), True, _affinity([{"matchExpressions": [ON_FARGATE]}]),
                     id="a-term-that-decides-itself-is-kept"),
        pytest.param({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}, True,
                     {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []},
                      **_affinity([{"matchExpressions": [VIRTUAL_KUBELET, FARGATE]}])}, id="other-affinities-kept"),
        pytest.param(_affinity([{"matchExpressions": [ZONE]}]), False, _affinity([{"matchExpressions": [ZONE]}]),
                     id="opt-out"),
    ],
)
def test_fargate_nodes_are_excluded(affinity: Any, exclude: bool, expected: dict[str, Any], tmp_path: Path) -> None:
    """``affinity`` ``...``: the chart's default; ``None``: removed with null."""
    values = tmp_path / "values.yaml"
    values.write_text(json.dumps({"excludeFargate": exclude} | ({} if affinity is ... else {"affinity": affinity})))
    docs = render([values])
    assert gateway_container(docs).pod["affinity"] == expected
    assert validate_objects(docs) == []


@pytest.mark.parametrize(
    ("values", "policy", "config"),
    [
        pytest.param({}, None, None, id="kubernetes-default"),
        pytest.param({"hostNetwork": True}, "ClusterFirstWithHostNet", None, id="host-network-keeps-cluster-dns"),
        pytest.param({"hostNetwork": True, "dnsPolicy": "Default"}, "Default", None, id="host-network-node-dns"),
        pytest.param({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["10.0.0.10"], "searches": ["svc.cluster.local"],
                                                          "options": [{"name": "ndots", "value": "1"}]}},
                     "None", {"nameservers": ["10.0.0.10"], "searches": ["svc.cluster.local"],
                              "options": [{"name": "ndots", "value": "1"}]}, id="own-resolver"),
        pytest.param({"dnsConfig": {"options": [{"name": "single-request-reopen"}]}}, None,
                     {"options": [{"name": "single-request-reopen"}]}, id="options-only"),
    ],
)
def test_dns_policy_and_config(values: dict[str, Any], policy: str | None, config: dict[str, Any] | None,
                               tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(json.dumps(values))
    docs = render([path])
    pod = gateway_container(docs).pod
    assert pod.get("dnsPolicy") == policy
    assert pod.get("dnsConfig") == config
    assert validate_objects(docs) == []


@pytest.mark.parametrize(
    ("value", "arg"),
    [
        pytest.param("true", "--aws-use-fips-endpoint=true", id="true"),
        pytest.param("false", "--aws-use-fips-endpoint=false", id="false-is-not-dropped"),
        pytest.param('"yes"', "--aws-use-fips-endpoint=yes", id="string-as-given"),
    ],
)
def test_extra_args_booleans_carry_their_value(value: str, arg: str, tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(f"plugins:\n  aws:\n    extraArgs:\n      aws-use-fips-endpoint: {value}\nextraArgs:\n  dry: {value}\n")
    container = gateway_container(render([path]))
    assert arg in container.args
    assert "--aws-use-fips-endpoint" not in container.args, "a bare flag is refused by flags that take a value"
    assert container.flag("dry") == arg.split("=", 1)[1]


def test_numbers_render_without_exponent() -> None:
    container = gateway_container(render(sets=["extraArgs.max-value-bytes=4194304", "plugins.aws.kubeQPS=2.5",
                                               "plugins.aws.env.SECRETS_GATEWAY_AWS_MAX_WORKERS=1000000",
                                               "settings.gracePeriod=2.5"]))
    assert "--max-value-bytes=4194304" in container.args
    assert container.env["SECRETS_GATEWAY_AWS_KUBE_QPS"] == "2.5"
    assert container.env["SECRETS_GATEWAY_AWS_MAX_WORKERS"] == "1000000"
    assert "--grace-period=2.5" in container.args


@pytest.mark.parametrize(
    ("sets", "env"),
    [
        pytest.param([], {}, id="watch-on-by-default"),
        pytest.param(["plugins.aws.watchServiceAccounts=false"], {"SECRETS_GATEWAY_AWS_KUBE_WATCH_MAX_ACCOUNTS": "0"}, id="watch-off"),
    ],
)
def test_service_account_watch_setting(sets: list[str], env: dict[str, str]) -> None:
    container = gateway_container(render(sets=sets))
    assert {k: v for k, v in container.env.items() if "WATCH" in k} == env


def test_plugin_settings_are_only_set_for_enabled_plugins() -> None:
    container = gateway_container(render(sets=["plugins.vault.address=https://v:8200", "plugins.fake.extraArgs.x=1",
                                               "plugins.aws.region=eu-west-1"]))
    assert container.flag("plugins") == "aws"
    assert container.env == {"AWS_REGION": "eu-west-1"}
    assert container.flag("x") is None


def test_fake_store_configmap_is_mounted_as_a_directory() -> None:
    """No subPath and no items: the kubelet updates the file when the ConfigMap changes (rotation)."""
    scenario = next(s for s in SCENARIOS if s.name == "fake-demo")
    docs = rendered(scenario)
    container = gateway_container(docs)
    configmap = one(docs, "ConfigMap")
    mount = container.mounts["fake-store"]
    assert "subPath" not in mount and "subPathExpr" not in mount and mount["readOnly"] is True
    assert container.volumes["fake-store"] == {"configMap": {"name": configmap["metadata"]["name"]}, "name": "fake-store"}
    store_path = container.env["SECRETS_GATEWAY_FAKE_STORE"]
    assert store_path == f"{mount['mountPath']}/store.yaml"
    store = yaml.safe_load(configmap["data"]["store.yaml"])
    assert store["secrets"]["demo/hello"] == "hello from the fake backend"
    annotations = one(docs, "DaemonSet")["spec"]["template"]["metadata"].get("annotations", {})
    assert not any("checksum" in key for key in annotations), "a store checksum would restart pods on every edit"


def test_existing_configmap_and_digest() -> None:
    docs = rendered(next(s for s in SCENARIOS if s.name == "no-http"))
    container = gateway_container(docs)
    assert container.volumes["fake-store"]["configMap"] == {"name": "demo-store"}
    assert container.spec["image"] == ("registry.example.com/secrets-gateway@sha256:"
                                       "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
    assert container.pod["serviceAccountName"] == "gateway"
    assert container.pod["imagePullSecrets"] == [{"name": "registry-credentials"}]


def test_vault_ca_from_a_secret() -> None:
    container = gateway_container(rendered(next(s for s in SCENARIOS if s.name == "vault")))
    assert container.volumes["vault-ca"] == {"name": "vault-ca", "secret": {"secretName": "vault-ca"}}
    assert container.mounts["vault-ca"] == {"name": "vault-ca", "mountPath": "/etc/secrets-gateway/vault-ca", "readOnly": True}


# --------------------------------------------------------------------------- RBAC


def _rules(docs: list[dict[str, Any]]) -> frozenset[tuple[str, str, str]]:
    roles = by_kind(docs, "ClusterRole")
    if not roles:
        return frozenset()
    (role,) = roles
    return frozenset((group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
                     for resource in rule["resources"] for verb in rule["verbs"])


@pytest.mark.parametrize("scenario", SCENARIO_PARAMS)
def test_rbac_follows_the_enabled_plugins(scenario: Scenario) -> None:
    docs = rendered(scenario)
    assert _rules(docs) == scenario.rules
    assert not by_kind(docs, "Role") and not by_kind(docs, "RoleBinding")
    pod = gateway_container(docs).pod
    assert pod["automountServiceAccountToken"] is scenario.automount
    for account in by_kind(docs, "ServiceAccount"):
        assert account["automountServiceAccountToken"] is False  # the pod spec decides
        assert account["metadata"]["name"] == pod["serviceAccountName"]
    for binding in by_kind(docs, "ClusterRoleBinding"):
        assert binding["roleRef"]["name"] == one(docs, "ClusterRole")["metadata"]["name"]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": NAMESPACE}]


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        pytest.param([], AWS_RULES, id="aws-reads-only"),
        pytest.param(["plugins.aws.region=eu-west-1"], AWS_REGION_RULES, id="aws-with-a-region-reads-no-pods-or-nodes"),
        pytest.param(["plugins.aws.watchServiceAccounts=false"], AWS_RULES - SA_WATCH_RULES, id="aws-without-the-watch-gets-only"),
        pytest.param(["awsRegion=eu-west-1"], AWS_REGION_RULES, id="ascp-aws-region-too"),
        pytest.param(["rbac.tokenReview=true"], AWS_RULES | {TOKENREVIEW_RULE}, id="tokenreview-when-asked"),
        pytest.param(["plugins.aws.enabled=false", "plugins.vault.enabled=true"], frozenset(), id="vault-needs-nothing"),
        pytest.param(["plugins.aws.enabled=false", "plugins.vault.enabled=true", "rbac.tokenReview=true"],
                     frozenset({TOKENREVIEW_RULE}), id="vault-with-tokenreview"),
        pytest.param(["rbac.create=false"], frozenset(), id="rbac-off"),
    ],
)
def test_rbac_table(sets: list[str], expected: frozenset[tuple[str, str, str]]) -> None:
    assert _rules(render(sets=sets)) == expected


VAULT_ONLY = ["plugins.aws.enabled=false", "plugins.vault.enabled=true"]


@pytest.mark.parametrize(
    ("sets", "cluster_rules", "role", "automount", "env"),
    [
        pytest.param([], frozenset(), False, False, {"SECRETS_GATEWAY_VAULT_TOKEN_REQUEST": "false"}, id="neither"),
        pytest.param(["plugins.vault.tokenRequest=true"], frozenset({("", "serviceaccounts/token", "create")}), False, True,
                     {"SECRETS_GATEWAY_VAULT_TOKEN_REQUEST": "true"}, id="token-request"),
        pytest.param(["plugins.vault.hmacSecretName=vault-csi-provider-hmac-key"], frozenset(), True, True,
                     {"SECRETS_GATEWAY_VAULT_HMAC_SECRET_NAME": "vault-csi-provider-hmac-key", "SECRETS_GATEWAY_VAULT_HMAC_SECRET_NAMESPACE": NAMESPACE},
                     id="hmac-secret"),
    ],
)
def test_vault_rbac_only_when_enabled(
    sets: list[str], cluster_rules: frozenset[tuple[str, str, str]], role: bool, automount: bool, env: dict[str, str]
) -> None:
    docs = render(sets=VAULT_ONLY + sets)
    container = gateway_container(docs)
    assert _rules(docs) == cluster_rules
    assert container.pod["automountServiceAccountToken"] is automount
    assert env.items() <= container.env.items()
    roles = by_kind(docs, "Role")
    assert bool(roles) is role and bool(by_kind(docs, "RoleBinding")) is role
    if role:
        assert roles[0]["metadata"]["namespace"] == NAMESPACE
        assert roles[0]["rules"] == [
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["vault-csi-provider-hmac-key"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        ]


@pytest.mark.parametrize("scenario", SCENARIO_PARAMS)
def test_no_wildcards_and_no_writes(scenario: Scenario) -> None:
    for group, resource, verb in _rules(rendered(scenario)):
        assert "*" not in (group, resource, verb)
        assert verb in ("get", "list", "watch", "create")
        assert verb == "get" or (verb == "create" and resource == "tokenreviews") or (verb in ("list", "watch") and resource == "serviceaccounts")
        assert resource != "secrets"


def test_service_account_token_can_be_forced() -> None:
    assert gateway_container(render(sets=["serviceAccount.automountToken=false"])).pod["automountServiceAccountToken"] is False
    forced = render(sets=["plugins.aws.enabled=false", "plugins.fake.enabled=true", "serviceAccount.automountToken=true"])
    assert gateway_container(forced).pod["automountServiceAccountToken"] is True


# --------------------------------------------------------------------------- metrics


def test_servicemonitor_scrapes_every_pod() -> None:
    docs = rendered(next(s for s in SCENARIOS if s.name == "all-plugins"))
    service, monitor = one(docs, "Service"), one(docs, "ServiceMonitor")
    pod_labels = one(docs, "DaemonSet")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "http", "port": 8095, "targetPort": "http", "protocol": "TCP"}]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("15s", "5s")
    assert endpoint["relabelings"][0] == {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node",
                                          "action": "replace"}
    assert endpoint["metricRelabelings"] == [{"sourceLabels": ["__name__"], "regex": "go_.*", "action": "drop"}]


# --------------------------------------------------------------------------- NOTES.txt


def test_notes_txt_only_includes_the_notes_template() -> None:
    assert (CHART / "templates" / "NOTES.txt").read_text().strip() == '{{- include "secrets-gateway.notes" . }}'


def _driver_command(notes: str) -> list[str]:
    """The `helm upgrade --install ... secrets-store-csi-driver` command printed in the notes."""
    match = re.search(r"^ *(helm upgrade --install csi-secrets-store .*?[^\\])$", notes, re.MULTILINE | re.DOTALL)
    assert match, notes
    return shlex.split(match.group(1).replace("\\\n", " "))


@pytest.mark.parametrize("scenario", SCENARIO_PARAMS)
def test_notes_list_the_token_audiences(scenario: Scenario, tmp_path: Path) -> None:
    notes = render_notes(scenario.paths, tmp_path=tmp_path)
    assert f"provider: {scenario.provider_name}" in notes
    assert f"{scenario.providers_dir}/{scenario.provider_name}.sock" in notes
    if not scenario.audiences:
        assert "tokenRequests can stay empty" in notes
        return
    command = _driver_command(notes)
    assert command[:5] == ["helm", "upgrade", "--install", "csi-secrets-store", "secrets-store-csi-driver/secrets-store-csi-driver"]
    assert command[command.index("--version") + 1] == DRIVER_CHART_VERSION
    sets = [command[i + 1] for i, arg in enumerate(command) if arg == "--set"]
    assert [s.split("=", 1)[1] for s in sets if s.startswith("tokenRequests[")] == list(scenario.audiences)
    for audience in scenario.audiences:
        assert re.search(rf"^ +{re.escape(audience)} +\S", notes, re.MULTILINE), f"{audience} not explained"
    assert ("linux.additionalProvidersDirs" in notes) is (scenario.providers_dir not in DRIVER_DIRS)


@pytest.mark.parametrize("scenario", [p for p in SCENARIO_PARAMS if p.values[0].audiences])
def test_notes_driver_command_renders_the_real_driver_chart(scenario: Scenario, tmp_path: Path) -> None:
    """The copy-paste command, run against the driver chart itself, gives the CSIDriver the audiences."""
    command = _driver_command(render_notes(scenario.paths, tmp_path=tmp_path))
    sets = [command[i + 1] for i, arg in enumerate(command) if arg == "--set"]
    docs = render(sets=sets, chart=driver_chart(), release="csi-secrets-store")
    assert validate_objects(docs) == []
    csidriver = one(docs, "CSIDriver")
    assert [request["audience"] for request in csidriver["spec"]["tokenRequests"]] == list(scenario.audiences)
    assert csidriver["spec"]["requiresRepublish"] is True


def test_notes_warn_about_ambient_credentials_and_root(tmp_path: Path) -> None:
    notes = render_notes(sets=["plugins.aws.allowAmbientCredentials=true"], tmp_path=tmp_path)
    assert "WARNING: plugins.aws.allowAmbientCredentials=true" in notes
    assert "runs as root (UID 0" in notes
    assert "Running as non-root" in notes


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    pyproject = (REPO / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', pyproject, re.MULTILINE).group(1)
    assert chart["appVersion"] == version, "the chart's appVersion (default image tag) follows the core version"
    assert chart["kubeVersion"] == ">=1.20.0-0"
    assert chart["annotations"]["secrets-gateway/driver-chart-version"] == DRIVER_CHART_VERSION


@pytest.mark.parametrize(
    "kube_version",
    [
        pytest.param(None, id="helm-built-in-default"),
        pytest.param("v1.31.2-eks-7f9249a", id="provider-suffixed-version"),
        pytest.param("1.34.0-rc.1", id="pre-release"),
    ],
)
def test_renders_without_a_cluster_version(kube_version: str | None) -> None:
    """`helm template` offline (no --kube-version) must not trip over Chart.yaml's kubeVersion."""
    args = ["template", RELEASE, CHART, "--namespace", NAMESPACE]
    result = helm(*args, *(["--kube-version", kube_version] if kube_version else []), check=False)
    assert result.returncode == 0, result.stderr
    assert "kind: DaemonSet" in result.stdout


def test_refuses_a_cluster_older_than_the_floor() -> None:
    result = helm("template", RELEASE, CHART, "--kube-version", "1.19.16", check=False)
    assert result.returncode != 0 and "incompatible with Kubernetes v1.19.16" in result.stderr


@pytest.mark.parametrize("scenario", SCENARIO_PARAMS)
def test_rendered_objects_are_valid_on_the_oldest_schemas(scenario: Scenario) -> None:
    assert validate_objects(rendered(scenario), OLDEST_SCHEMAS) == []


def test_tools_are_cached_outside_the_clone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A fresh clone (CI) reuses the helm and actionlint built by an earlier one."""
    assert not ensure_helm().resolve().is_relative_to(REPO)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert tools_dir() == tmp_path / "secrets-gateway" / "tools"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert tools_dir() == Path.home() / ".cache" / "secrets-gateway" / "tools"
