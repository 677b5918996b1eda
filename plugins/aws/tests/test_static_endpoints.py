"""The plugin's own calls decided without botocore (gateway_aws.endpoints) are botocore's own decisions.

Each case compares :class:`StaticEndpoints` with a dry run of botocore's client as the plugin builds it (the
fallback path, ``decided_by_botocore``): every region of every partition in botocore's partitions and endpoint data
(and names that only a partition's pattern matches) with FIPS (flag or variable) and dual-stack each on and off, for
each operation the plugin sends itself; the endpoint variables; the protocol facts, blob members and parameter
checks against botocore's models; the CA bundle. Where botocore's settings or data are outside what is proven
(a shared config file, a profile, another data path, a file missing or malformed, a region of unknown shape), the
decision is left to botocore, and a call still works — by botocore's dry run.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import botocore.httpsession
import pytest
from botocore.configprovider import ConfiguredEndpointProvider
from botocore.exceptions import ParamValidationError
from botocore.loaders import Loader
from botocore.validate import ParamValidator

from gateway.plugin import InvalidArgument, Metrics
from gateway.testing import mount_request
from gateway_aws import __version__
from gateway_aws.clients import AwsClients, Credentials
from gateway_aws.endpointrules import partition_of
from gateway_aws.endpoints import BLOBS, LEGACY_VARIANTS, MIN_LENGTHS, OWN_USER_AGENT, SERVICES, Decided, StaticEndpoints, api_version, invalid_parameters
from gateway_aws.errors import classify
from gateway_aws.jsoncalls import blob_paths, decided_by_botocore
from gateway_aws.options import AwsOptions
from gateway_aws.testing import PRIMARY, AwsWorld
from gateway_aws.webidentity import OPERATION, PROBE
from gateway_vault.testing.certs import ThrowawayPki  # a throwaway CA (the vault plugin's test kit)

#: each operation the plugin sends itself, with parameters for botocore's dry run
OPERATIONS = [
    ("secretsmanager", "GetSecretValue", {"SecretId": "db"}),
    ("secretsmanager", "BatchGetSecretValue", {"SecretIdList": ["db"]}),
    ("ssm", "GetParameters", {"Names": ["/p"], "WithDecryption": True}),
    ("sts", OPERATION, PROBE),
]
BUILTIN = Loader()
PARTITIONS = BUILTIN.load_data("partitions")["partitions"]
LISTED = sorted(
    {region for partition in PARTITIONS for region in partition["regions"]}
    | {region for partition in BUILTIN.load_data("endpoints")["partitions"] for region in partition["regions"]}
)
#: listed names no partition's pattern matches (aws-global, aws-cn-global …: botocore's older data gives some of
#: them another signing region): left to botocore
PSEUDO = [region for region in LISTED if not any(re.match(partition["regionRegex"], region) for partition in PARTITIONS)]
REGIONAL = [region for region in LISTED if region not in PSEUDO]
#: names no partition lists but one's pattern matches (a region newer than the data)
UNLISTED = ["us-west-9", "eu-north-7", "cn-south-5", "us-gov-central-1", "us-iso-north-3", "us-isob-south-2", "eusc-de-west-4"]
#: names no partition knows (botocore would assume aws), or not plain names: left to botocore
UNKNOWN = [*PSEUDO, "local", "fips-us-east-1", "us-east-1-fips", "moon-base-1", "US-EAST-1", "a_b", "1234"]
VARIANTS = [  # (id, plugin options, environment)
    ("plain", {}, {}),
    ("fips-flag", {"use_fips_endpoint": True}, {}),
    ("fips-env", {}, {"AWS_USE_FIPS_ENDPOINT": "true"}),
    ("dualstack", {}, {"AWS_USE_DUALSTACK_ENDPOINT": "true"}),
    ("fips-flag-dualstack", {"use_fips_endpoint": True}, {"AWS_USE_DUALSTACK_ENDPOINT": "TRUE"}),
    ("fips-env-dualstack", {}, {"AWS_USE_FIPS_ENDPOINT": "True", "AWS_USE_DUALSTACK_ENDPOINT": "true"}),
]
EXECUTOR = ThreadPoolExecutor(2)
_BOTOCORE: dict[str, AwsClients] = {}  # one plugin client set per variant: its botocore clients are built once per region


@pytest.fixture(autouse=True)
def no_endpoint_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "world" not in request.fixturenames:  # the conftest's stray-call guard: these cases set their own
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def botocore_clients(variant: str, options: dict[str, Any]) -> AwsClients:
    if variant not in _BOTOCORE:
        _BOTOCORE[variant] = AwsClients(AwsOptions(**options), Metrics(), EXECUTOR)
    return _BOTOCORE[variant]


async def botocore_decides(clients: AwsClients, service: str, region: str, operation: str, params: dict[str, Any]) -> Decided | None:
    """What the plugin's botocore path decides (None when botocore refuses: its own error rule, an invalid endpoint)."""
    try:
        client = await clients.client(region, service)
        dry = await clients.json_calls.requests.dry_run(client, operation, params)
    except Exception as exc:  # botocore's refusal, whatever its type: the static path must leave it to botocore
        print(f"botocore refuses {service} {operation} in {region}: {type(exc).__name__}: {exc}")
        return None
    decided = decided_by_botocore(dry, client)
    if service == "sts":
        assert dry.request["body"]["Version"] == api_version("sts")
    return decided


