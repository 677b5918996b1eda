"""Operating the command, through the real ``secrets-gateway`` process: settings validated at start,
``--version``, ``-o json|yaml``, global flags anywhere, per-command help, honest errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
STORE = REPO / "examples" / "fake" / "store.yaml"
SPC = REPO / "examples" / "fake" / "spc.yaml"


def gateway(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SECRETS_GATEWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], capture_output=True, text=True, timeout=timeout, env={**clean, **(env or {})}
    )


def providers_dir() -> str:
    return tempfile.mkdtemp(prefix="sgw-", dir="/tmp")  # short: unix socket paths are limited to 107 bytes


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


# --------------------------------------------------------------------------- operator settings at start


@pytest.mark.parametrize(
    ("args", "env", "fragments"),
    [
        pytest.param([], {"SECRETS_GATEWAY_MOUNT_TIMEOUT": "30s"}, ["SECRETS_GATEWAY_MOUNT_TIMEOUT=30s: invalid value '30s': expected a number > 0"],
                     id="env-with-unit"),
        pytest.param(["--mount-timeout", "0"], {}, ["--mount-timeout: invalid value '0': expected a number > 0"], id="mount-timeout-zero"),
        pytest.param(["--backend-timeout", "-1"], {}, ["--backend-timeout: invalid value '-1'"], id="backend-timeout-negative"),
        pytest.param(["--grace-period", "-5"], {}, ["--grace-period: invalid value '-5': expected a number >= 0"], id="grace-negative"),
        pytest.param(["--max-concurrent-mounts", "0"], {}, ["--max-concurrent-mounts: invalid value '0': expected an integer >= 1"],
                     id="concurrency-zero"),
        pytest.param(["--max-parallel-calls", "-2"], {}, ["--max-parallel-calls: invalid value '-2'"], id="parallel-negative"),
        pytest.param([], {"SECRETS_GATEWAY_MAX_OBJECTS": "many"}, ["SECRETS_GATEWAY_MAX_OBJECTS=many: invalid value 'many': expected an integer"],
                     id="env-not-int"),
        pytest.param(["--socket-mode", "4770"], {}, ["--socket-mode: invalid value '4770'", "setuid"], id="socket-setuid"),
        pytest.param(["--socket-mode", "0666"], {}, ["--socket-mode: invalid value '0666'", "world bits"], id="socket-world"),
        pytest.param(["--strict-objects=maybe"], {}, ["--strict-objects: invalid value 'maybe': expected true or false"], id="bool"),
        pytest.param(["--providers-dir", "/etc/hostname"], {}, ["--providers-dir /etc/hostname is not a directory"], id="providers-dir-file"),
        pytest.param(["--providers-dir", "/etc/hostname/sub"], {}, ["--providers-dir /etc/hostname/sub cannot be created"],
                     id="providers-dir-impossible"),
        pytest.param(["--http-address", "nonsense"], {}, ["--http-address"], id="http-address"),
        pytest.param(["--plugins", "awz"], {}, ['--plugins names "awz", which is not installed (did you mean "aws"?)'], id="plugin-typo"),
    ],
)
def test_serve_refuses_bad_settings_in_one_line(args: list[str], env: dict[str, str], fragments: list[str]) -> None:
    directory = providers_dir()
    result = gateway("serve", "--providers-dir", directory, "--http-address", "", "--plugins", "fake", *args, env=env)
    assert_one_line_error(result, *fragments)
    assert not (Path(directory) / "secrets-gateway.sock").exists()


def test_vault_address_with_credentials_is_refused_without_echoing_them() -> None:
    result = gateway("serve", "--providers-dir", providers_dir(), "--plugins", "vault",
                     "--vault-address", "https://admin:hunter2@vault.example:8200")
    assert_one_line_error(result, "--vault-address: invalid value 'https://***@vault.example:8200'", "without credentials")
    assert "hunter2" not in result.stderr


def test_a_missing_extra_plugin_only_warns_when_others_serve() -> None:
    directory = providers_dir()
    server = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--providers-dir", directory, "--plugins", "fake,acme",
                               "--http-address", ""], stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline() if server.stderr else ""
        assert "warning: plugin acme" in line and "not installed (named in --plugins)" in line
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_no_backends_means_no_socket(tmp_path: Path) -> None:
    """A plugin that fails to import leaves no backend: serve stops instead of publishing a useless socket."""
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('broken on purpose')\n")
    info = tmp_path / "broken_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[secrets_gateway.plugins]\nbroken = broken_plugin\n")
    directory = providers_dir()
    result = gateway("serve", "--providers-dir", directory, "--plugins", "broken", "--http-address", "",
                     env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 2  # the plugin's traceback is logged for its author; the verdict is the last line
    assert result.stderr.splitlines()[-1].startswith(
        "secrets-gateway: no backends registered: plugin broken (broken-plugin 0.1) failed at import: ImportError: broken on purpose"
    )
    assert not (Path(directory) / "secrets-gateway.sock").exists()


# --------------------------------------------------------------------------- version, help, global flags


@pytest.mark.parametrize("args", [pytest.param(["version"], id="command"), pytest.param(["--version"], id="flag")])
def test_version_imports_no_plugin(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "gateway", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("secrets-gateway 0.1.0 (provider API v1alpha1")
    assert "plugin aws: secrets-gateway-aws" in result.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"botocore", "boto3", "hvac", "requests", "gateway_aws", "gateway_vault"}


def test_global_flags_after_the_command() -> None:
    result = gateway("plugins", "-o", "json", "--plugins", "fake", "--log-level", "error")
    assert result.returncode == 0, result.stderr
    assert [plugin["name"] for plugin in json.loads(result.stdout)["plugins"]] == ["fake"]


def test_each_command_help_shows_its_own_settings_with_plugin_defaults() -> None:
    helps = {command: gateway(command, "--help").stdout for command in ("serve", "mount", "validate", "plugins", "version")}
    assert "--socket-mode" in helps["serve"] and "--grace-period" in helps["serve"]
    assert "--aws-max-attempts" in helps["serve"] and "(default 3; env SECRETS_GATEWAY_AWS_MAX_ATTEMPTS)" in " ".join(helps["serve"].split())
    assert "--socket-mode" not in helps["mount"] and "--mount-timeout" in helps["mount"]
    assert "--grace-period" not in helps["validate"] and "--strict-objects" in helps["validate"]
    assert "--mount-timeout" not in helps["plugins"] and "--log-level" in helps["plugins"]
    assert "--aws-max-attempts" not in helps["version"] and "--socket-mode" not in helps["version"]


# --------------------------------------------------------------------------- -o json|yaml


def _load(output: str, text: str) -> dict[str, object]:
    return json.loads(text) if output == "json" else yaml.safe_load(text)


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_machine_readable_mount(output: str) -> None:
    result = gateway("mount", str(SPC), "--plugins", "fake", "--fake-store", str(STORE), "-o", output)
    assert result.returncode == 0, result.stderr
    report = _load(output, result.stdout)
    assert report["ok"] is True and report["spc"] == "demo-secrets"
    files = {entry["path"]: entry for entry in report["files"]}  # type: ignore[attr-defined]
    assert files["db-password"]["mode"] == "0600" and "contents" not in files["db-password"]


def test_machine_readable_mount_failure(tmp_path: Path) -> None:
    spc = tmp_path / "spc.yaml"
    spc.write_text(SPC.read_text().replace("prod/db", "prod/nope", 1))
    result = gateway("mount", str(spc), "--plugins", "fake", "--fake-store", str(STORE), "-o", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["code"] == "NotFound" and "prod/nope" in report["message"]


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_machine_readable_validate(output: str, tmp_path: Path) -> None:
    spc = tmp_path / "spc.yaml"
    spc.write_text(SPC.read_text() + "---\nkind: SecretProviderClass\nmetadata: {name: bad}\nspec:\n  parameters:\n    objects: '- {objectName: a, objectType: nosuch}'\n")
    result = gateway("validate", str(spc), "--plugins", "fake", "-o", output)
    assert result.returncode == 1
    report = _load(output, result.stdout)
    assert report["checked"] == 2 and report["errors"] == 1
    bad = next(d for d in report["documents"] if d["name"] == "bad")  # type: ignore[attr-defined]
    assert bad["findings"] == [{"level": "error", "message": 'objects[0] "a": Invalid objectType: nosuch (backends loaded: fake)'}]


def test_machine_readable_plugins_yaml() -> None:
    result = gateway("plugins", "--plugins", "fake", "-o", "yaml")
    assert result.returncode == 0 and yaml.safe_load(result.stdout)["plugins"][0]["backends"][0]["name"] == "fake"


# --------------------------------------------------------------------------- validate finds what mount would refuse


def test_validate_reports_misspelt_parameters_plugin_parameter_errors_and_every_warning(tmp_path: Path) -> None:
    spc = tmp_path / "spc.yaml"
    spc.write_text(
        "kind: SecretProviderClass\nmetadata: {name: app}\nspec:\n  provider: aws\n  parameters:\n"
        "    region: us-east-1\n    regoin: eu-west-1\n    usePodIdentity: \"ture\"\n    team: payments\n"
        "    objects: |\n      - {objectName: db, objectType: secretsmanager, filePermission: \"9999\", objectAliass: x}\n"
    )
    result = gateway("validate", str(spc), "--provider-name", "aws", "--plugins", "aws", "-o", "json")
    assert result.returncode == 1, result.stderr
    findings = {(f["level"], f["message"]) for f in json.loads(result.stdout)["documents"][0]["findings"]}
    assert ("warning", 'unknown parameter "regoin" (did you mean "region"?)') in findings
    assert ("error", 'secretsmanager: failed to parse usePodIdentity value, error: strconv.ParseBool: parsing "ture": invalid syntax') in findings
    assert ("warning", 'objects[0] "db": unknown key "objectAliass" ignored') in findings  # beside that object's own error
    assert any(level == "error" and "Invalid File Permission: 9999" in message for level, message in findings)
    assert not any('"team"' in message for _, message in findings)  # a parameter for another tool, not a near miss
