"""Property tests: whatever arrives, the gateway answers with files the driver accepts or one typed error."""

from __future__ import annotations

import asyncio
import json
import posixpath

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gateway.errors import GatewayError
from gateway.request import RawMountRequest
from gateway.settings import Settings
from gateway.testing import start_gateway
from tests.support import ScriptedBackend

VALUE = json.dumps({"user": "app", "port": 5432, "nested": {"k": "v"}, "../evil": "x", "a/b": "y", "": "z"}).encode()
GATEWAY = start_gateway(
    backends=[
        ScriptedBackend(name="fake", default=(VALUE, "v1")),
        ScriptedBackend(name="secretsmanager", claimed_prefix="arn:aws:secretsmanager:", default=(b"plain", "v2")),
    ],
    settings=Settings(max_objects=50),
)
PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.one_of(
    st.sampled_from(["a", "a/b", "/a/b", "../x", "..data", ".", "x/../y", "a//b", "a/", "arn:aws:secretsmanager:here:1:secret:s",
                     "arn:aws", "arn:aws:s3:here:1:b", "ü/名", "a\x00b", "x" * 300]),
    st.text(min_size=0, max_size=20),
)
scalars = st.one_of(names, st.integers(-5, 70000), st.booleans(), st.none(), st.floats(allow_nan=True))
jmes_entries = st.lists(
    st.fixed_dictionaries({}, optional={"path": st.sampled_from(["user", "port", "nested", "nested.k", "[", "missing", "abs(user)"]),
                                        "objectAlias": names, "filePermission": scalars, "encoding": st.sampled_from(["base64", "", "x"])}),
    max_size=3,
)
descriptor = st.fixed_dictionaries(
    {},
    optional={
        "objectName": names,
        "objectType": st.sampled_from(["fake", "secretsmanager", "ssm", "nope", ""]),
        "objectAlias": names,
        "objectVersion": scalars,
        "objectVersionLabel": scalars,
        "filePermission": st.one_of(st.sampled_from(["0600", "0644", "0777", "600", "0800"]), scalars),
        "jmesPath": st.one_of(jmes_entries, scalars),
        "failoverObject": st.one_of(st.fixed_dictionaries({}, optional={"objectName": names, "objectVersion": scalars}), scalars),
        "encoding": st.sampled_from(["base64", "BASE64", "", "hex"]),
        "expandKeys": st.sampled_from(["true", "directory", "false", "prefix", "x"]),
        "expandKeysSeparator": st.sampled_from(["_", ".", "/", ""]),
        "ObjectName": names,
        "unknownKey": scalars,
    },
)
safe_names = st.text(alphabet="abc/._-", min_size=1, max_size=8)
plausible = st.builds(
    lambda name, alias, jmes, expand, mode: {
        "objectName": name, "objectType": "fake", **({"objectAlias": alias} if alias else {}),
        **({"jmesPath": [{"path": "user", "objectAlias": jmes}]} if jmes else {}),
        **({"expandKeys": expand} if expand else {}), **({"filePermission": mode} if mode else {}),
    },
    safe_names, st.one_of(st.none(), safe_names), st.one_of(st.none(), safe_names),
    st.sampled_from([None, None, "true", "directory"]), st.sampled_from([None, "0600", "0400"]),
)
objects_text = st.one_of(
    st.lists(plausible, min_size=1, max_size=5).map(yaml.safe_dump),
    st.lists(st.one_of(descriptor, plausible, st.none(), scalars), max_size=6).map(lambda items: yaml.safe_dump(items, allow_unicode=True)),
    st.text(max_size=200),
)
parameters = st.fixed_dictionaries(
    {"objects": objects_text},
    optional={
        "pathTranslation": st.sampled_from(["", "False", "-", "ab", "/", "."]),
        "region": st.sampled_from(["here", "us-east-1", ""]),
        "fakeExtra": st.text(max_size=5),
        "failoverRegion": st.sampled_from(["there", "here", "", "a,b"]),
        "failoverMode": st.sampled_from(["all", "on-error", "x"]),
    },
)
attributes = st.one_of(
    parameters.map(json.dumps),
    parameters.map(json.dumps),
    st.dictionaries(st.text(max_size=10), st.one_of(st.text(max_size=10), st.integers(), st.none()), max_size=4).map(json.dumps),
    st.text(max_size=50),
)


def driver_accepts(path: str) -> bool:
    """An independent statement of the driver's path rules (kept apart from gateway.paths on purpose)."""
    if not path or path.startswith("/") or "\x00" in path or posixpath.normpath(path) != path:
        return False
    parts = path.split("/")
    if ".." in parts or parts[0].startswith(".."):
        return False
    return len(path.encode()) <= 4096 and all(len(p.encode()) <= 255 for p in parts)


def mount(raw: RawMountRequest):  # type: ignore[no-untyped-def]
    return asyncio.run(GATEWAY.service.mount(raw))


@PROFILE
@given(attributes, st.sampled_from(["420", "384", "", "x", "1000", "null"]), st.sampled_from(["null", "{}", "[]", '{"a": 1}', ""]))
def test_mount_answers_files_the_driver_accepts_or_one_typed_error(attributes_text: str, permission: str, secrets: str) -> None:
    try:
        result = mount(RawMountRequest(attributes_text, secrets, permission, "/var/lib/kubelet/pods/p/volumes/v"))
    except GatewayError as exc:
        assert exc.message and len(exc.message) < 20_000
        event(f"error {exc.status_name}")
        return
    event("mounted")
    paths = [f.path for f in result.files]
    assert result.files, "success always carries at least one file (and object version)"
    assert all(driver_accepts(p) for p in paths), paths
    assert len(set(paths)) == len(paths), "no two files share a path"
    directories = {"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)}
    assert not directories & set(paths), "no file sits where another file needs a directory"
    assert all(0 <= f.mode <= 0o777 for f in result.files)
    assert [v[0] for v in result.object_versions] == paths


@PROFILE
@given(parameters)
def test_parsing_only_raises_typed_errors(params: dict[str, str]) -> None:
    parsed = GATEWAY.planner.parse(params)
    assert all(isinstance(p, str) and p for p in parsed.problems)
