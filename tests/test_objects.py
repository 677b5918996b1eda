"""Parsing and validating the objects list in the native dialect: the shared messages, routing by
claim, and the gateway's stricter checks (the ASCP dialect's are in plugins/aws/tests)."""

from __future__ import annotations

import textwrap

import pytest

from gateway.dialect import Dialect
from gateway.model import ExpandMode, FailoverMode, ObjectRef
from gateway.objects import parse_objects
from gateway.planner import check_locations
from gateway.yamlflavour import GO_YAML_V2
from tests.support import ScriptedBackend, registry_of, routing_like


def parse(objects: str, **parameters: str):
    return parse_objects({"objects": textwrap.dedent(objects), **parameters}, routing_like())


def problems_of(objects: str, locations: tuple[str, ...] = ("zone-a",), **parameters: str) -> list[str]:
    parsed = parse(objects, **parameters)
    if parsed.problems:
        return parsed.problems
    by_backend = {obj.backend: locations for obj in parsed.objects}
    return check_locations(parsed.objects, by_backend, routing_like())


MESSAGES = [
    pytest.param("- \n", "Empty descriptor entry in SecretProviderClass", id="empty-entry"),
    pytest.param("- objectType: fake\n", "Object name must be specified", id="no-name"),
    pytest.param(
        "- objectName: prod/db\n",
        'objectType is not set and no backend claims "prod/db": set objectType, or the parameter defaultObjectType',
        id="no-type",
    ),
    pytest.param("- {objectName: x, objectType: nope}\n", "Invalid objectType: nope", id="unknown-type"),
    pytest.param(
        "- {objectName: ../secret, objectType: store}\n",
        "path can not contain ../: ../secret",
        id="dotdot-translation-off",
    ),
    pytest.param(
        "- {objectName: /p, objectType: checked, objectVersion: '2', objectVersionLabel: l}\n",
        "checked objects pin a version or a label, not both: /p",
        id="backend-check",
    ),
    pytest.param("- {objectName: x, objectType: fake, filePermission: rw}\n", 'Invalid File Permission: rw (write the octal mode as 4 digits', id="not-octal"),
    pytest.param("- {objectName: x, objectType: fake, filePermission: '0800'}\n", 'Invalid File Permission: 0800', id="not-octal-digits"),
    pytest.param("- {objectName: x, objectType: fake, filePermission: '4755'}\n", "Invalid File Permission: 4755 (only 0000-0777", id="setuid"),
    pytest.param("- {objectName: x, objectType: fake, filePermission: \"0600\\n\"}\n", 'Invalid File Permission: 0600\\n', id="trailing-newline"),
    pytest.param(
        "- {objectName: x, objectType: fake, jmesPath: [{path: a, objectAlias: b, filePermission: '999'}]}\n",
        'jmesPath[0]: Invalid File Permission: 999',
        id="jmes-permission",
    ),
    pytest.param(
        "- {objectName: x, objectAlias: a, objectType: store, failoverObject: {objectName: y}}\n",
        "failover object allowed only when failover zone is defined: x",
        id="failover-needs-location",
    ),
    pytest.param(
        "- {objectName: x, objectAlias: a, objectType: store, objectVersion: v1, failoverObject: {objectName: y, objectVersion: v2}}\n",
        "object versions must match between primary and failover zones: x",
        id="failover-version",
    ),
    pytest.param(
        "- {objectName: 'store:a', objectAlias: a, failoverObject: {objectName: y}}\n",
        'failoverObject: objectType is not set and no backend claims "y"',
        id="claimed-failover-needs-claim",
    ),
    pytest.param(
        "- {objectName: x, objectType: fake, jmesPath: [{objectAlias: a}]}\n", "Path must be specified for JMES object", id="jmes-no-path"
    ),
    pytest.param(
        "- {objectName: x, objectType: fake, jmesPath: [{path: a}]}\n", "Object alias must be specified for JMES object", id="jmes-no-alias"
    ),
    pytest.param(
        "- {objectName: x, objectType: fake, jmesPath: [{path: '[.', objectAlias: b}]}\n", "Invalid JMES Path: [.", id="jmes-syntax"
    ),
    pytest.param(
        "- {objectName: x, objectType: store, failoverObject: {objectName: y}}\n",
        "object alias must be specified for objects with failover entries: x",
        id="failover-needs-alias",
    ),
    pytest.param(
        "- {objectName: x, objectType: fake, objectAlias: a}\n- {objectName: x, objectType: fake, objectAlias: a}\n",
        "found descriptor with duplicate object name x, duplicate object alias a, and no version label",
        id="duplicate-case-1",
    ),
    pytest.param(
        "- {objectName: x, objectType: fake, objectVersionLabel: l}\n- {objectName: x, objectType: fake, objectVersionLabel: l}\n",
        "found descriptor with duplicate object name x, no object alias, and duplicate version label l",
        id="duplicate-case-2",
    ),
    pytest.param(
        "- {objectName: x, objectType: fake, objectAlias: a, objectVersionLabel: l}\n"
        "- {objectName: x, objectType: fake, objectAlias: a, objectVersionLabel: l}\n",
        "found descriptor with duplicate object name x, duplicate object alias a, and duplicate version label l",
        id="duplicate-case-3",
    ),
    pytest.param(
        "- {objectName: x, objectType: fake}\n- {objectName: x, objectType: fake}\n",
        "found descriptor with duplicate object name x, no object alias, and no version label",
        id="duplicate-case-4",
    ),
    pytest.param(
        "- {objectName: x, objectType: fake, objectAlias: a}\n- {objectName: y, objectType: fake, objectAlias: a}\n",
        "found duplicate object alias a",
        id="duplicate-alias",
    ),
    pytest.param(
        "- {objectName: x, objectType: fake, objectAlias: a}\n"
        "- {objectName: y, objectType: fake, jmesPath: [{path: p, objectAlias: a}]}\n",
        "Name already in use for objectAlias: found duplicate object alias a in JMES path entry p",
        id="duplicate-jmes-alias",
    ),
    pytest.param(  # a later rule is not skipped because an earlier one failed
        "- {objectName: x, objectType: fake, objectAlias: a}\n"
        "- {objectName: y, objectType: fake, jmesPath: [{path: '[[', objectAlias: a}]}\n",
        "found duplicate object alias a in JMES path entry [[",
        id="duplicate-jmes-alias-with-invalid-path",
    ),
    pytest.param(
        "- {objectName: x, objectType: fake, objectAlias: a, filePermission: rw}\n- {objectName: y, objectType: fake, objectAlias: a}\n",
        "found duplicate object alias a",
        id="duplicate-alias-beside-another-problem",
    ),
    pytest.param("- {objectName: [unclosed\n", "Failed to load SecretProviderClass: ", id="yaml-syntax"),
    pytest.param("objectName: x\n", "Failed to load SecretProviderClass: objects must be a YAML list", id="not-a-list"),
]


