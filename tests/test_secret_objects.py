"""``secrets-gateway secret-objects`` (and the secretObjects checks of ``validate``) through the real
command: a subprocess of ``python -m gateway`` with the fake plugin, the example store and real mounts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.secretobjects import key_problems, secret_key

REPO = Path(__file__).resolve().parent.parent
STORE = REPO / "examples" / "fake" / "store.yaml"


def command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", "--log-level", "error", *args, "--plugins", "fake",
                           "--fake-store", str(STORE)], capture_output=True, text=True, timeout=60, cwd=REPO)


def spc_file(tmp_path: Path, objects: str, secret_objects: Any = None, parameters: str = "") -> Path:
    spec: dict[str, Any] = {"provider": "secrets-gateway",
                            "parameters": {"region": "us-east-1", "objects": textwrap.dedent(objects)}}
    if parameters:
        spec["parameters"] |= yaml.safe_load(parameters)
    if secret_objects is not None:
        spec["secretObjects"] = secret_objects
    path = tmp_path / "spc.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
                                    "metadata": {"name": "app", "namespace": "default"}, "spec": spec}))
    return path


def generated(path: Path, *args: str) -> tuple[list[dict[str, Any]], str]:
    result = command("secret-objects", str(path), *args)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["secretObjects"], result.stderr


API_KEY = "- {objectName: prod/api-key, objectType: fake}"
DB = """\
- objectName: prod/db
  objectType: fake
  objectAlias: db.json
  jmesPath:
    - {path: username, objectAlias: db-user}
    - {path: password, objectAlias: "db password"}
