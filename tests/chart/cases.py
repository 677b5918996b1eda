"""Case tables of the chart tests: every ci/*-values.yaml scenario with what it must render, values
the schema refuses, and values only the templates can refuse."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.chart.tools import CI_DIR, KIND_DIR, REPO

DEFAULT_DIR = "/var/run/secrets-store-csi-providers"
#: the directories the driver searches without additionalProvidersDirs
DRIVER_DIRS = (DEFAULT_DIR, "/etc/kubernetes/secrets-store-csi-providers")
#: the ServiceAccount watch (plugins.aws.watchServiceAccounts, on by default) lists and watches serviceaccounts
SA_WATCH_RULES = frozenset({("", "serviceaccounts", "list"), ("", "serviceaccounts", "watch")})
AWS_RULES = frozenset({("", "serviceaccounts", "get"), ("", "pods", "get"), ("", "nodes", "get")}) | SA_WATCH_RULES
#: with plugins.aws.region the region is never looked up on the node: no pod or node reads
AWS_REGION_RULES = frozenset({("", "serviceaccounts", "get")}) | SA_WATCH_RULES
TOKENREVIEW_RULE = ("authentication.k8s.io", "tokenreviews", "create")
AWS_AUDIENCES = ("sts.amazonaws.com", "pods.eks.amazonaws.com")


@dataclass(frozen=True)
class Scenario:
    """One set of values and the properties its rendering must have."""

    name: str
    values: tuple[str, ...]  # values files, relative to the repository
    plugins: str  # --plugins
    rules: frozenset[tuple[str, str, str]]  # ClusterRole (apiGroup, resource, verb); empty: no ClusterRole
    automount: bool  # pod gets a Kubernetes API token
    audiences: tuple[str, ...]  # tokenRequests audiences NOTES.txt asks for
    http_port: int | None = 8095  # None: HTTP disabled
    liveness: bool = True
    readiness: bool = True
    run_as_user: int = 0
    non_root: bool = False
    providers_dir: str = DEFAULT_DIR
    provider_name: str = "secrets-gateway"
    kinds: frozenset[str] = frozenset({"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"})
    env: dict[str, str] = field(default_factory=dict)  # subset of the container's literal env
    args: tuple[str, ...] = ()  # args that must be present
    set_files: tuple[str, ...] = ()

    @property
    def paths(self) -> list:
        return [REPO / value for value in self.values]


def _ci(name: str) -> str:
    return str((CI_DIR / f"{name}-values.yaml").relative_to(REPO))


BASE_KINDS = frozenset({"ServiceAccount", "DaemonSet"})
RBAC_KINDS = frozenset({"ClusterRole", "ClusterRoleBinding"})

SCENARIOS = [
    Scenario("default", (_ci("default"),), "aws", AWS_RULES, True, AWS_AUDIENCES),
    Scenario(
        "fake-demo", (_ci("fake-demo"),), "fake", frozenset(), False, (), provider_name="gateway-demo",
        kinds=BASE_KINDS | {"ConfigMap"},
        env={"SECRETS_GATEWAY_FAKE_STORE": "/etc/secrets-gateway/fake-store/store.yaml", "SECRETS_GATEWAY_MAX_OBJECTS": "50"},
        args=("--log-level=debug", "--log-format=text"),
    ),
    Scenario(
        "aws", (_ci("aws"),), "aws", AWS_REGION_RULES, True, AWS_AUDIENCES, provider_name="aws",
        env={"AWS_REGION": "eu-west-1", "SECRETS_GATEWAY_AWS_KUBE_QPS": "20", "SECRETS_GATEWAY_AWS_KUBE_BURST": "40",
             "SECRETS_GATEWAY_AWS_POD_IDENTITY_ENDPOINT": "http://169.254.170.23/v1/credentials",
             "SECRETS_GATEWAY_AWS_MAX_ATTEMPTS": "2", "SECRETS_GATEWAY_AWS_USE_FIPS_ENDPOINT": "false"},
        args=("--aws-retry-mode=adaptive", "--aws-use-fips-endpoint=true", "--aws-secretsmanager-batch=false",
              "--max-value-bytes=4194304", "--max-concurrent-mounts=128", "--strict-objects=false"),
    ),
    Scenario(
        "vault", (_ci("vault"),), "vault", frozenset(), False, ("vault.example.com",), kinds=BASE_KINDS,
        env={"SECRETS_GATEWAY_VAULT_ADDRESS": "https://vault.vault.svc:8200", "SECRETS_GATEWAY_VAULT_ROLE": "csi-secrets",
             "SECRETS_GATEWAY_VAULT_AUTH_METHOD": "kubernetes", "SECRETS_GATEWAY_VAULT_AUTH_MOUNT_PATH": "kubernetes-prod",
             "SECRETS_GATEWAY_VAULT_NAMESPACE": "team-a", "SECRETS_GATEWAY_VAULT_AUDIENCE": "vault.example.com",
             "SECRETS_GATEWAY_VAULT_CA_CERT": "/etc/secrets-gateway/vault-ca/ca.pem",
             "SECRETS_GATEWAY_VAULT_REQUEST_TIMEOUT": "3"},
        args=("--vault-kv-version=2", "--strict-objects=true", "--mount-timeout=20", "--backend-timeout=5"),
    ),
    Scenario(
        "all-plugins", (_ci("all-plugins"),), "aws,vault,fake,acme",
        AWS_REGION_RULES | {TOKENREVIEW_RULE, ("", "configmaps", "get")}, True,
        AWS_AUDIENCES + ("vault", "acme.example.com"), run_as_user=10001, non_root=True,
        providers_dir="/var/run/secrets-gateway-providers",
        kinds=BASE_KINDS | RBAC_KINDS | {"ConfigMap", "Service", "ServiceMonitor", "PrometheusRule"},
        env={"SECRETS_GATEWAY_AWS_ALLOW_AMBIENT_CREDENTIALS": "true", "AWS_REGION": "us-east-1",
             "SECRETS_GATEWAY_VAULT_CA_CERT": "/etc/secrets-gateway/vault-ca/ca.crt"},
    ),
    Scenario(
        "no-http", (_ci("no-http"),), "fake", frozenset(), False, (), http_port=None, liveness=False, readiness=False,
        kinds=frozenset({"DaemonSet"}),
        env={"SECRETS_GATEWAY_FAKE_STORE": "/etc/secrets-gateway/fake-store/secrets.yaml"}, args=("--http-address=",),
    ),
    Scenario(
        "hostnetwork", (_ci("hostnetwork"),), "aws", AWS_RULES, True, AWS_AUDIENCES, http_port=9095, liveness=False,
        kinds=BASE_KINDS | RBAC_KINDS | {"Service"}, args=("--http-address=[::]:9095", "--grace-period=30"),
    ),
    Scenario(
        "ascp-values", ("tests/chart/fixtures/ascp-values.yaml",), "aws", AWS_REGION_RULES, True, AWS_AUDIENCES,
        providers_dir="/etc/kubernetes/secrets-store-csi-providers",
        env={"AWS_REGION": "eu-central-1", "SECRETS_GATEWAY_AWS_USE_FIPS_ENDPOINT": "true",
             "SECRETS_GATEWAY_AWS_POD_IDENTITY_TIMEOUT": "0.25", "SECRETS_GATEWAY_AWS_KUBE_QPS": "20",
             "SECRETS_GATEWAY_AWS_KUBE_BURST": "40"},
    ),
    Scenario(
        "kind-quickstart", (str((KIND_DIR / "gateway-values.yaml").relative_to(REPO)),), "fake", frozenset(), False, (),
        kinds=BASE_KINDS | {"ConfigMap"}, set_files=("plugins.fake.store=examples/fake/store.yaml",),
        env={"SECRETS_GATEWAY_FAKE_STORE": "/etc/secrets-gateway/fake-store/store.yaml"},
    ),
]
SCENARIO_PARAMS = [pytest.param(scenario, id=scenario.name) for scenario in SCENARIOS]

#: values the schema refuses: (values over the defaults, JSON pointer where the refusal is reported);
#: run through jsonschema (test_values_schema.py) and through helm (test_chart_render.py)
INVALID_CASES = [
    pytest.param({"unknownKey": 1}, "", id="unknown-top-level-key"),
    pytest.param({"plugins": {"aws": {"regoin": "eu-west-1"}}}, "/plugins/aws", id="misspelt-plugin-setting"),
    pytest.param({"plugins": {"gcp": {"enabled": True}}}, "/plugins", id="unknown-plugin"),
    pytest.param({"providerName": "my.provider"}, "/providerName", id="provider-name-driver-rule"),
    pytest.param({"providerName": "x" * 31}, "/providerName", id="provider-name-too-long"),
    pytest.param({"providersDir": "relative/dir"}, "/providersDir", id="providers-dir-relative"),
    pytest.param({"socketMode": "0999"}, "/socketMode", id="socket-mode-not-octal"),
    pytest.param({"socketMode": 600}, "/socketMode", id="socket-mode-unquoted"),
    pytest.param({"http": {"port": 70000}}, "/http/port", id="http-port-out-of-range"),
    pytest.param({"http": {"port": "8095"}}, "/http/port", id="http-port-string"),
    pytest.param({"logging": {"level": "verbose"}}, "/logging/level", id="log-level-enum"),
    pytest.param({"logging": {"format": "xml"}}, "/logging/format", id="log-format-enum"),
    pytest.param({"plugins": {"vault": {"authMethod": "token"}}}, "/plugins/vault/authMethod", id="vault-token-auth-not-offered"),
    pytest.param({"plugins": {"aws": {"region": "Europe"}}}, "/plugins/aws/region", id="aws-region-shape"),
    pytest.param({"plugins": {"aws": {"kubeBurst": 0}}}, "/plugins/aws/kubeBurst", id="aws-kube-burst-minimum"),
    pytest.param({"plugins": {"aws": {"kubeQPS": "fast"}}}, "/plugins/aws/kubeQPS", id="aws-kube-qps-number"),
    pytest.param({"plugins": {"aws": {"enabled": "yes"}}}, "/plugins/aws/enabled", id="enabled-must-be-boolean"),
    pytest.param({"image": {"digest": "sha256:abc"}}, "/image/digest", id="image-digest-shape"),
    pytest.param({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy", id="pull-policy-enum"),
    pytest.param({"securityContext": {"privileged": True}}, "/securityContext/privileged", id="no-privileged-container"),
    pytest.param({"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}, "/securityContext",
                 id="security-context-not-overridable"),
    pytest.param({"rbac": {"install": "no"}}, "/rbac/install", id="ascp-rbac-install-boolean"),
    pytest.param({"podIdentityHttpTimeout": "1h30m"}, "/podIdentityHttpTimeout", id="ascp-pod-identity-timeout-one-unit"),
    pytest.param({"k8sThrottlingParams": {"qps": "20", "bursts": "40"}}, "/k8sThrottlingParams", id="ascp-throttling-misspelt"),
    pytest.param({"securityContext": {"runAsUser": -1}}, "/securityContext/runAsUser", id="run-as-user-negative"),
    pytest.param({"extraArgs": {"--max-objects": 5}}, "/extraArgs", id="extra-args-without-dashes"),
    pytest.param({"plugins": {"aws": {"env": {"BAD NAME": "x"}}}}, "/plugins/aws/env", id="env-name-shape"),
    pytest.param({"serviceMonitor": {"interval": "often"}}, "/serviceMonitor/interval", id="scrape-interval-duration"),
    pytest.param({"rbac": {"extraRules": [{"resources": ["secrets"]}]}}, "/rbac/extraRules/0", id="rbac-rule-needs-verbs"),
    pytest.param({"tolerations": [{"operator": "Maybe"}]}, "/tolerations/0/operator", id="toleration-operator-enum"),
    pytest.param({"settings": {"mountTimeout": 0}}, "/settings/mountTimeout", id="mount-timeout-positive"),
    pytest.param({"settings": {"mountTimeout": "soon"}}, "/settings/mountTimeout", id="mount-timeout-number"),
    pytest.param({"extraPlugins": ["a b"]}, "/extraPlugins/0", id="extra-plugin-name"),
    pytest.param({"updateStrategy": {"type": "Sometimes"}}, "/updateStrategy/type", id="update-strategy-enum"),
    pytest.param({"dnsPolicy": "ClusterLast"}, "/dnsPolicy", id="dns-policy-enum"),
    pytest.param({"dnsConfig": {"nameserver": ["1.1.1.1"]}}, "/dnsConfig", id="dns-config-misspelt"),
    pytest.param({"excludeFargate": "yes"}, "/excludeFargate", id="exclude-fargate-boolean"),
]


#: values the schema accepts but the templates refuse (they `fail` with a message naming the fix)
TEMPLATE_FAILURES = [
    pytest.param(["plugins.aws.enabled=false"], "no plugin enabled", id="no-plugin-enabled"),
    pytest.param(["securityContext.runAsNonRoot=true"], "contradicts runAsUser=0", id="non-root-with-uid-0"),
    pytest.param(["prepareProvidersDir.enabled=true", "securityContext.runAsUser=10001"],
                 "would chown the shared directory", id="prepare-refuses-shared-dir"),
    pytest.param(["prepareProvidersDir.enabled=true", "providersDir=/var/run/gw"], "needs securityContext.runAsUser",
                 id="prepare-needs-a-uid"),
    pytest.param(["plugins.vault.enabled=true", "plugins.vault.caCert.secretName=a", "plugins.vault.caCert.configMapName=b"],
                 "not both", id="vault-ca-from-two-sources"),
    pytest.param(["plugins.fake.enabled=true", "plugins.fake.store.secrets.a=b", "plugins.fake.existingConfigMap=c"],
                 "not both", id="fake-store-from-two-sources"),
    pytest.param(["serviceMonitor.enabled=true", "http.enabled=false"], "needs http.enabled", id="servicemonitor-without-http"),
    pytest.param(["terminationGracePeriodSeconds=10"], "must be greater than settings.gracePeriod",
                 id="termination-grace-too-short"),
    pytest.param(["dnsPolicy=None"], "dnsPolicy: None needs dnsConfig.nameservers", id="dns-none-without-nameservers"),
]
