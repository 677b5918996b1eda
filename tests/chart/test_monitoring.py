"""The PrometheusRule and the Grafana dashboard: rendered by the real helm, and every metric, label and
label value their queries use checked against the /metrics of a real gateway that served a good and a
bad mount (so a renamed metric fails here, not silently in a cluster)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.chart.served import ENTRYPOINT, get, serve
from tests.chart.tools import CHART, NAMESPACE, RELEASE, REPO, by_kind, one, render, validate_objects

pytestmark = pytest.mark.timeout(1200)  # the first test may build helm

DASHBOARD = CHART / "dashboards" / "secrets-gateway.json"
ALERTS = {"SecretsGatewayMountsFailing", "SecretsGatewayPluginLoadFailed", "SecretsGatewayMountsSlow",
          "SecretsGatewayMountsRejected"}
#: labels Prometheus adds to every sample of a target discovered through the ServiceMonitor
TARGET_LABELS = {"namespace", "pod"}
#: the fake backend only, plus a plugin the image lacks (so the plugin-failure metric has a sample)
SERVED_SETS = ["plugins.aws.enabled=false", "plugins.fake.enabled=true", "extraPlugins={acme}",
               "prometheusRule.enabled=true", "grafanaDashboard.enabled=true"]
METRIC = re.compile(r"\b((?:secrets_gateway|grpc_server|process)_[a-z_]+)\b")


def _rule_docs(*sets: str) -> list[dict[str, Any]]:
    return render(sets=["prometheusRule.enabled=true", "grafanaDashboard.enabled=true", *sets])


def _rules(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (group,) = one(docs, "PrometheusRule")["spec"]["groups"]
    return group["rules"]


def _dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    exprs += [var["query"]["query"] for var in dashboard["templating"]["list"] if var["type"] == "query"]
    return exprs


def test_off_by_default() -> None:
    docs = render()
    assert not by_kind(docs, "PrometheusRule") and not by_kind(docs, "ConfigMap")


def test_prometheus_rule() -> None:
    docs = _rule_docs("prometheusRule.labels.release=kube-prometheus-stack", "prometheusRule.mountLatencySeconds=2.5",
                      "prometheusRule.namespace=monitoring", "prometheusRule.mountFailuresFor=30m")
    rule = one(docs, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == "monitoring"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    rules = _rules(docs)
    assert {r["alert"] for r in rules} == ALERTS
    for item in rules:
        assert re.fullmatch(r"[0-9]+m", item["for"]), item
        assert item["labels"]["severity"] in ("warning", "critical")
        assert {"summary", "description", "runbook_url"} <= item["annotations"].keys()
        assert f'namespace="{NAMESPACE}", pod=~"{RELEASE}-secrets-gateway-.*"' in item["expr"], "only this release's pods"
        assert item["expr"].count("(") == item["expr"].count(")")
    by_name = {r["alert"]: r for r in rules}
    assert by_name["SecretsGatewayMountsSlow"]["expr"].endswith("> 2.5")
    assert by_name["SecretsGatewayMountsFailing"]["for"] == "30m"
    assert by_name["SecretsGatewayPluginLoadFailed"]["labels"]["severity"] == "critical"


def test_prometheus_rule_extra_rules(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    extra = {"alert": "SecretsGatewayDown", "expr": 'up{job="sgw-secrets-gateway-metrics"} == 0', "for": "5m"}
    values.write_text(json.dumps({"prometheusRule": {"enabled": True, "extraRules": [extra]}}))
    assert _rules(render([values]))[-1] == extra


def test_dashboard_configmap() -> None:
    docs = _rule_docs("grafanaDashboard.annotations.grafana_folder=Secrets")
    configmap = one(docs, "ConfigMap")
    assert validate_objects([configmap]) == []
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "Secrets"}
    dashboard = json.loads(configmap["data"]["secrets-gateway.json"])
    assert dashboard == json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "secrets-gateway"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert 'namespace=~"$namespace", pod=~"$pod"' in target["expr"], (panel["title"], target["expr"])


def test_dashboard_label_can_follow_the_sidecar(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(json.dumps({"grafanaDashboard": {"enabled": True, "labels": {"grafana_dashboard": None,
                                                                                   "dashboards": "gateway"}}}))
    configmap = one(render([values]), "ConfigMap")
    assert configmap["metadata"]["labels"]["dashboards"] == "gateway"
    assert "grafana_dashboard" not in configmap["metadata"]["labels"]


# --------------------------------------------------------------------------- against the real /metrics


def _mount(socket_path: Path, spc: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", ENTRYPOINT, "mount", "--plugins", "fake", "--socket", str(socket_path),
                           str(spc)], capture_output=True, text=True, timeout=60, cwd=cwd)


def _exposition(tmp_path: Path) -> tuple[dict[str, set[str]], dict[str, set[str]], dict[str, set[str]]]:
    """(sample names of each declared family, label names per sample name, outcome values of mounts)."""
    docs = render(sets=SERVED_SETS, set_files=["plugins.fake.store=examples/fake/store.yaml"])
    missing = tmp_path / "missing.yaml"
    missing.write_text((REPO / "examples" / "fake" / "spc.yaml").read_text().replace("prod/api-key", "prod/no-such-secret"))
    with serve(docs, tmp_path / "gateway") as served:
        served.wait_for_socket()
        good = _mount(served.socket_path, REPO / "examples" / "fake" / "spc.yaml", tmp_path)
        assert good.returncode == 0, good.stderr
        bad = _mount(served.socket_path, missing, tmp_path)
        assert bad.returncode == 1 and "prod/no-such-secret" in bad.stderr, bad.stderr
        status, body = get(f"http://127.0.0.1:{served.port}/metrics")
        assert status == 200
    declared: dict[str, set[str]] = {}
    labels: dict[str, set[str]] = {}
    outcomes: dict[str, set[str]] = {}
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"), "gauge": ("",), "info": ("_info",)}
    for family in text_string_to_metric_families(body.decode()):
        declared[family.name] = {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
            if "outcome" in sample.labels:
                outcomes.setdefault(sample.name, set()).add(sample.labels["outcome"])
    return declared, labels, outcomes


@pytest.fixture(scope="module")
def exposition(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, set[str]], dict[str, set[str]], dict[str, set[str]]]:
    return _exposition(tmp_path_factory.mktemp("metrics"))


def _queries() -> list[tuple[str, str]]:
    docs = _rule_docs()
    rules = [(f"alert {r['alert']}", r["expr"]) for r in _rules(docs)]
    dashboard = json.loads(one(docs, "ConfigMap")["data"]["secrets-gateway.json"])
    return rules + [("dashboard", expr) for expr in _dashboard_exprs(dashboard)]


def test_every_query_uses_real_metrics_and_labels(exposition: tuple[dict[str, set[str]], ...]) -> None:
    declared, labels, _ = exposition
    exposed = set().union(*declared.values())
    problems = []
    for where, expr in _queries():
        names = METRIC.findall(expr)
        assert names, (where, expr)
        for name in names:
            if name not in exposed:
                problems.append(f"{where}: {name} is not a metric the gateway exposes")
                continue
            used = set(re.findall(rf"{name}\{{([^}}]*)\}}", expr))
            wanted = {label for selector in used for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector)}
            wanted |= {label for group in re.findall(r"by \(([^)]*)\)", expr) for label in re.split(r",\s*", group)}
            wanted -= TARGET_LABELS
            if name in labels and not wanted <= labels[name]:
                problems.append(f"{where}: {name} has no label(s) {sorted(wanted - labels[name])}")
    assert problems == []


def test_the_alerted_metrics_have_samples(exposition: tuple[dict[str, set[str]], ...]) -> None:
    """The rules' metrics are not just declared: a good and a bad mount and a missing plugin produced them."""
    _, labels, _ = exposition
    for name in ("secrets_gateway_mounts_total", "secrets_gateway_mount_duration_seconds_bucket",
                 "secrets_gateway_plugin_load_failures_total"):
        assert name in labels, sorted(labels)


def test_the_failure_matcher_tells_good_from_bad_mounts(exposition: tuple[dict[str, set[str]], ...]) -> None:
    _, _, outcomes = exposition
    values = outcomes["secrets_gateway_mounts_total"]
    ok = {value for value in values if re.fullmatch("(?i)ok", value)}
    assert len(ok) == 1 and len(values - ok) == 1, values  # the one good and the one bad mount