@pytest.mark.parametrize(("objects", "expected"), MESSAGES)
def test_messages(objects: str, expected: str, request: pytest.FixtureRequest) -> None:
    translation_off = request.node.callspec.id == "dotdot-translation-off"
    problems = problems_of(objects, **({"pathTranslation": "false"} if translation_off else {}))
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        pytest.param({"pathTranslation": "ab"}, "pathTranslation must be either 'False' or a single character string", id="translation"),
        pytest.param({"failoverMode": "sometimes"}, 'failoverMode must be "on-error" (default) or "all"', id="failover-mode"),
    ],
)
def test_parameter_messages(parameters: dict[str, str], expected: str) -> None:
    problems = parse("- {objectName: x, objectType: fake}\n", **parameters).problems
    assert problems == [expected] or any(expected in p for p in problems), problems


STRICTER = [
    pytest.param(
        "- {objectName: a/b, objectType: fake}\n- {objectName: a_b, objectType: fake}\n",
        'file path "a_b" is also produced by objects[0] "a/b"',
        {},
        id="collision-after-translation",
    ),
    pytest.param(
        "- {objectName: db, objectType: fake}\n- {objectName: other, objectType: fake, objectAlias: db}\n",
        'file path "db" is also produced by objects[0] "db"',
        {},
        id="unaliased-name-equals-alias",
    ),
    pytest.param(
        "- {objectName: x, objectType: fake, jmesPath: [{path: p, objectAlias: ../../etc/cron.d/evil}]}\n",
        "path can not contain ../: ../../etc/cron.d/evil",
        {"pathTranslation": "False"},
        id="jmes-alias-traversal",
    ),
    pytest.param(
        "- {objectName: x, objectType: fake, jmesPath: [{path: p, objectAlias: ../x}]}\n",
        "starts with '..', which the driver reserves",
        {},
        id="jmes-alias-dotdot-translated",
    ),
    pytest.param(
        "- {objectName: x, objectType: fake, objectAlias: ..data}\n", "starts with '..'", {}, id="reserved-dotdot-data"
    ),
    pytest.param(
        "- {objectName: a, objectType: fake}\n- {objectName: a/b, objectType: fake}\n",
        'needs "a" as a directory',
        {"pathTranslation": "false"},
        id="file-where-directory-needed",
    ),
    pytest.param(
        "- {objectName: x, objectType: fake, objectAlias: 'a//b'}\n", "is not a clean relative path", {"pathTranslation": "false"}, id="unclean"
    ),
    pytest.param("- {objectName: x, objectType: fake, objectAlias: .}\n", "is not a clean relative path", {}, id="dot-alias"),
    pytest.param("- {objectName: \"a\\0b\", objectType: fake}\n", "contains a NUL character", {}, id="nul"),
    pytest.param(f"- {{objectName: {'x' * 256}, objectType: fake}}\n", "component longer than 255 bytes", {}, id="long-component"),
    pytest.param(
        "- {objectName: x, objectType: fake, objectAlias: flags, expandKeys: directory}\n- {objectName: flags, objectType: fake}\n",
        'file path "flags" is a directory of objects[0] "x"',
        {},
        id="expanded-directory-vs-file",
    ),
    pytest.param("- {objectName: x, ObjectName: y, objectType: fake}\n", 'key "ObjectName" is given twice', {}, id="key-twice"),
    pytest.param("- {objectName: [a, b], objectType: fake}\n", "field objectName must be a string, got a list", {}, id="name-list"),
    pytest.param("- {objectName: x, objectType: fake, expandKeys: maybe}\n", 'expandKeys must be "true"', {}, id="expand-value"),
    pytest.param("- {objectName: x, objectType: fake, encoding: rot13}\n", 'encoding must be "base64", "hex", "utf-8" or empty', {}, id="encoding"),
    pytest.param("- {objectName: x, objectType: fake, jmesPath: nope}\n", "jmesPath must be a list", {}, id="jmes-not-list"),
    pytest.param("- {objectName: x, objectType: fake, failoverObject: [1]}\n", "failoverObject must be a mapping", {}, id="failover-not-map"),
    pytest.param("- just a string\n", "an object descriptor must be a mapping", {}, id="entry-not-mapping"),
    pytest.param("- {objectName: !!set {a: null}, objectType: fake}\n", "field objectName must be a string, got a set", {}, id="name-set"),
    pytest.param(
        "- {objectName: \"invoice\\u202egnp.exe\", objectType: fake, objectAlias: ..x}\n", 'objects[0] "invoice\\u202egnp.exe"', {},
        id="bidi-override-escaped",
    ),
    pytest.param(f"- {{objectName: x, objectType: fake, jmesPath: [{{path: {'a' * 1025}, objectAlias: y}}]}}\n",
                 "(longer than 1024 characters)", {}, id="jmes-path-too-long"),
]