def static_decides(options: dict[str, Any], service: str, region: str, operation: str) -> Decided | None:
    static = StaticEndpoints(bool(options.get("use_fips_endpoint")))
    return static.sts_call(region, operation) if service == "sts" else static.json_call(service, region, operation)


def without_user_agent(decided: Decided) -> Decided:
    return Decided(decided.url, {k: v for k, v in decided.headers.items() if k != "User-Agent"}, decided.signing_name, decided.signing_region)


def cases(regions: list[str]) -> Iterator[Any]:
    for region in regions:
        for variant, options, env in VARIANTS:
            for service, operation, params in OPERATIONS:
                yield pytest.param(region, variant, options, env, service, operation, params, id=f"{region}-{variant}-{operation}")


@pytest.mark.parametrize(("region", "variant", "options", "env", "service", "operation", "params"), [*cases(REGIONAL), *cases(UNLISTED)])
async def test_every_region_is_decided_as_botocore_does(
    monkeypatch: pytest.MonkeyPatch, region: str, variant: str, options: dict[str, Any], env: dict[str, str], service: str,
    operation: str, params: dict[str, Any],
) -> None:  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    theirs = await botocore_decides(botocore_clients(variant, options), service, region, operation, params)
    ours = static_decides(options, service, region, operation)
    if theirs is None:
        assert ours is None
        return
    if ours is None:  # left to botocore although it decides: only a variant the table does not vouch for
        assert variant_of(options, env) not in LEGACY_VARIANTS[partition_of({"partitions": PARTITIONS}, region)["name"]]
        return
    assert without_user_agent(ours) == without_user_agent(theirs)
    assert ours.headers["User-Agent"] == OWN_USER_AGENT


def variant_of(options: dict[str, Any], env: dict[str, str]) -> frozenset[str]:
    fips = bool(options.get("use_fips_endpoint")) or env.get("AWS_USE_FIPS_ENDPOINT", "").lower() == "true"
    return frozenset(name for name, on in (("fips", fips), ("dualstack", "AWS_USE_DUALSTACK_ENDPOINT" in env)) if on)


@pytest.mark.parametrize("region", UNKNOWN)
@pytest.mark.parametrize(("service", "operation", "params"), [pytest.param(*op, id=op[1]) for op in OPERATIONS])
def test_a_region_of_no_partitions_pattern_is_left_to_botocore(region: str, service: str, operation: str, params: dict[str, Any]) -> None:
    assert static_decides({}, service, region, operation) is None


