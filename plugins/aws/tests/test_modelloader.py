"""botocore's data as the plugin loads it: the same models and search paths, for the plugin's services only."""

from __future__ import annotations

import gzip
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader

from gateway.plugin import Metrics
from gateway_aws.clients import AwsClients
from gateway_aws.modelloader import SERVICES, endpoints_of, plugin_loader
from gateway_aws.options import AwsOptions
from gateway_aws.secretsmanager import SecretsManagerBackend
from gateway_aws.ssm import SsmParameterBackend
from gateway_aws.testing import PRIMARY
from gateway_aws.webidentity import OPERATION, PROBE

KINDS = ("service-2", "endpoint-rule-set-1")


@pytest.mark.parametrize("service", [SecretsManagerBackend.service, SsmParameterBackend.service, "sts"])
def test_every_service_the_plugin_builds_a_client_for_is_known(service: str) -> None:
    assert service in SERVICES


@pytest.mark.parametrize("kind", KINDS)
def test_only_the_plugins_services_are_listed(kind: str) -> None:
    assert plugin_loader(None).list_available_services(kind) == sorted(SERVICES)


@pytest.mark.parametrize(("service", "kind"), [pytest.param(s, k, id=f"{s}-{k}") for s in SERVICES for k in KINDS])
def test_models_are_botocores_own_read_as_plain_dicts(service: str, kind: str) -> None:
    ours = plugin_loader(None).load_service_model(service, kind)
    assert type(ours) is dict
    assert ours == Loader().load_service_model(service, kind)


def narrowed(data: dict[str, Any]) -> dict[str, Any]:
    """botocore's endpoint data with each partition's services narrowed to the plugin's, the slow way."""
    return {**data, "partitions": [{**p, "services": {k: v for k, v in p["services"].items() if k in SERVICES}} for p in data["partitions"]]}


def test_the_endpoint_data_is_botocores_for_the_plugins_services() -> None:
    """What botocore's endpoint resolver is given: its own partitions (regions, defaults, variants, DNS suffixes)
    with the plugin's services' entries, each as botocore has it."""
    ours = plugin_loader(None).load_data("endpoints")
    assert ours == narrowed(Loader().load_data("endpoints"))
    assert {name for partition in ours["partitions"] for name in partition["services"]} == set(SERVICES)


TWO_PARTITIONS = {
    "partitions": [
        {"partition": "aws", "regions": {"us-east-1": {}}, "services": {"s3": {"endpoints": {"us-east-1": {}}}, "sts": {"endpoints": {"aws-global": {"hostname": "sts.amazonaws.com"}}}}},
        {"partition": "aws-cn", "regions": {"cn-north-1": {}}, "services": {"ec2": {"endpoints": {}}}},
    ],
    "version": 3,
}  # fmt: skip


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(json.dumps(TWO_PARTITIONS), id="compact"),
        pytest.param(json.dumps(TWO_PARTITIONS, indent=2, separators=(",", " : ")), id="indented-otherwise"),
    ],
)
def test_endpoint_data_laid_out_otherwise_is_decoded_whole_and_narrowed(text: str) -> None:
    assert endpoints_of(text, SERVICES) == narrowed(TWO_PARTITIONS)


def test_another_service_is_unknown_as_in_botocore() -> None:
    with pytest.raises(UnknownServiceError):
        plugin_loader(None).load_service_model("s3", "service-2")


async def test_a_newer_model_on_the_data_path_is_the_one_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_DATA_PATH (botocore's ``data_path``) still applies: a newer STS model there is the one the dry run uses."""
    builtin = Loader().load_service_model("sts", "service-2")
    newer = tmp_path / "sts" / "2099-01-01"
    newer.mkdir(parents=True)
    (newer / "service-2.json").write_text(json.dumps({**builtin, "metadata": {**builtin["metadata"], "apiVersion": "2099-01-01"}}))
    rules = Path(Loader.BUILTIN_DATA_PATH) / "sts" / builtin["metadata"]["apiVersion"] / "endpoint-rule-set-1.json.gz"
    (newer / "endpoint-rule-set-1.json").write_bytes(gzip.decompress(rules.read_bytes()))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    executor = ThreadPoolExecutor(1)
    try:
        clients = AwsClients(AwsOptions(), Metrics(), executor)
        request = await clients.prepared(await clients.client(PRIMARY, "sts"), OPERATION, **PROBE)
        assert request["body"]["Version"] == "2099-01-01"
    finally:
        executor.shutdown()