@pytest.mark.parametrize(("objects", "expected", "parameters"), STRICTER)
def test_stricter_than_the_go_providers(objects: str, expected: str, parameters: dict[str, str]) -> None:
    problems = problems_of(objects, **parameters)
    assert any(expected in problem for problem in problems), problems


def test_every_problem_is_reported_with_its_object() -> None:
    problems = parse(
        """
        - {objectName: a, objectType: fake, filePermission: '9'}
        - {objectName: b, objectType: nope}
        - {objectName: c, objectType: fake, encoding: rot13}
        """
    ).problems
    assert [p.split(":")[0] for p in problems] == ['objects[0] "a"', 'objects[1] "b"', 'objects[2] "c"']


def test_too_many_objects_is_refused_before_parsing_each() -> None:
    objects = "".join(f"- {{objectName: o{i}, objectType: fake}}\n" for i in range(11))
    parsed = parse_objects({"objects": objects}, routing_like(), max_objects=10)
    assert parsed.problems == ["too many objects: 11 listed, the limit is 10 per mount"]


def test_unknown_keys_warn_or_fail_in_strict_mode() -> None:
    objects = "- {objectName: x, objectType: fake, objectTemplate: '{{.}}'}\n"
    relaxed = parse_objects({"objects": objects}, routing_like())
    strict = parse_objects({"objects": objects}, routing_like(), strict=True)
    assert relaxed.problems == [] and relaxed.warnings == ['objects[0] "x": unknown key "objectTemplate" ignored']
    assert strict.problems == ['objects[0] "x": unknown key "objectTemplate" (strict mode)']


