"""The vault-csi-provider dialect (provider name ``vault``) against the real OpenBao, row by row,
next to the native dialect where the two differ (docs/vault.md, "vault-csi-provider compatibility")."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from gateway.client import MountFailure
from gateway.testing import mount_request
from gateway_vault.gojson import go_json, loads
from gateway_vault.testing import VaultWorld as World

VAULT = "vault"
NATIVE = "secrets-gateway"
SECRET_FIELDS = ["request_id", "lease_id", "lease_duration", "renewable", "data", "warnings"]  # OpenBao sends no mount_type


def go_escaped(text: str) -> str:
    """How Go's encoder writes ``text`` inside a JSON string."""
    return json.dumps(text, ensure_ascii=False)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("\u2028", "\\u2028")


@dataclass(frozen=True)
class Row:
    id: str
    objects: list[dict[str, Any]]
    files: Callable[[World], dict[str, bytes]] | None = None
    error: str = ""  # a part of the failure message
    provider_name: str = VAULT
    parameters: dict[str, str] = field(default_factory=dict)
    audiences: tuple[str, ...] = ("vault",)
    versions: dict[str, str] = field(default_factory=dict)


DB = {"secretPath": "secret/data/app/db", "secretKey": "password"}
ROWS = [
    Row("v1-prefix-with-slash", [{"objectName": "pw", **DB, "secretPath": "/v1/secret/data/app/db"}], lambda w: {"pw": w.values["db_v2"].encode()}),
    Row("v1-prefix-without-slash", [{"objectName": "pw", **DB, "secretPath": "v1/secret/data/app/db"}], lambda w: {"pw": w.values["db_v2"].encode()}),
    Row("native-v1-prefix", [{"objectName": "pw", **DB, "secretPath": "/v1/secret/data/app/db"}], lambda w: {"pw": w.values["db_v2"].encode()}, provider_name=NATIVE),
    Row(
        "audience-defaults-to-vault", [{"objectName": "pw", **DB}], lambda w: {"pw": w.values["db_v2"].encode()},
        audiences=("vault", "sts.amazonaws.com"),
    ),
    Row("native-needs-audience-with-several-tokens", [{"objectName": "pw", **DB}], error='several tokens; set the parameter "audience"',
        audiences=("vault", "sts.amazonaws.com"), provider_name=NATIVE),
    Row("query-version", [{"objectName": "pw", **DB, "secretPath": "secret/data/app/db?version=1"}], lambda w: {"pw": w.values["db_v1"].encode()},
        versions={"pw": "1"}),
    Row("native-query-refused", [{"objectName": "pw", **DB, "secretPath": "secret/data/app/db?version=1"}], error="use objectVersion", provider_name=NATIVE),
    Row("get-secret-args-ignored", [{"objectName": "pw", **DB, "secretArgs": {"version": 1}}], lambda w: {"pw": w.values["db_v2"].encode()}),
    Row("native-get-secret-args-as-query", [{"objectName": "pw", **DB, "secretArgs": {"version": 1}}], lambda w: {"pw": w.values["db_v1"].encode()},
        provider_name=NATIVE),
    Row("method-list", [{"objectName": "keys", "secretPath": "secret/metadata/app", "method": "LIST", "secretKey": "keys"}],
        lambda w: {"keys": b'["binary","config","db","deleted","encoded","p0","p1","p2","p3","p4"]'}),
    Row("class-chooses-the-vault-dialect", [{"objectName": "keys", "secretPath": "secret/metadata/app", "method": "LIST", "secretKey": "keys"}],
        lambda w: {"keys": b'["binary","config","db","deleted","encoded","p0","p1","p2","p3","p4"]'}, provider_name=NATIVE,
        parameters={"dialect": "vault-csi-provider"}),
    Row("class-chooses-the-native-dialect", [{"objectName": "keys", "secretPath": "secret/metadata/app", "method": "LIST"}], error='method "LIST" is not supported',
        parameters={"dialect": "secrets-gateway"}),
    Row("native-method-list-refused", [{"objectName": "keys", "secretPath": "secret/metadata/app", "method": "LIST"}], error='method "LIST" is not supported',
        provider_name=NATIVE),
    Row("encoding-hex", [{"objectName": "h", "secretPath": "secret/data/app/encoded", "secretKey": "hex", "encoding": "hex"}],
        lambda w: {"h": w.values["hex_plain"].encode()}),
    Row("encoding-utf-8", [{"objectName": "u", "secretPath": "secret/data/app/encoded", "secretKey": "markup", "encoding": "UTF-8"}],
        lambda w: {"u": w.values["markup"].encode()}),
    Row("non-string-value-go-json", [{"objectName": "nested", "secretPath": "secret/data/app/encoded", "secretKey": "nested"}],
        lambda w: {"nested": f'{{"html":"{go_escaped(w.values["markup"])}","n":1.5}}'.encode()}),
    Row("native-non-string-value-plain-json", [{"objectName": "nested", "secretPath": "secret/data/app/encoded", "secretKey": "nested"}],
        lambda w: {"nested": json.dumps({"html": w.values["markup"], "n": 1.5}, ensure_ascii=False, separators=(",", ":")).encode()}, provider_name=NATIVE),
    Row("kv2-key-of-a-kv1-style-path-as-written", [{"objectName": "pw", **DB, "secretPath": "secret/app/db"}], error="secret/app/db"),
    Row("native-kv2-cli-path-detected", [{"objectName": "pw", **DB, "secretPath": "secret/app/db"}], lambda w: {"pw": w.values["db_v2"].encode()},
        provider_name=NATIVE),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
async def test_row(world: World, row: Row) -> None:
    request = world.request(row.objects, world.pod(audiences=row.audiences), **row.parameters)
    async with world.gateway(provider_name=row.provider_name) as gw:
        if row.error:
            with pytest.raises(MountFailure) as failure:
                await gw.mount(request)
            assert row.error in failure.value.message
            return
        result = await gw.mount(request)
    assert row.files is not None
    assert {f.path: f.contents for f in result.files} == row.files(world)
    for path, version in row.versions.items():
        assert next(f.version for f in result.files if f.path == path) == version


@pytest.mark.parametrize(
    ("path", "data"),
    [
        pytest.param("secret/data/app/encoded", lambda w: {"data": {"hex": w.values["hex_plain"].encode().hex(), "markup": w.values["markup"],
                     "nested": {"html": w.values["markup"], "n": 1.5}, "yes": "key-named-yes", "0600": "key-named-0600"}}, id="kv2"),
        pytest.param("kv1/app/legacy", lambda w: {"token": w.values["legacy"]}, id="kv1"),
    ],
)
async def test_whole_response_without_secret_key(world: World, path: str, data: Callable[[World], dict[str, Any]]) -> None:
    async with world.gateway(provider_name=VAULT) as gw:
        result = await gw.mount(world.request([{"objectName": "all.json", "secretPath": path}]))
    contents = result.files[0].contents
    document = loads(contents)
    assert list(document) == SECRET_FIELDS  # api.Secret's field order; auth, wrap_info and mount_type omitted when empty
    assert document["warnings"] is None and document["request_id"]
    expected = data(world)
    assert {k: v for k, v in document["data"].items() if k != "metadata"} == expected
    assert contents == go_json_secret(document)
    if "markup" in json.dumps(expected):
        assert go_escaped(world.values["markup"]).encode() in contents and b"<" not in contents


def go_json_secret(document: dict[str, Any]) -> bytes:
    """The expected bytes: Go's struct order at the top, Go's map encoding below."""
    members = [f'"{name}":{go_json(document[name]).decode()}' for name in SECRET_FIELDS]
    return ("{" + ",".join(members) + "}").encode()


async def test_native_writes_the_data_map_only(world: World) -> None:
    async with world.gateway() as gw:
        result = await gw.mount(world.request([{"objectName": "all.json", "secretPath": "kv1/app/legacy"}]))
    assert result.files[0].contents == json.dumps({"token": world.values["legacy"]}, separators=(",", ":")).encode()


async def test_vault_addr_from_the_environment(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", world.proxy.address)
    async with world.gateway(provider_name=VAULT) as gw:
        result = await gw.mount(world.request([{"objectName": "pw", **DB}], vaultAddress=None))
    assert result.files[0].contents == world.values["db_v2"].encode()


@pytest.mark.parametrize("strict", [False, True], ids=["warning", "strict-error"])
async def test_unknown_vault_parameters_are_named(world: World, strict: bool, caplog: pytest.LogCaptureFixture) -> None:
    request = world.request([{"objectName": "pw", **DB}], vaultCAPem="x", rolename="app", vaultTLSServerNme="v")
    expected = '"rolename" (did you mean "roleName"?), "vaultCAPem", "vaultTLSServerNme"'
    caplog.set_level(logging.WARNING)
    async with world.gateway(provider_name=VAULT, strict_objects=strict) as gw:
        if strict:
            with pytest.raises(MountFailure) as failure:
                await gw.mount(request)
            assert failure.value.code_name == "InvalidArgument" and expected in failure.value.message
            return
        await gw.mount(request)
    assert any(expected in record.getMessage() for record in caplog.records)


# --------------------------------------------------------------------------- rows of the core's dialect (gateway_vault.spc_dialect), end to end

ENCODED = 'secretPath: "secret/data/app/encoded"'


@pytest.mark.parametrize(
    ("objects", "path", "contents", "mode"),
    [
        pytest.param(f"- objectName: h\n  {ENCODED}\n  secretKey: markup\n  filePermission: 0644\n", "h", "markup", 0o644, id="unquoted-octal"),
        pytest.param(f"- objectName: h\n  {ENCODED}\n  secretKey: markup\n  filePermission: 0o600\n", "h", "markup", 0o600, id="0o-octal"),
        pytest.param(f"- objectName: h\n  {ENCODED}\n  secretKey: markup\n  filePermission: 420\n", "h", "markup", 0o644, id="decimal"),
        pytest.param(f"- objectName: certs/tls.crt\n  {ENCODED}\n  secretKey: markup\n", "certs/tls.crt", "markup", 0o644, id="slash-makes-a-directory"),
        pytest.param(f"- objectName: y\n  {ENCODED}\n  secretKey: yes\n", "y", "key-named-yes", 0o644, id="unquoted-yes-is-a-string"),
        pytest.param(f"- objectName: z\n  {ENCODED}\n  secretKey: 0600\n", "z", "key-named-0600", 0o644, id="unquoted-0600-is-a-string"),
    ],
)
async def test_dialect_rows(world: World, objects: str, path: str, contents: str, mode: int) -> None:
    request = mount_request(objects, {"vaultAddress": world.proxy.address, "roleName": "app"}, pod=world.pod())
    async with world.gateway(provider_name=VAULT) as gw:
        result = await gw.mount(request)
    (mounted,) = result.files
    expected = world.values[contents].encode() if contents in world.values else contents.encode()
    assert (mounted.path, mounted.contents, mounted.mode) == (path, expected, mode)


@pytest.mark.parametrize(("strict", "level"), [([], "warning"), (["--strict-objects"], "error")], ids=["warning", "strict-error"])
def test_validate_names_unknown_vault_parameters(capsys: pytest.CaptureFixture[str], tmp_path: Path, strict: list[str], level: str) -> None:
    spc = tmp_path / "spc.yaml"
    spc.write_text(
        "kind: SecretProviderClass\nmetadata: {name: x}\nspec:\n  provider: vault\n  parameters:\n"
        "    roleName: app\n    vaultAddress: https://vault:8200\n    vaultCAPem: x\n"
        "    objects: '- {objectName: a, secretPath: secret/data/a, secretKey: k}'\n"
    )
    main(["--log-level", "error", "validate", str(spc), "--provider-name", "vault", *strict])
    out = capsys.readouterr().out
    assert 'vault: unknown SecretProviderClass parameter "vaultCAPem"' in out
    assert ("1 error(s), 0 warning(s)" if level == "error" else "0 error(s), 1 warning(s)") in out
