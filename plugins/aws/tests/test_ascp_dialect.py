"""The ASCP dialect: every ASCP validation message and reading rule, with the real AWS backends.

Table-driven against ASCP's documented behaviour (docs/aws.md, the shared ASCP compatibility
notes): YAML 1.1 scalars, filePermission as four octal digits, ARN routing and ARN checks.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import parsetransfer
from gateway.backend import Backend, BackendRegistry
from gateway.cache import CacheSettings, wrap_backends
from gateway.dialect import DialectRegistry
from gateway.metrics import Metrics
from gateway.model import FetchBatch, FetchOutcome, ObjectRef
from gateway.objects import parse_objects
from gateway.planner import Planner, check_locations
from gateway.settings import Settings
from gateway.workers import WorkerPool
from gateway_aws.arn import parse_arn, service_arns
from gateway_aws.ascp import AscpDialect
from gateway_aws.options import AwsOptions
from gateway_aws.runtime import AwsRuntime
from gateway_aws.secretsmanager import SecretsManagerBackend
from gateway_aws.ssm import SsmParameterBackend

SM_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf"
SM_ARN_WEST = "arn:aws:secretsmanager:us-west-2:111122223333:secret:prod/db-AbCdEf"
SSM_ARN = "arn:aws:ssm:us-east-1:111122223333:parameter/app/flags"
ASCP = AscpDialect()


class Plain(Backend):
    """A backend with no rules of its own (never fetched here)."""

    name = "fake"

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        raise AssertionError("parsing never fetches")


def aws_registry() -> BackendRegistry:
    runtime = AwsRuntime(AwsOptions.from_settings(Settings(), env={}))  # no I/O until a fetch
    registry = BackendRegistry()
    for backend in (SecretsManagerBackend(runtime), SsmParameterBackend(runtime), Plain()):
        registry.add(backend)
    return registry


REGISTRY = aws_registry()


def parse(objects: str, **parameters: str):
    return parse_objects({"objects": textwrap.dedent(objects), **parameters}, REGISTRY, dialect=ASCP)


def problems_of(objects: str, locations: tuple[str, ...] = ("us-east-1",), **parameters: str) -> list[str]:
    parsed = parse(objects, **parameters)
    if parsed.problems:
        return parsed.problems
    return check_locations(parsed.objects, {obj.backend: locations for obj in parsed.objects}, REGISTRY)


ASCP_MESSAGES = [
    pytest.param("- \n", "Empty descriptor entry in SecretProviderClass", id="empty-entry"),
    pytest.param("- objectType: secretsmanager\n", "Object name must be specified", id="no-name"),
    pytest.param("- objectName: arn:aws:secretsmanager\n", "Invalid ARN format in object name: arn:aws:secretsmanager", id="bad-arn"),
    pytest.param(
        "- {objectName: 'arn:aws:secretsmanager', objectType: secretsmanager}\n",
        "Invalid ARN format in object name: arn:aws:secretsmanager",
        id="bad-arn-with-type",
    ),
    pytest.param(f"- objectName: {SM_ARN_WEST}\n", f"ARN region must match region us-east-1: {SM_ARN_WEST}", id="arn-region"),
    pytest.param("- objectName: prod/db\n", "Must use objectType when a full ARN is not specified: prod/db", id="no-type"),
    pytest.param("- objectName: arn:aws:s3:us-east-1:1:bucket/key\n", "Invalid service in ARN: s3", id="arn-service"),
    pytest.param("- {objectName: x, objectType: nope}\n", "Invalid objectType: nope", id="unknown-type"),
    pytest.param("- {objectName: x, objectType: ssm}\n", "Invalid objectType: ssm", id="ssm-is-not-a-type"),
    pytest.param(
        f"- {{objectName: '{SM_ARN}', objectType: ssmparameter}}\n", f"objectType does not match ARN: {SM_ARN}", id="type-vs-arn"
    ),
    pytest.param(
        "- {objectName: /p, objectType: ssmparameter, objectVersion: '2', objectVersionLabel: l}\n",
        "ssm parameters can not specify both objectVersion and objectVersionLabel: /p",
        id="ssm-version-and-label",
    ),
    pytest.param(
        "- {objectName: ../secret, objectType: secretsmanager}\n", "path can not contain ../: ../secret", id="dotdot-translation-off"
    ),
    pytest.param("- {objectName: x, objectType: fake, filePermission: 0600}\n", "Invalid File Permission: 384", id="octal-trap"),
    pytest.param("- {objectName: x, objectType: fake, filePermission: '600'}\n", "Invalid File Permission: 600", id="three-digits"),
    pytest.param("- {objectName: x, objectType: fake, filePermission: rw}\n", "Invalid File Permission: rw", id="not-octal"),
    pytest.param("- {objectName: x, objectType: fake, filePermission: '0o644'}\n", "Invalid File Permission: 0o644", id="python-octal"),
    pytest.param(
        "- {objectName: x, objectType: fake, filePermission: '4755'}\n", "Invalid File Permission: 4755 (only 0000-0777", id="setuid"
    ),
    pytest.param(
        '- {objectName: x, objectType: fake, filePermission: "0600\\n"}\n', "Invalid File Permission: 0600\\n", id="trailing-newline"
    ),
    pytest.param(
        "- {objectName: x, objectType: fake, jmesPath: [{path: a, objectAlias: b, filePermission: '999'}]}\n",
        "Invalid File Permission: 999",
        id="jmes-permission",
    ),
    pytest.param(
        "- {objectName: x, objectType: secretsmanager, failoverObject: {objectName: y}}\n",
        "object alias must be specified for objects with failover entries: x",
        id="failover-needs-alias",
    ),
    pytest.param(
        "- {objectName: x, objectAlias: a, objectType: secretsmanager, failoverObject: {objectName: y}}\n",
        "failover object allowed only when failover region is defined: x",
        id="failover-needs-region",
    ),
    pytest.param(
        "- {objectName: x, objectAlias: a, objectType: secretsmanager, objectVersion: v1, "
        "failoverObject: {objectName: y, objectVersion: v2}}\n",
        "object versions must match between primary and failover regions: x",
        id="failover-version",
    ),
    pytest.param(
        f"- {{objectName: '{SM_ARN}', objectAlias: a, failoverObject: {{objectName: plain}}}}\n",
        'failoverObject: Must use objectType when a full ARN is not specified: plain',
        id="arn-routed-failover-needs-arn",
    ),
    pytest.param(
        f"- {{objectName: '{SM_ARN}', objectAlias: a, failoverObject: {{objectName: '{SSM_ARN}'}}}}\n",
        f"failoverObject: objectType does not match ARN: {SSM_ARN}",
        id="failover-arn-of-other-service",
    ),
]


@pytest.mark.parametrize(("objects", "expected"), ASCP_MESSAGES)
def test_ascp_messages(objects: str, expected: str, request: pytest.FixtureRequest) -> None:
    translation_off = request.node.callspec.id == "dotdot-translation-off"
    problems = problems_of(objects, **({"pathTranslation": "false"} if translation_off else {}))
    assert any(expected in problem for problem in problems), problems


def test_failover_arn_must_match_the_failover_region() -> None:
    objects = f"- {{objectName: '{SM_ARN}', objectAlias: a, failoverObject: {{objectName: '{SM_ARN}'}}}}\n"
    assert problems_of(objects, ("us-east-1", "us-west-2")) == [
        f'objects[0] "{SM_ARN}": ARN region must match region us-west-2: {SM_ARN}'
    ]


@pytest.mark.parametrize(
    ("objects", "check"),
    [
        pytest.param(f"- objectName: {SM_ARN}\n", lambda o: o.backend == "secretsmanager" and o.object_type == "", id="arn-routes"),
        pytest.param(f"- objectName: {SSM_ARN}\n", lambda o: o.backend == "ssmparameter", id="ssm-arn-routes"),
        pytest.param(
            "- {OBJECTNAME: x, objecttype: fake, ObjectVersion: 3, objectVersionLabel: yes}\n",
            lambda o: o.ref == ObjectRef("x", "3", "true"),
            id="yaml11-scalars-and-key-case",
        ),
        pytest.param("- {objectName: x, objectType: fake, objectVersion: 1.0}\n", lambda o: o.ref.version == "1", id="go-float"),
        pytest.param("- {objectName: x, objectType: fake, filePermission: '0600'}\n", lambda o: o.file_permission == 0o600, id="mode"),
        pytest.param("- {objectName: a/b, objectType: fake}\n", lambda o: o.file_name == "a/b", id="name-kept-for-translation"),
    ],
)
def test_parsed_objects(objects: str, check) -> None:  # type: ignore[no-untyped-def]
    parsed = parse(objects)
    assert parsed.problems == [] and parsed.translation == "_" and parsed.dialect == "ascp"
    assert check(parsed.objects[0])


@pytest.mark.parametrize(
    ("parameters", "default_type", "backend"),
    [
        pytest.param({}, "fake", "fake", id="server-default"),
        pytest.param({"defaultObjectType": "secretsmanager"}, "fake", "secretsmanager", id="spc-parameter-wins"),
    ],
)
def test_default_object_type_leaves_arns_to_their_service(parameters: dict[str, str], default_type: str, backend: str) -> None:
    text = f"- objectName: x\n- objectName: {SSM_ARN}\n- objectName: arn:aws:s3:us-east-1:1:b\n"
    parsed = parse_objects({"objects": text, **parameters}, REGISTRY, dialect=ASCP, default_type=default_type)
    assert parsed.problems == ['objects[2] "arn:aws:s3:us-east-1:1:b": Invalid service in ARN: s3']
    assert [o.backend for o in parsed.objects] == [backend, "ssmparameter"]


def test_provider_name_aws_chooses_the_ascp_dialect() -> None:
    dialects = DialectRegistry()
    dialects.add(ASCP)
    planner = Planner(REGISTRY, dialects=dialects, provider_name="aws")
    objects = {"objects": "- {objectName: x, objectType: fake, filePermission: 0600}\n"}
    assert planner.parse(objects).problems == ['objects[0] "x": Invalid File Permission: 384 (quote it: unquoted 0600 is the YAML number 384)']
    assert planner.parse({**objects, "dialect": "secrets-gateway"}).objects[0].file_permission == 0o600
    native = Planner(REGISTRY, dialects=dialects, provider_name="secrets-gateway")
    assert native.parse({**objects, "dialect": "ascp"}).problems != []


@given(st.lists(st.sampled_from(["arn", ":", "secretsmanager", "ssm", "aws", "x", "", "\n"]), max_size=12).map("".join))
def test_the_claimed_arn_pattern_reads_names_as_parse_arn_does(name: str) -> None:
    for service in ("secretsmanager", "ssm"):
        arn = parse_arn(name)
        assert (service_arns(service).match(name) is not None) == (arn is not None and arn.service == service), name


def test_an_ascp_class_of_arns_is_routed_in_a_parse_worker_behind_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The AWS backends claim their ARNs by pattern, so a large ASCP class whose objects omit ``objectType`` is parsed
    whole in a worker, not routed in the serving process (the cache in front of them keeps that)."""
    registry = aws_registry()
    wrap_backends(registry, CacheSettings(ttl=60), Metrics(), call_timeout=10)
    dialects = DialectRegistry()
    dialects.add(ASCP)
    objects = {"objects": "".join(f"- objectName: {arn}-{n}\n" for n in range(50) for arn in (SM_ARN, SSM_ARN)), "dialect": "ascp"}
    replies = []
    received = parsetransfer.received
    monkeypatch.setattr(parsetransfer, "received", lambda reply, registry: replies.append(reply) or received(reply, registry))
    pool = WorkerPool(size=1)
    try:
        there = Planner(registry, dialects=dialects, workers=pool).parse(objects, in_worker=True)
    finally:
        pool.close()
    here = Planner(registry, dialects=dialects).parse(objects)
    assert len(replies) == 1 and there.problems == [] == here.problems
    assert [(o.backend, o.ref) for o in there.objects] == [(o.backend, o.ref) for o in here.objects]
    assert [o.backend for o in there.objects[:2]] == ["secretsmanager", "ssmparameter"]
