"""The benchmarks' moto server that lists its service directories once answers as moto's own does."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from gateway_aws.testing import PRIMARY, MotoServer, role_arn


def client(server: MotoServer, service: str) -> Any:
    return boto3.client(service, region_name=PRIMARY, endpoint_url=server.url, aws_access_key_id="k", aws_secret_access_key="s")


@pytest.mark.parametrize("once", [pytest.param(False, id="as-shipped"), pytest.param(True, id="listing-once")])
def test_both_servers_answer_the_calls_of_a_new_identity(once: bool) -> None:
    with MotoServer(list_services_once=once) as server:
        client(server, "secretsmanager").create_secret(Name="app/db", SecretString="hunter2")
        answer = client(server, "secretsmanager").batch_get_secret_value(SecretIdList=["app/db", "app/missing"])
        assert [value["SecretString"] for value in answer["SecretValues"]] == ["hunter2"]
        assert [error["ErrorCode"] for error in answer["Errors"]] == ["ResourceNotFoundException"]
        assumed = client(server, "sts").assume_role_with_web_identity(RoleArn=role_arn("web"), RoleSessionName="web", WebIdentityToken="token-of-web")
        assert assumed["AssumedRoleUser"]["Arn"].endswith("assumed-role/web/web")
