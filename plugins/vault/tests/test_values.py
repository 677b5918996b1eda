"""What ends up in the volume: every per-object parameter, KV v1/v2, versions, JSON maps, base64."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway_vault.testing import VaultWorld as World

Expect = Callable[[World], dict[str, bytes]]


@dataclass(frozen=True)
class Case:
    id: str
    objects: list[dict[str, Any]]
    files: Expect
    parameters: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)  # file -> exact version
    modes: dict[str, int] = field(default_factory=dict)


def db_json(w: World, version: str = "db_v2") -> bytes:
    return json.dumps({"password": w.values[version], "username": "app"}, separators=(",", ":")).encode()


CASES = [
    Case(
        "kv2-key-api-path",
        [{"objectName": "db-password", "secretPath": "secret/data/app/db", "secretKey": "password"}],
        lambda w: {"db-password": w.values["db_v2"].encode()},
        versions={"db-password": "2"},
    ),
    Case(
        "kv2-key-cli-path-detected",
        [{"objectName": "db-password", "secretPath": "/secret/app/db/", "secretKey": "password"}],
        lambda w: {"db-password": w.values["db_v2"].encode()},
        versions={"db-password": "2"},
    ),
    Case("kv2-whole-map-json", [{"objectName": "db.json", "secretPath": "secret/data/app/db"}], lambda w: {"db.json": db_json(w)}),
    Case(
        "kv2-non-string-values-as-json",
        [
            {"objectName": "limits", "secretPath": "secret/app/config", "secretKey": "limits"},
            {"objectName": "tags", "secretPath": "secret/app/config", "secretKey": "tags"},
            {"objectName": "url", "secretPath": "secret/app/config", "secretKey": "url"},
        ],
        lambda w: {"limits": b'{"max":5}', "tags": b'["a","b"]', "url": b"https://db.example"},
    ),
    Case(
        "kv2-object-version",
        [{"objectName": "old", "secretPath": "secret/data/app/db", "secretKey": "password", "objectVersion": "1"}],
        lambda w: {"old": w.values["db_v1"].encode()},
        versions={"old": "1"},
    ),
    Case(
        "kv2-secret-args-as-query",
        [{"objectName": "old", "secretPath": "secret/data/app/db", "secretKey": "password", "secretArgs": "{version: 1}"}],
        lambda w: {"old": w.values["db_v1"].encode()},
        versions={"old": "1"},
    ),
    Case(
        "kv2-base64-encoding",
        [{"objectName": "blob.bin", "secretPath": "secret/app/binary", "secretKey": "blob", "encoding": "base64"}],
        lambda w: {"blob.bin": w.values["blob"]},
    ),
    Case(
        "kv1-key",
        [{"objectName": "legacy", "secretPath": "kv1/app/legacy", "secretKey": "token"}],
        lambda w: {"legacy": w.values["legacy"].encode()},
    ),
    Case(
        "kv1-whole-map-json",
        [{"objectName": "legacy.json", "secretPath": "kv1/app/legacy"}],
        lambda w: {"legacy.json": json.dumps({"token": w.values["legacy"]}).replace(" ", "").encode()},
    ),
    Case(
        "kv2-two-segment-mount-detected",
        [{"objectName": "team", "secretPath": "team/kv/app", "secretKey": "team"}],
        lambda w: {"team": w.values["team"].encode()},
        versions={"team": "1"},
    ),
    Case(
        "kv-version-2-configured",
        [{"objectName": "pw", "secretPath": "secret/app/db", "secretKey": "password", "kvVersion": "2"}],
        lambda w: {"pw": w.values["db_v2"].encode()},
    ),
    Case(
        "kv-version-1-configured-raw-api-path",
        [{"objectName": "pw", "secretPath": "secret/data/app/db", "secretKey": "password", "kvVersion": "1"}],
        lambda w: {"pw": w.values["db_v2"].encode()},
        versions={"pw": "2"},
    ),
    Case(
        "object-alias-and-file-permission",
        [{"objectName": "db", "objectAlias": "conf/password", "secretPath": "secret/app/db", "secretKey": "password", "filePermission": "0600"}],
        lambda w: {"conf_password": w.values["db_v2"].encode()},
        modes={"conf_password": 0o600},
    ),
    Case(
        "jmes-path-on-the-whole-map",
        [{"objectName": "db.json", "secretPath": "secret/app/db", "jmesPath": [{"path": "password", "objectAlias": "pw"}]}],
        lambda w: {"db.json": db_json(w), "pw": w.values["db_v2"].encode()},
    ),
    Case(
        "namespace",
        [{"objectName": "ns", "secretPath": "kv/app", "secretKey": "ns"}],
        lambda w: {"ns": w.values["ns"].encode()},
        parameters={"vaultNamespace": "team1"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_files(world: World, case: Case) -> None:
    async with world.gateway() as gw:
        result = await gw.mount(world.request(case.objects, **case.parameters))
    files = {f.path: f for f in result.files}
    assert {path: f.contents for path, f in files.items()} == case.files(world)
    for path, version in case.versions.items():
        assert files[path].version == version
    for path, mode in case.modes.items():
        assert files[path].mode == mode
    assert all(f.version for f in result.files)


async def test_non_kv2_versions_are_opaque_and_follow_the_content(world: World) -> None:
    objects = [{"objectName": "legacy", "secretPath": "kv1/app/legacy", "secretKey": "token"}]
    async with world.gateway() as gw:
        first = (await gw.mount(world.request(objects))).files[0].version
        again = (await gw.mount(world.request(objects))).files[0].version
        world.bao.api("POST", "kv1/app/legacy", {"token": world.values["legacy"] + "-rotated"})
        try:
            rotated = (await gw.mount(world.request(objects))).files[0].version
        finally:
            world.bao.api("POST", "kv1/app/legacy", {"token": world.values["legacy"]})
    assert first == again != rotated
    assert world.values["legacy"] not in first and not first.isdigit()


