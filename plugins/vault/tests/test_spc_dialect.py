"""The vault-csi-provider dialect, table-driven against vault-csi-provider's documented behaviour.

vault-csi-provider (internal/config) decodes ``objects`` with yaml.v3 into string fields, an
``os.FileMode`` filePermission and a ``map[string]interface{}`` secretArgs, writes each file at
its ``objectName`` and has no objectType.
"""

from __future__ import annotations

import json

import pytest

from gateway import paths
from gateway.backend import BackendRegistry
from gateway.dialect import DialectRegistry
from gateway.objects import parse_objects
from gateway.planner import Planner
from gateway.settings import Settings
from gateway_vault.backend import VaultBackend
from gateway_vault.options import VaultConfig
from gateway_vault.spc_dialect import VaultCsiProviderDialect

DIALECT = VaultCsiProviderDialect()


def vault_registry() -> BackendRegistry:
    registry = BackendRegistry()
    registry.add(VaultBackend(VaultConfig.from_settings(Settings())))
    return registry


REGISTRY = vault_registry()


def parse(entry: str, **parameters: str):
    return parse_objects({"objects": f"- {{objectName: x, secretPath: secret/data/app, {entry}}}\n", **parameters}, REGISTRY, dialect=DIALECT)


@pytest.mark.parametrize(
    ("entry", "mode"),
    [
        pytest.param("filePermission: 0644", 0o644, id="unquoted-leading-zero-is-octal"),
        pytest.param("filePermission: 0600", 0o600, id="0600-octal"),
        pytest.param("filePermission: 0o644", 0o644, id="0o-prefix"),
        pytest.param("filePermission: 420", 0o644, id="decimal"),
        pytest.param("filePermission: 0x1a4", 0o644, id="hex"),
        pytest.param("filePermission: '0644'", 0o644, id="quoted-read-the-same-lenient"),
        pytest.param("filePermission: 0", None, id="zero-is-the-default"),
        pytest.param("secretKey: password", None, id="absent"),
    ],
)
def test_file_permission(entry: str, mode: int | None) -> None:
    parsed = parse(entry)
    assert parsed.problems == []
    assert parsed.objects[0].file_permission == mode


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param("filePermission: rw", 'filePermission must be a mode such as 0644 (octal), 0o644 or 420 (decimal), got "rw"', id="word"),
        pytest.param("filePermission: 0800", "got \"0800\"", id="not-octal"),
        pytest.param("filePermission: 04755", "Invalid File Permission: 04755 (only 0000-0777", id="setuid"),
        pytest.param("filePermission: 511.5", 'got "511.5"', id="float"),
    ],
)
def test_file_permission_problems(entry: str, expected: str) -> None:
    problems = parse(entry).problems
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("entry", "option", "text"),
    [
        pytest.param("secretKey: yes", "secretkey", "yes", id="yes-stays-yes"),
        pytest.param("secretKey: 0600", "secretkey", "0600", id="0600-stays-0600"),
        pytest.param("secretKey: 1.0", "secretkey", "1.0", id="float-as-written"),
        pytest.param("secretKey: ~", "secretkey", "", id="null-is-empty"),
        pytest.param("method: POST", "method", "POST", id="plain"),
    ],
)
def test_string_fields_get_the_scalar_as_written(entry: str, option: str, text: str) -> None:
    parsed = parse(entry)
    assert parsed.problems == []
    assert parsed.objects[0].options[option] == text


def test_secret_args_keep_yaml_v3_typed_values() -> None:
    parsed = parse("method: POST, secretArgs: {ttl: 10, flag: yes, mode: 0644, enabled: true, name: 0o7}")
    assert parsed.problems == []
    assert json.loads(parsed.objects[0].options["secretargs"]) == {"ttl": 10, "flag": "yes", "mode": 420, "enabled": True, "name": 7}


def test_slash_makes_a_directory_and_objects_go_to_vault() -> None:
    parsed = parse_objects({"objects": "- {objectName: certs/tls.crt, secretPath: pki/issue/web}\n"}, REGISTRY, dialect=DIALECT)
    assert parsed.problems == [] and parsed.translation is None
    obj = parsed.objects[0]
    assert obj.backend == "vault" and paths.translate(obj.file_name, parsed.translation) == "certs/tls.crt"


def test_path_translation_may_still_be_asked_for() -> None:
    parsed = parse_objects({"objects": "- {objectName: a/b, secretPath: s}\n", "pathTranslation": "-"}, REGISTRY, dialect=DIALECT)
    assert paths.translate(parsed.objects[0].file_name, parsed.translation) == "a-b"


def test_provider_name_vault_chooses_the_dialect() -> None:
    dialects = DialectRegistry()
    dialects.add(DIALECT)
    planner = Planner(REGISTRY, dialects=dialects, provider_name="vault")
    parsed = planner.parse({"objects": "- {objectName: certs/ca, secretPath: s, filePermission: 0640}\n"})
    assert parsed.problems == [] and parsed.dialect == "vault-csi-provider"
    assert parsed.objects[0].file_permission == 0o640 and parsed.translation is None
    native = planner.parse({"objects": "- {objectName: certs/ca, secretPath: s}\n", "dialect": "secrets-gateway"})
    assert native.problems == ['objects[0] "certs/ca": objectType is not set and no backend claims "certs/ca": '
                               "set objectType, or the parameter defaultObjectType"]