def test_backend_options_are_collected_case_insensitively() -> None:
    registry = routing_like()
    registry.get("fake").object_options = frozenset({"secretPath"})  # type: ignore[union-attr]
    parsed = parse_objects({"objects": "- {objectName: x, objectType: fake, SECRETPATH: kv/app}\n"}, registry)
    assert parsed.problems == [] and parsed.warnings == []
    assert dict(parsed.objects[0].options) == {"secretpath": "kv/app"}


@pytest.mark.parametrize(
    ("objects", "check"),
    [
        pytest.param("- objectName: 'store:db'\n", lambda o: o.backend == "store" and o.object_type == "", id="claimed-routes"),
        pytest.param(
            "- {OBJECTNAME: x, objecttype: fake, ObjectVersion: 3, objectVersionLabel: yes}\n",
            lambda o: o.ref == ObjectRef("x", "3", "yes"),
            id="yaml12-scalars-as-written-and-key-case",
        ),
        pytest.param("- {objectName: x, objectType: fake, objectVersion: 1.0}\n", lambda o: o.ref.version == "1.0", id="float-as-written"),
        pytest.param("- {objectName: x, objectType: fake, filePermission: '0600'}\n", lambda o: o.file_permission == 0o600, id="mode"),
        pytest.param("- {objectName: x, objectType: fake, filePermission: 0600}\n", lambda o: o.file_permission == 0o600, id="mode-unquoted"),
        pytest.param("- {objectName: x, objectType: fake, filePermission: 0o640}\n", lambda o: o.file_permission == 0o640, id="mode-0o"),
        pytest.param(
            "- {objectName: x, objectType: fake, expandKeys: 'true', expandKeysSeparator: '.'}\n",
            lambda o: o.expand.mode is ExpandMode.PREFIX and o.expand.separator == ".",
            id="expand-prefix",
        ),
        pytest.param("- {objectName: x, objectType: fake, encoding: BASE64}\n", lambda o: o.encoding == "base64", id="encoding"),
        pytest.param(
            "- {objectName: x, objectAlias: a, objectType: fake, failoverObject: {objectName: z, objectVersionLabel: b}}\n",
            lambda o: o.failover_ref == ObjectRef("z", "", "b") and o.ref_at(1).name == "z" and o.ref_at(0).name == "x",
            id="failover-ref",
        ),
        pytest.param("- {objectName: x, objectType: fake, failoverObject: {objectVersion: '1'}}\n", lambda o: o.failover_ref is None, id="nameless-failover-ignored"),
        pytest.param(  # the short way for a name and a type gives what the long way gives
            "- {objectName: x, objectType: fake}\n",
            lambda o: o == parse("- {objectName: x, objectType: fake, objectAlias: ''}\n").objects[0]
            and o.ref == ObjectRef("x") and o.options == {} and o.jmes == () and o.expand is None,
            id="name-and-type-only",
        ),
    ],
)
def test_parsed_objects(objects: str, check) -> None:  # type: ignore[no-untyped-def]
    parsed = parse(objects)
    assert parsed.problems == []
    assert check(parsed.objects[0])


@pytest.mark.parametrize(
    ("value", "mode"),
    [pytest.param("", FailoverMode.ON_ERROR, id="default"), pytest.param("ALL", FailoverMode.ALL, id="all"), pytest.param("on-error", FailoverMode.ON_ERROR, id="on-error")],
)
def test_failover_mode(value: str, mode: FailoverMode) -> None:
    assert parse("- {objectName: x, objectType: fake}\n", failoverMode=value).failover_mode is mode


