"""The command line: mount (driver emulator), validate, plugins, version, help."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from gateway.cli import main

REPO = Path(__file__).resolve().parent.parent
STORE = REPO / "examples" / "fake" / "store.yaml"
SPC = REPO / "examples" / "fake" / "spc.yaml"


def write_spc(tmp_path: Path, objects: str, extra: str = "", name: str = "app") -> Path:
    path = tmp_path / f"{name}.yaml"
    body = textwrap.indent(textwrap.dedent(objects).strip(), " " * 8)
    path.write_text(
        textwrap.dedent(
            f"""\
            apiVersion: secrets-store.csi.x-k8s.io/v1
            kind: SecretProviderClass
            metadata: {{name: {name}}}
            spec:
              provider: secrets-gateway
              parameters:
                region: us-east-1
                objects: |
            """
        )
        + body
        + "\n"
        + textwrap.indent(textwrap.dedent(extra), "  ")
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--log-level", "error", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("how", [pytest.param([], id="in-process"), pytest.param(["--serve"], id="real-server")])
def test_mount_example(capsys: pytest.CaptureFixture[str], how: list[str]) -> None:
    code, out, _ = run(capsys, "mount", str(SPC), "--fake-store", str(STORE), "--show-values", *how)
    assert code == 0
    assert 'Mounted 9 files from SecretProviderClass "demo-secrets"' in out
    assert "-rw-------" in out and "db-password" in out and "flags/newCheckout" in out
    assert "served by the failover region" in out


def test_mount_writes_files_with_modes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "mount", str(SPC), "--fake-store", str(STORE), "--out", str(tmp_path / "vol"))
    assert code == 0 and "correct-horse" not in out  # values only with --show-values
    assert (tmp_path / "vol" / "db-user").read_text() == "app"
    assert stat.S_IMODE((tmp_path / "vol" / "db-password").stat().st_mode) == 0o600
    assert (tmp_path / "vol" / "flags" / "darkMode").read_text() == "off"


def test_mount_failure_prints_the_pod_event(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spc = write_spc(tmp_path, "- {objectName: prod/missing, objectType: fake}")
    code, _, err = run(capsys, "mount", str(spc), "--fake-store", str(STORE), "--namespace", "apps", "--pod-name", "web-0")
    assert code == 1
    assert err.strip() == (
        'MountVolume.SetUp failed for volume "secrets-store-inline" : rpc error: code = Unknown desc = failed to mount '
        "secrets store objects for pod apps/web-0, err: rpc error: code = NotFound desc = "
        'objects[0] "prod/missing" (fake @ us-east-1): no fake secret named "prod/missing" in location "us-east-1"'
    )


def test_mount_through_a_running_server(tmp_path: Path) -> None:
    directory = Path(tempfile.mkdtemp(prefix="sgw-", dir="/tmp"))
    env = {**os.environ, "SECRETS_GATEWAY_FAKE_STORE": str(STORE), "SECRETS_GATEWAY_HTTP_ADDRESS": ""}
    server = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--providers-dir", str(directory)], env=env, stderr=subprocess.DEVNULL)
    socket_path = directory / "secrets-gateway.sock"
    try:
        deadline = time.monotonic() + 30
        while not socket_path.exists() and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.05)
        result = subprocess.run(
            [sys.executable, "-m", "gateway", "mount", str(SPC), "--socket", str(socket_path)], capture_output=True, text=True, timeout=60
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert result.returncode == 0, result.stderr
    assert f"via socket {socket_path}" in result.stdout


def test_mount_with_tokens_and_current_versions(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("jwt-from-file\n")
    code, out, err = run(
        capsys, "mount", str(SPC), "--fake-store", str(STORE), "--token", "sts.amazonaws.com=abc.def.ghi",
        "--token-file", f"vault={token_file}", "--current-version", "db.json=v1",
    )
    assert code == 0, err
    bad, _, err = run(capsys, "mount", str(SPC), "--token", "no-equals-sign")
    assert bad == 2 and "--token expects KEY=VALUE" in err


def test_mount_needs_one_spc(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    both = tmp_path / "both.yaml"
    both.write_text(write_spc(tmp_path, "- {objectName: a, objectType: fake}", name="one").read_text() + "---\n"
                    + write_spc(tmp_path, "- {objectName: a, objectType: fake}", name="two").read_text())
    code, _, err = run(capsys, "mount", str(both))
    assert code == 2 and "found: one, two (use --spc-name)" in err
    code, out, _ = run(capsys, "mount", str(both), "--spc-name", "two", "--fake-store", str(STORE))
    assert code == 1  # "a" does not exist in the example store — but the right SPC was chosen


def test_validate_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", str(SPC))
    assert code == 0 and out.strip().endswith("1 SecretProviderClass checked: 0 error(s), 0 warning(s)")


def test_validate_lists_every_problem_with_its_object(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spc = write_spc(
        tmp_path,
        """
        - {objectName: a, objectType: fake, filePermission: rw}
        - {objectName: b, objectType: nosuch}
        - {objectName: c, objectType: fake, jmesPath: [{path: x}]}
        """,
    )
    code, out, _ = run(capsys, "validate", str(spc))
    assert code == 1
    assert 'objects[0] "a": Invalid File Permission: rw (write the octal mode as 4 digits, "0644", or as "0o644")' in out
    assert 'objects[1] "b": Invalid objectType: nosuch' in out
    assert 'objects[2] "c" jmesPath[0]: Object alias must be specified for JMES object' in out
    assert "3 error(s)" in out


def test_validate_catches_secret_objects_naming_files_that_do_not_exist(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spc = write_spc(
        tmp_path,
        """
        - {objectName: prod/db, objectType: fake, jmesPath: [{path: username, objectAlias: db-user}]}
        - {objectName: prod/flags, objectType: fake, expandKeys: directory}
        """,
        extra="""\
          secretObjects:
            - secretName: db
              type: Opaque
              data:
                - {objectName: db-user, key: username}
                - {objectName: prod/db, key: raw}
                - {objectName: prod_flags/dark, key: dark}
            - type: Opaque
              data: [{objectName: db-user}]
        """,
    )
    code, out, _ = run(capsys, "validate", str(spc))
    assert code == 1
    assert 'secretObjects[0].data[1]: objectName "prod/db" is not a file this SecretProviderClass produces' in out
    assert "files: db-user, prod_db" in out
    assert 'warning: ' in out and '"prod_flags/dark" can only come from the expanded keys of objects[1]' in out
    assert "secretObjects[1]: secretName is required" in out and "secretObjects[1].data[0] needs objectName and key" in out


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param([], "0 error(s)", id="native-reads-0600-as-octal"),
        pytest.param(["--provider-name", "aws"], 'objects[0] "a": Invalid File Permission: 384', id="ascp-dialect-under-aws"),
        pytest.param(["--provider-name", "vault"], "0 error(s)", id="vault-csi-provider-dialect"),
    ],
)
def test_validate_reads_the_class_in_the_provider_names_dialect(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, arguments: list[str], expected: str
) -> None:
    spc = write_spc(tmp_path, "- {objectName: a, objectType: fake, filePermission: 0600}")
    _, out, _ = run(capsys, "validate", str(spc), *arguments)
    assert expected in out


def test_validate_flags_provider_and_parameter_types(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spc = tmp_path / "spc.yaml"
    spc.write_text(
        "kind: SecretProviderClass\nmetadata: {name: x}\nspec:\n  provider: vault\n  parameters:\n"
        "    failoverRegion: us-east-1\n    region: us-east-1\n    retries: 3\n    objects: '- {objectName: a, objectType: fake}'\n"
    )
    code, out, _ = run(capsys, "validate", str(spc))
    assert code == 1
    assert 'spec.provider is "vault" but this gateway serves "secrets-gateway"' in out
    assert 'the class is read in dialect "secrets-gateway"; provider "vault" reads it in "vault-csi-provider"' in out
    assert "spec.parameters.retries must be a string (quote it); got int" in out
    assert "fake: us-east-1: failover region cannot be the same as the primary region" in out


def test_validate_parameters_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    parameters = tmp_path / "params.json"
    parameters.write_text(json.dumps({"objects": "- {objectName: a, objectType: fake, objectAlias: ../x}", "pathTranslation": "False"}))
    code, out, _ = run(capsys, "validate", "--parameters", str(parameters))
    assert code == 1 and "path can not contain ../: ../x" in out


def test_plugins_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plugins", "-o", "json")
    report = json.loads(out)
    fake = next(p for p in report["plugins"] if p["name"] == "fake")
    assert code == 0 and fake["distribution"] == "secrets-gateway-fake" and fake["backends"][0]["name"] == "fake"
    code, out, _ = run(capsys, "version")
    assert code == 0 and out.startswith("secrets-gateway 0.1.0 (provider API v1alpha1")


@pytest.mark.parametrize("command", [[], ["serve"], ["mount"], ["validate"], ["plugins"], ["version"]])
def test_help_everywhere(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*command, "--help"])
    assert caught.value.code == 0
    assert "usage: secrets-gateway" in capsys.readouterr().out


def test_bad_provider_name_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "serve", "--provider-name", "bad name!", "--providers-dir", "/tmp/x")
    assert code == 2 and "--provider-name: invalid value 'bad name!': expected text matching ^[a-zA-Z0-9_-]{1,30}$" in err


def test_unavailable_pod_event_is_honest_about_attempts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = tmp_path / "store.yaml"
    store.write_text("secrets: {flaky: {value: x, faults: {error: unavailable}}}\n")
    spc = write_spc(tmp_path, "- {objectName: flaky, objectType: fake}")
    code, _, err = run(capsys, "mount", str(spc), "--fake-store", str(store))
    assert code == 1
    assert "err: rpc error: code = Unavailable desc = " in err and "max retries exhausted" not in err
    assert "note: tried once; the driver retries Unavailable (up to 3 attempts in all)" in err