"""


@pytest.mark.parametrize(
    ("objects", "parameters", "expected", "note"),
    [
        pytest.param(API_KEY, "", [("prod_api-key", "prod_api-key")], "", id="translated-name-is-a-valid-key"),
        pytest.param(DB, "", [("db.json", "db.json"), ("db-user", "db-user"), ("db password", "db_password")],
                     '"db password" is stored under the Secret key "db_password"', id="jmespath-files-and-an-invalid-alias"),
        pytest.param(API_KEY, "pathTranslation: 'False'", [("prod/api-key", "prod_api-key")],
                     '"prod/api-key" is stored under the Secret key "prod_api-key"', id="sub-directory-file"),
        pytest.param("- {objectName: prod/api-key, objectType: fake, objectAlias: a_b}\n"
                     "- {objectName: prod/tls-cert, objectType: fake, objectAlias: a/b}", "pathTranslation: 'False'",
                     [("a_b", "a_b"), ("a/b", "a_b-2")], '("a_b" is taken by "a_b")', id="colliding-keys-are-told-apart"),
        pytest.param("- {objectName: prod/feature-flags, objectType: fake, objectAlias: flags, expandKeys: directory}\n"
                     + API_KEY, "", [("prod_api-key", "prod_api-key")], "its expanded keys are known only at mount time",
                     id="expanded-keys-are-left-to-the-user"),
    ],
)
def test_one_key_per_mounted_file(objects: str, parameters: str, expected: list[tuple[str, str]], note: str,
                                  tmp_path: Path) -> None:
    (secret,), err = generated(spc_file(tmp_path, objects, parameters=parameters))
    assert secret["secretName"] == "app" and secret["type"] == "Opaque"
    assert [(entry["objectName"], entry["key"]) for entry in secret["data"]] == expected
    assert note in err


def test_the_class_keeps_its_secret_name_type_and_labels(tmp_path: Path) -> None:
    existing = [{"secretName": "tls", "type": "kubernetes.io/tls", "labels": {"team": "a"},
                 "data": [{"objectName": "old", "key": "old"}]}]
    (secret,), _ = generated(spc_file(tmp_path, API_KEY, existing), "--secret-name", "ignored")
    assert secret == {"secretName": "tls", "type": "kubernetes.io/tls", "labels": {"team": "a"},
                      "data": [{"objectName": "prod_api-key", "key": "prod_api-key"}]}


def test_secret_name_and_type_options(tmp_path: Path) -> None:
    (secret,), _ = generated(spc_file(tmp_path, API_KEY), "--secret-name", "api", "--type", "example.com/token")
    assert (secret["secretName"], secret["type"]) == ("api", "example.com/token")


def test_the_block_round_trips_through_check_validate_and_a_real_mount(tmp_path: Path) -> None:
    """Pasted into the class, the block passes --check and validate, and names exactly the mounted files."""
    path = spc_file(tmp_path, DB + API_KEY)
    block, _ = generated(path)
    document = yaml.safe_load(path.read_text())
    document["spec"]["secretObjects"] = block
    path.write_text(yaml.safe_dump(document))
    check = command("secret-objects", "--check", str(path))
    assert check.returncode == 0 and 'cover its 4 mounted files' in check.stdout, check.stdout + check.stderr
    validate = command("validate", str(path))
    assert validate.returncode == 0 and "0 error(s), 0 warning(s)" in validate.stdout, validate.stdout
    volume = tmp_path / "volume"
    mount = command("mount", str(path), "--out", str(volume))
    assert mount.returncode == 0, mount.stderr
    mounted = {str(p.relative_to(volume)) for p in volume.rglob("*") if p.is_file()}
    assert {entry["objectName"] for entry in block[0]["data"]} == mounted


@pytest.mark.parametrize(
    ("secret_objects", "expected"),
    [
        pytest.param([{"secretName": "s", "data": [{"objectName": "prod_api-key", "key": "api"}]}], [],
                     id="in-step"),
        pytest.param([{"secretName": "s", "data": []}], ['"prod_api-key" is mounted but synced into no Secret'],
                     id="file-not-synced"),
        pytest.param(None, ['"prod_api-key" is mounted but synced into no Secret'], id="no-block-at-all"),
        pytest.param([{"secretName": "s", "data": [{"objectName": "prod_api-key", "key": "api"},
                                                   {"objectName": "prod/api-key", "key": "other"}]}],
                     ['secretObjects[0].data[1]: objectName "prod/api-key" is not a file this SecretProviderClass mounts'],
                     id="names-no-mounted-file"),
        pytest.param([{"secretName": "s", "data": [{"objectName": "prod_api-key", "key": "api key"}]}],
                     ['secretObjects[0].data[0]: "api key" is not a valid Secret key'], id="invalid-key"),
        pytest.param([{"secretName": "a", "data": [{"objectName": "prod_api-key", "key": "k"}]},
                      {"secretName": "b", "data": [{"objectName": "prod_api-key", "key": "k"},
                                                   {"objectName": "prod_api-key", "key": "k"}]}],
                     ['secretObjects[1].data[1]: key "k" is also used by data[0]'], id="duplicate-key-in-one-secret"),
    ],
)
def test_check(secret_objects: Any, expected: list[str], tmp_path: Path) -> None:
    result = command("secret-objects", "--check", str(spc_file(tmp_path, API_KEY, secret_objects)))
    assert result.returncode == (1 if expected else 0), result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    for fragment in expected:
        assert any(fragment in line for line in lines), (fragment, lines)
    assert len(lines) == max(len(expected), 1)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param("api key", '"api key" is not a valid Secret key', id="space"),
        pytest.param("dir/file", '"dir/file" is not a valid Secret key (only letters, digits, "-", "_" and "."; try "dir_file")',
                     id="slash"),
        pytest.param("..", '".." is not a valid Secret key', id="dot-dot"),
        pytest.param("x" * 254, "a Secret key is at most 253 characters, got 254", id="too-long"),
    ],
)
def test_validate_reports_secret_keys_kubernetes_refuses(key: str, expected: str, tmp_path: Path) -> None:
    path = spc_file(tmp_path, API_KEY, [{"secretName": "s", "data": [{"objectName": "prod_api-key", "key": key}]}])
    result = command("validate", str(path))
    assert result.returncode == 1
    assert f"secretObjects[0].data[0]: {expected}" in result.stdout, result.stdout


def test_validate_reports_a_key_used_twice(tmp_path: Path) -> None:
    data = [{"objectName": "prod_api-key", "key": "k"}, {"objectName": "prod_api-key", "key": "k"}]
    result = command("validate", str(spc_file(tmp_path, API_KEY, [{"secretName": "s", "data": data}])))
    assert result.returncode == 1
    assert 'secretObjects[0].data[1]: key "k" is also used by data[0]: the Secret would hold only one of the files' in result.stdout


def test_a_class_that_does_not_parse_is_an_error(tmp_path: Path) -> None:
    result = command("secret-objects", str(spc_file(tmp_path, "- {objectType: fake}")))
    assert result.returncode == 1 and result.stdout == ""
    assert "objects[0]: Object name must be specified" in result.stderr


def test_a_file_without_a_class_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("kind: ConfigMap\n")
    result = command("secret-objects", str(tmp_path / "empty.yaml"))
    assert result.returncode == 2 and "expected one SecretProviderClass" in result.stderr


@pytest.mark.parametrize(
    ("path", "key"),
    [
        pytest.param("db.json", "db.json", id="valid-as-is"),
        pytest.param("dir/sub/file.txt", "dir_sub_file.txt", id="directories"),
        pytest.param("a  b@c", "a_b_c", id="runs-collapse"),
        pytest.param("/leading", "leading", id="no-edge-underscores"),
        pytest.param("..", "__", id="dot-dot"),
        pytest.param("é", "_", id="nothing-valid-left"),
        pytest.param("x" * 300, "x" * 253, id="truncated"),
    ],
)
def test_secret_key(path: str, key: str) -> None:
    assert secret_key(path) == key
    assert key_problems(key) == []
