"""values.yaml against values.schema.json in pure Python (jsonschema; no helm needed).

The same refusal table runs through `helm template` in test_chart_render.py, so the schema helm
applies and the one checked here cannot drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.chart.cases import INVALID_CASES
from tests.chart.tools import CHART, ci_values_files, load_yaml, merge_values

SCHEMA = load_yaml(CHART / "values.schema.json")  # JSON is YAML
DEFAULTS = load_yaml(CHART / "values.yaml")
OPERATIONS_DOC = CHART.parents[1] / "docs" / "operations.md"

#: objects the schema deliberately leaves open: Kubernetes types passed through verbatim, and the
#: maps whose keys are the user's (labels, env names, flag names)
OPEN_OBJECTS = {
    "global", "commonLabels", "affinity", "nodeSelector", "podAnnotations", "podLabels", "daemonSetAnnotations",
    "service.annotations", "serviceMonitor.labels", "serviceAccount.annotations", "extraArgs",
    "plugins.aws.env", "plugins.aws.extraArgs", "plugins.vault.env", "plugins.vault.extraArgs",
    "plugins.fake.env", "plugins.fake.extraArgs", "plugins.fake.store",
    "resources.requests", "resources.limits", "prepareProvidersDir.resources.requests",
    "prepareProvidersDir.resources.limits", "resources.claims[]", "prepareProvidersDir.resources.claims[]",
    "extraEnv[].valueFrom", "extraVolumes[]", "extraVolumeMounts[]",
    "serviceMonitor.relabelings[]", "serviceMonitor.metricRelabelings[]",
    "prometheusRule.labels", "prometheusRule.extraRules[]", "grafanaDashboard.labels", "grafanaDashboard.annotations",
    "secrets-store-csi-driver",  # ASCP's driver subchart values: only install is looked at (the templates refuse true)
}


def validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(SCHEMA)
    cls.check_schema(SCHEMA)
    return cls(SCHEMA)


def errors_for(values: dict[str, Any]) -> list[str]:
    """``<JSON pointer>: <message>`` of every violation (the pointer as helm reports it)."""
    return sorted(f"{''.join(f'/{part}' for part in e.absolute_path)}: {e.message}" for e in validator().iter_errors(values))


def test_schema_is_a_valid_draft7_schema() -> None:
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_default_values_match_the_schema() -> None:
    assert errors_for(DEFAULTS) == []


@pytest.mark.parametrize("path", ci_values_files(), ids=lambda p: p.name.removesuffix("-values.yaml"))
def test_ci_scenarios_match_the_schema(path: Path) -> None:
    assert errors_for(merge_values(DEFAULTS, load_yaml(path) or {})) == []


@pytest.mark.parametrize(("override", "pointer"), INVALID_CASES)
def test_schema_refuses(override: dict[str, Any], pointer: str) -> None:
    errors = errors_for(merge_values(DEFAULTS, override))
    assert [error.split(": ", 1)[0] for error in errors] == [pointer], errors


def _object_schemas(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if schema.get("type") == "object" or "object" in (schema.get("type") or []):
        found.append((path, schema))
    for name, sub in schema.get("properties", {}).items():
        found += _object_schemas(sub, f"{path}.{name}".lstrip("."))
    items = schema.get("items")
    if isinstance(items, dict):
        found += _object_schemas(items, f"{path}[]")
    return found


def test_schema_is_strict_except_for_deliberately_open_objects() -> None:
    loose = [
        path for path, sub in _object_schemas(SCHEMA)
        if sub.get("additionalProperties", True) is True and "properties" in sub
    ]
    assert loose == [], f"objects with properties but without additionalProperties: false: {loose}"
    open_maps = {
        path for path, sub in _object_schemas(SCHEMA)
        if "properties" not in sub
    }
    assert open_maps == OPEN_OBJECTS


def _leaves(values: dict[str, Any], prefix: str = "") -> list[str]:
    leaves = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in ("affinity", "updateStrategy", "resources", "labels"):
            leaves += _leaves(value, path + ".")
        else:
            leaves.append(path)
    return leaves


def test_every_default_value_has_a_schema_entry() -> None:
    def lookup(path: str) -> dict[str, Any] | None:
        node = SCHEMA
        for part in path.split("."):
            node = node.get("properties", {}).get(part)
            if node is None:
                return None
        return node

    assert [leaf for leaf in _leaves(DEFAULTS) if lookup(leaf) is None] == []


def test_every_value_is_documented_in_docs_operations() -> None:
    if not OPERATIONS_DOC.is_file():
        pytest.fail(f"{OPERATIONS_DOC} is missing")
    documented = set(re.findall(r"^\| `([^`]+)` \|", OPERATIONS_DOC.read_text(encoding="utf-8"), re.MULTILINE))
    missing = [leaf for leaf in _leaves(DEFAULTS) if leaf not in documented]
    assert missing == [], f"values missing from the table in docs/operations.md: {missing}"