@pytest.mark.parametrize(
    ("objects", "translation"),
    [pytest.param("", "_", id="absent"), pytest.param("[]", "_", id="empty-list"), pytest.param("~", "_", id="null")],
)
def test_no_objects_is_not_a_parse_error(objects: str, translation: str) -> None:
    parsed = parse(objects)
    assert parsed.problems == [] and parsed.objects == [] and parsed.translation == translation


def test_structured_backend_options_arrive_as_json_text() -> None:
    registry = routing_like()
    fake = registry.get("fake")
    fake.object_options = frozenset({"secretArgs", "secretKey"})  # type: ignore[union-attr]
    fake.structured_options = frozenset({"secretArgs"})  # type: ignore[union-attr]
    parsed = parse_objects(
        {"objects": "- {objectName: x, objectType: fake, secretArgs: {common_name: a.b, ttl: 1h}, secretKey: [1]}\n"}, registry
    )
    assert parsed.problems == ['objects[0] "x": Failed to load SecretProviderClass: field secretKey must be a string, got a list']
    parsed = parse_objects({"objects": "- {objectName: x, objectType: fake, secretArgs: {common_name: a.b, ttl: 1h}}\n"}, registry)
    assert dict(parsed.objects[0].options) == {"secretargs": '{"common_name": "a.b", "ttl": "1h"}'}


@pytest.mark.parametrize(
    ("parameters", "default_type", "backend"),
    [
        pytest.param({}, "fake", "fake", id="server-default"),
        pytest.param({"defaultObjectType": "checked"}, "fake", "checked", id="spc-parameter-wins"),
    ],
)
def test_default_object_type(parameters: dict[str, str], default_type: str, backend: str) -> None:
    parsed = parse_objects({"objects": "- objectName: x\n- objectName: 'store:y'\n", **parameters}, routing_like(), default_type=default_type)
    assert parsed.problems == []
    assert [o.backend for o in parsed.objects] == [backend, "store"]  # claimed names still route to their claimant


def test_two_backends_claiming_one_name_is_a_problem() -> None:
    registry = routing_like()
    registry.get("fake").claimed_prefix = "store:"  # type: ignore[union-attr]
    parsed = parse_objects({"objects": "- objectName: 'store:x'\n"}, registry)
    assert parsed.problems == ['objects[0] "store:x": "fake" and "store" both claim this name: set objectType']


@pytest.mark.parametrize(
    ("count", "expected_tail"),
    [
        pytest.param(5, "", id="five-all-in-full"),
        pytest.param(6, '; and 1 more problem in objects[5] "o5" (run', id="six-one-named"),
        pytest.param(12, '; and 7 more problems in objects[5] "o5", objects[6] "o6", objects[7] "o7", objects[8] "o8", '
                     'objects[9] "o9", objects[10] "o10", objects[11] "o11" (run', id="twelve-every-one-named"),
    ],
)
def test_summary_names_every_object_with_a_problem(count: int, expected_tail: str) -> None:
    from gateway.planner import summarize

    problems = problems_of("".join(f"- {{objectName: o{i}, objectType: nope}}\n" for i in range(count)))
    message = summarize(problems)
    assert message.count("Invalid objectType") == min(count, 5)
    assert expected_tail in message


class _GoYamlV2(Dialect):
    name = "go-yaml-v2-test"
    yaml = GO_YAML_V2


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        pytest.param("{b: 1, a: [2]}", {"tags": '{"a": [2], "b": 1}'}, id="strings"),
        pytest.param("{n: 1, a: 2}", None, id="string-beside-unquoted-no"),
        pytest.param("{1: a, 2: b}", {"tags": '{"1": "a", "2": "b"}'}, id="numbers"),
    ],
)
def test_a_structured_option_is_json_or_a_problem_never_a_crash(tags: str, expected: dict[str, str] | None) -> None:
    backend = ScriptedBackend(name="tagged", object_options=frozenset({"tags"}))
    backend.structured_options = frozenset({"tags"})
    parsed = parse_objects({"objects": f"- {{objectName: x, objectType: tagged, tags: {tags}}}\n"}, registry_of(backend), dialect=_GoYamlV2())
    if expected is None:
        assert parsed.problems == [
            'objects[0] "x": Failed to load SecretProviderClass: field tags holds a mapping whose keys mix strings and other scalars: quote them'
        ]
    else:
        assert parsed.problems == [] and dict(parsed.objects[0].options) == expected