ENDPOINT_CASES = [
    pytest.param({"AWS_ENDPOINT_URL": "http://localhost:4566"}, id="global"),
    pytest.param({"AWS_ENDPOINT_URL": "http://127.0.0.1:4566/"}, id="global-slash"),
    pytest.param({"AWS_ENDPOINT_URL": "https://proxy.example.com/aws"}, id="global-path"),
    pytest.param({"AWS_ENDPOINT_URL": "https://proxy.example.com:8443/aws/"}, id="global-path-slash"),
    pytest.param({"AWS_ENDPOINT_URL": "http://[::1]:4566"}, id="global-ipv6"),
    pytest.param({"AWS_ENDPOINT_URL": "https://example.com:443"}, id="global-default-port"),
    pytest.param({"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://sm:1", "AWS_ENDPOINT_URL_SSM": "http://ssm:2", "AWS_ENDPOINT_URL_STS": "http://sts:3"},
                 id="per-service"),
    pytest.param({"AWS_ENDPOINT_URL": "http://global:1", "AWS_ENDPOINT_URL_SSM": "http://ssm:2"}, id="service-over-global"),
    pytest.param({"AWS_ENDPOINT_URL": "http://global:1", "AWS_ENDPOINT_URL_SSM": ""}, id="empty-service-then-global"),
    pytest.param({"AWS_ENDPOINT_URL": ""}, id="empty-global"),
    pytest.param({"AWS_ENDPOINT_URL": "http://global:1", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}, id="ignored"),
    pytest.param({"AWS_ENDPOINT_URL_STS": "http://sts:3", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "TRUE"}, id="ignored-service"),
    pytest.param({"AWS_ENDPOINT_URL": "http://global:1", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "false"}, id="not-ignored"),
    pytest.param({"AWS_ENDPOINT_URL": "http://global:1", "AWS_USE_FIPS_ENDPOINT": "true"}, id="endpoint-over-fips"),
    pytest.param({"AWS_ENDPOINT_URL": "http://global:1", "AWS_USE_DUALSTACK_ENDPOINT": "true"}, id="endpoint-over-dualstack"),
    pytest.param({"AWS_ENDPOINT_URL": "localhost:4566"}, id="no-scheme"),
    pytest.param({"AWS_ENDPOINT_URL": "http://h:1/?x=1"}, id="query"),
    pytest.param({"AWS_ENDPOINT_URL": "http://user@h:1"}, id="userinfo"),
    pytest.param({"AWS_ENDPOINT_URL": "HTTP://h:1"}, id="upper-scheme"),
    pytest.param({"AWS_ENDPOINT_URL": " http://h:1"}, id="space"),
    pytest.param({"AWS_STS_REGIONAL_ENDPOINTS": "regional"}, id="sts-regional"),
    pytest.param({"AWS_STS_REGIONAL_ENDPOINTS": "legacy"}, id="sts-legacy"),
]  # fmt: skip


PLAIN_URL = re.compile(r"https?://[a-z0-9.]+(:[0-9]+)?(/[a-z/]*)?|http://\[::1\]:4566|")  # every case's URL the static path reads


@pytest.mark.parametrize("env", ENDPOINT_CASES)
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1", "us-iso-east-1", "aws-global"])
@pytest.mark.parametrize(("service", "operation", "params"), [pytest.param(*op, id=op[1]) for op in OPERATIONS])
async def test_endpoint_variables_are_read_as_botocore_reads_them(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], region: str, service: str, operation: str, params: dict[str, Any]
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    theirs = await botocore_decides(AwsClients(AwsOptions(), Metrics(), EXECUTOR), service, region, operation, params)
    ours = static_decides({}, service, region, operation)
    if ours is None:  # left to botocore: a pseudo-region, or a setting the static path does not read
        assert (
            region in PSEUDO
            or (service == "sts" and "legacy" in env.values())
            or any(not PLAIN_URL.fullmatch(v) for k, v in env.items() if "ENDPOINT_URL" in k)
            or variant_of({}, env) not in LEGACY_VARIANTS[partition_of({"partitions": PARTITIONS}, region)["name"]]
        )
        return
    assert theirs is not None and without_user_agent(ours) == without_user_agent(theirs)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_protocol_facts_are_botocores_model(service: str) -> None:
    model = BUILTIN.load_service_model(service, "service-2")["metadata"]
    ours = SERVICES[service]
    assert (ours.api_version, ours.protocol) == (model["apiVersion"], model["protocol"])
    assert ours.signing_name == model.get("signingName", model["endpointPrefix"])
    assert (ours.target_prefix, ours.json_version) == ((model["targetPrefix"], model["jsonVersion"]) if ours.protocol == "json" else ("", ""))
    assert api_version(service) == model["apiVersion"]
    provider = ConfiguredEndpointProvider(full_config={}, scoped_config={}, client_name=service)
    assert provider._get_service_env_var_name() == f"AWS_ENDPOINT_URL_{ours.env_name}"


@pytest.mark.parametrize(("service", "operation"), [pytest.param(*key, id="-".join(key)) for key in BLOBS])
async def test_the_blob_members_are_botocores(service: str, operation: str) -> None:
    client = await botocore_clients("plain", {}).client(PRIMARY, service)
    assert BLOBS[(service, operation)] == blob_paths(client, operation)


@pytest.mark.parametrize(("service", "operation"), [pytest.param(*key, id="-".join(key)) for key in MIN_LENGTHS])
def test_the_minimum_lengths_are_botocores(service: str, operation: str) -> None:
    shape = botocore_clients("plain", {})._botocore_session().get_service_model(service).operation_model(operation).input_shape
    for name, least in MIN_LENGTHS[(service, operation)].items():
        member = shape.members[name.removesuffix("[]")]
        assert (member.member if name.endswith("[]") else member).metadata["min"] == least, name


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        pytest.param("secretsmanager", "GetSecretValue", {"SecretId": "db", "VersionId": "v1"}, id="short-version"),
        pytest.param("secretsmanager", "GetSecretValue", {"SecretId": "", "VersionStage": ""}, id="empty-id-and-stage"),
        pytest.param("secretsmanager", "BatchGetSecretValue", {"SecretIdList": ["a", "", "b", ""]}, id="empty-ids"),
        pytest.param("secretsmanager", "BatchGetSecretValue", {"SecretIdList": []}, id="no-ids"),
        pytest.param("ssm", "GetParameters", {"Names": ["", "/p"], "WithDecryption": True}, id="empty-name"),
        pytest.param("ssm", "GetParameters", {"Names": ["/p"], "WithDecryption": True}, id="valid"),
    ],
)
def test_parameters_are_refused_with_botocores_words(service: str, operation: str, params: dict[str, Any]) -> None:
    shape = botocore_clients("plain", {})._botocore_session().get_service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    ours = invalid_parameters(service, operation, params)
    if not report.has_errors():
        assert ours is None
        return
    assert ours is not None
    theirs = classify(ParamValidationError(report=report.generate_report()), operation)
    assert f"{operation}: request refused before sending: {' '.join(ours.split())}" == theirs.message


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({}, id="default"),
        pytest.param({"AWS_CA_BUNDLE": "/etc/aws-ca.pem"}, id="aws-ca-bundle"),
        pytest.param({"REQUESTS_CA_BUNDLE": "/etc/requests-ca.pem"}, id="requests-ca-bundle"),
        pytest.param({"AWS_CA_BUNDLE": "/etc/aws-ca.pem", "REQUESTS_CA_BUNDLE": "/etc/requests-ca.pem"}, id="both"),
        pytest.param({"AWS_CA_BUNDLE": "", "REQUESTS_CA_BUNDLE": "/etc/requests-ca.pem"}, id="empty-aws-ca-bundle"),
    ],
)
def test_the_ca_bundle_is_botocores(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    clients = AwsClients(AwsOptions(), Metrics(), EXECUTOR)
    assert StaticEndpoints(False).ca_bundle() == clients.botocore_ca_bundle()
    if not env:
        assert clients.botocore_ca_bundle() == botocore.httpsession.get_cert_path(True)


def test_the_user_agent_names_the_gateway_and_the_platform() -> None:
    python = ".".join(map(str, sys.version_info[:3]))
    assert re.fullmatch(rf"secrets-gateway/{re.escape(__version__)} ua/2\.1 os/{sys.platform} lang/python#{python} md/pyimpl#\w+", OWN_USER_AGENT)
    assert "Botocore/" not in OWN_USER_AGENT


# -- outside what is proven: botocore decides


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return Path(os.environ["HOME"])  # the conftest's per-test HOME


UNSUPPORTED = [
    pytest.param({"AWS_PROFILE": "dev"}, None, id="profile"),
    pytest.param({"AWS_DEFAULT_PROFILE": "dev"}, None, id="default-profile"),
    pytest.param({"AWS_DATA_PATH": "/opt/models"}, None, id="data-path"),
    pytest.param({"AWS_SDK_UA_APP_ID": "shop"}, None, id="app-id"),
    pytest.param({}, "AWS_CONFIG_FILE", id="config-file"),
    pytest.param({}, "AWS_SHARED_CREDENTIALS_FILE", id="credentials-file"),
    pytest.param({}, "~/.aws/config", id="default-config-file"),
    pytest.param({}, "~/.aws/models", id="customer-models"),
]


def make_file(home: Path, file: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if file is None:
        return
    if file.startswith("~/"):
        monkeypatch.delenv("AWS_CONFIG_FILE")  # the conftest's: the default path applies
        path = home / file[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir() if path.name == "models" else path.write_text("[default]\n")
        return
    path = home / f"{file.lower()}.ini"
    path.write_text("[default]\n")
    monkeypatch.setenv(file, str(path))


@pytest.mark.parametrize(("env", "file"), UNSUPPORTED)
def test_settings_only_botocore_reads_leave_every_decision_to_it(
    monkeypatch: pytest.MonkeyPatch, home: Path, env: dict[str, str], file: str | None
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    make_file(home, file, monkeypatch)
    static = StaticEndpoints(False)
    assert static.json_call("secretsmanager", PRIMARY, "GetSecretValue") is None
    assert static.sts_call(PRIMARY, OPERATION) is None
    assert static.url("ssm", PRIMARY) is None
    assert static.ca_bundle() is None
    assert not static.warm_up()


def botocore_data_copy(tmp_path: Path) -> Path:
    """A package directory holding a copy of the data files the static path reads."""
    package = tmp_path / "botocore"
    for name in ["partitions.json"] + [f"{s}/{m.api_version}/endpoint-rule-set-1.json.gz" for s, m in SERVICES.items()]:
        (package / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(Loader.BUILTIN_DATA_PATH) / name, package / "data" / name)
    return package


BROKEN = [
    pytest.param("partitions.json", None, id="partitions-missing"),
    pytest.param("partitions.json", b"{not json", id="partitions-not-json"),
    pytest.param("partitions.json", b'{"partitions": [{"id": "aws"}]}', id="partitions-shape"),
    pytest.param("secretsmanager/2017-10-17/endpoint-rule-set-1.json.gz", None, id="rules-missing"),
    pytest.param("secretsmanager/2017-10-17/endpoint-rule-set-1.json.gz", b"not gzip", id="rules-not-gzip"),
    pytest.param("secretsmanager/2017-10-17/endpoint-rule-set-1.json.gz", gzip.compress(b"[1, 2"), id="rules-truncated"),
    pytest.param("secretsmanager/2017-10-17/endpoint-rule-set-1.json.gz", gzip.compress(b'{"parameters": {}, "rules": 7}'), id="rules-shape"),
    pytest.param("secretsmanager/2017-10-17/endpoint-rule-set-1.json.gz",
                 gzip.compress(json.dumps({"parameters": {"Region": {"builtIn": "AWS::Region", "type": "string"}},
                                           "rules": [{"conditions": [{"fn": "parseURL", "argv": ["x"]}], "endpoint": {"url": "https://x"},
                                                      "type": "endpoint"}]}).encode()), id="rules-unknown-function"),
    pytest.param("secretsmanager/2017-10-17/endpoint-rule-set-1.json.gz",
                 gzip.compress(json.dumps({"parameters": {"AccountId": {"builtIn": "AWS::Auth::AccountId", "type": "string"}},
                                           "rules": []}).encode()), id="rules-unknown-parameter"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content"), BROKEN)
def test_a_data_file_missing_or_malformed_leaves_the_decision_to_botocore(tmp_path: Path, name: str, content: bytes | None) -> None:
    assert StaticEndpoints(False, data_dir=str(botocore_data_copy(tmp_path / "intact"))).json_call("secretsmanager", PRIMARY, "GetSecretValue")
    package = botocore_data_copy(tmp_path / "broken")
    target = package / "data" / name
    if content is None:
        target.unlink()
    else:
        target.write_bytes(content)
    assert StaticEndpoints(False, data_dir=str(package)).json_call("secretsmanager", PRIMARY, "GetSecretValue") is None


# -- end to end against moto: the same answers either way

POD = Credentials("AKIAPODPODPODPOD0001", "pod-secret", "pod-session-token")


@pytest.fixture
async def clients() -> AsyncIterator[AwsClients]:
    created = AwsClients(AwsOptions(max_attempts=1), Metrics(), EXECUTOR)
    yield created
    await created.json_calls.aclose()


async def fetch_twice(clients: AwsClients) -> list[Any]:
    answer = await clients.call(PRIMARY, "secretsmanager", "BatchGetSecretValue", "secretsmanager", "apps", POD, SecretIdList=["db"])
    again = await clients.call(PRIMARY, "ssm", "GetParameters", "ssmparameter", "apps", POD, Names=["/p"], WithDecryption=True)
    return [answer["SecretValues"][0]["SecretBinary"], again["Parameters"][0]["Value"]]


async def test_on_defaults_the_calls_are_decided_without_botocore(world: AwsWorld, clients: AwsClients) -> None:
    world.secret("db", b"\x00binary")
    world.parameter("/p", "ssm")
    assert await fetch_twice(clients) == [b"\x00binary", "ssm"]
    assert {c.user_agent for c in world.proxy.calls} == {OWN_USER_AGENT}
    assert clients.cached(PRIMARY, "secretsmanager") is None and clients.cached(PRIMARY, "ssm") is None  # no botocore client built


@pytest.mark.parametrize("why", ["config-file", "malformed-data"])
async def test_where_botocore_decides_the_answers_are_the_same(world: AwsWorld, clients: AwsClients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, why: str) -> None:
    world.secret("db", b"\x00binary")
    world.parameter("/p", "ssm")
    if why == "config-file":
        (tmp_path / "config").write_text("[default]\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    else:
        package = botocore_data_copy(tmp_path)
        (package / "data" / "partitions.json").write_text("{")
        clients.static.data_dir = str(package)
    assert await fetch_twice(clients) == [b"\x00binary", "ssm"]
    assert world.proxy.calls and all("Botocore/" in c.user_agent and "secrets-gateway/" in c.user_agent for c in world.proxy.calls)


async def test_parameters_botocore_refuses_are_refused_on_every_call(world: AwsWorld, clients: AwsClients) -> None:
    for _ in range(2):
        with pytest.raises(InvalidArgument, match="GetSecretValue: request refused before sending: Parameter validation failed: Invalid length for parameter VersionId, value: 2, valid min length: 32"):
            await clients.call(PRIMARY, "secretsmanager", "GetSecretValue", "secretsmanager", "apps", POD, SecretId="db", VersionId="v1")
    assert world.proxy.calls == []


async def test_aws_real_endpoints_decided_without_botocore_are_reached_through_the_https_proxy(
    world: AwsWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No endpoint variable: the static path sends to ``https://sts.us-east-1.amazonaws.com/`` and the others, and only
    the way there is redirected — ``HTTPS_PROXY`` (the counting proxy, ending TLS with a throwaway CA's certificate
    for ``*.us-east-1.amazonaws.com``) and ``AWS_CA_BUNDLE`` (that CA)."""
    pki = ThrowawayPki.create(tmp_path / "pki", server_name=f"*.{PRIMARY}.amazonaws.com")
    world.proxy.terminate_tunnels(str(pki.server_cert), str(pki.server_key))
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("HTTPS_PROXY", world.proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the Kubernetes API
    monkeypatch.setenv("AWS_CA_BUNDLE", str(pki.ca))
    world.secret("db", "sm")
    world.parameter("/p", "ssm")
    objects = [{"objectName": "db", "objectType": "secretsmanager"}, {"objectName": "/p", "objectType": "ssmparameter"}]
    async with world.gateway() as gw:
        result = await gw.mount(mount_request(objects, {"region": PRIMARY}, pod=world.irsa_pod()))
    assert [f.contents for f in result.files] == [b"sm", b"ssm"]
    assert sorted(set(world.proxy.tunnels)) == [f"{service}.{PRIMARY}.amazonaws.com:443" for service in ("secretsmanager", "ssm", "sts")]
    assert {c.operation for c in world.proxy.calls} == {"AssumeRoleWithWebIdentity", "BatchGetSecretValue", "GetParameters"}
    assert {c.user_agent for c in world.proxy.calls} == {OWN_USER_AGENT}
