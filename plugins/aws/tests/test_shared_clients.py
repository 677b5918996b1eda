"""One client per service and region serves every identity; each call signs with its own caller's credentials.

Against moto's STS behind the counting proxy: the identity AWS sees (``GetCallerIdentity``) and the
access key the proxy recorded are those of the call's own credentials, also while calls of two
identities are signed and in flight on the same client at the same moment.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from gateway.plugin import Metrics, PermissionDenied
from gateway_aws.clients import AwsClients, Credentials
from gateway_aws.options import AwsOptions
from gateway_aws.testing import PRIMARY, AwsWorld, role_arn
from gateway_aws.testing.world import ACCOUNT

IN_FLIGHT = 8  # calls held signed, unsent, at one barrier: half of each identity


def assumed(world: AwsWorld, role: str) -> Credentials:
    raw = world.client("sts").assume_role(RoleArn=role_arn(role), RoleSessionName=f"{role}-session")["Credentials"]
    return Credentials(raw["AccessKeyId"], raw["SecretAccessKey"], raw["SessionToken"], raw["Expiration"])


@pytest.fixture
async def clients() -> AsyncIterator[AwsClients]:
    executor = ThreadPoolExecutor(IN_FLIGHT)
    yield AwsClients(AwsOptions(max_workers=IN_FLIGHT, max_workers_per_namespace=IN_FLIGHT, max_attempts=1, read_timeout=30.0), Metrics(), executor)
    executor.shutdown(wait=False)


async def test_calls_of_two_identities_in_flight_on_one_client_sign_as_their_own(world: AwsWorld, clients: AwsClients) -> None:
    identities = {role: assumed(world, role) for role in ("alpha", "beta")}
    client = await clients.client(PRIMARY, "sts")
    barrier = threading.Barrier(IN_FLIGHT, timeout=60)

    def hold(**_: object) -> None:  # signed, not yet sent (an answer here would replace the HTTP response)
        barrier.wait()

    client.meta.events.register("before-send.sts.GetCallerIdentity", hold)

    async def whoami(role: str) -> tuple[str, str]:
        answer: dict[str, Any] = await clients.call(PRIMARY, "sts", "GetCallerIdentity", "aws", "apps", identities[role])
        return role, str(answer["Arn"])

    world.proxy.clear_calls()
    answers = await asyncio.gather(*(whoami(role) for _ in range(IN_FLIGHT // 2) for role in identities))
    assert all(arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{role}-session" for role, arn in answers)
    assert [role for role, _ in answers].count("alpha") == IN_FLIGHT // 2
    keys = sorted(call.access_key for call in world.proxy.calls)
    assert keys == sorted(identities[role].access_key_id for role, _ in answers)


async def test_a_call_without_credentials_is_refused_before_sending(world: AwsWorld, clients: AwsClients) -> None:
    """Outside a caller's credentials the shared client has none: botocore refuses to sign (fail closed)."""
    world.proxy.clear_calls()
    with pytest.raises(PermissionDenied, match="no usable AWS credentials"):
        await clients.call(PRIMARY, "sts", "GetCallerIdentity", "aws", "apps", None)
    assert world.proxy.calls == []


async def test_web_identity_is_sent_unsigned_on_the_shared_client(world: AwsWorld, clients: AwsClients) -> None:
    await clients.call(PRIMARY, "sts", "GetCallerIdentity", "aws", "apps", assumed(world, "alpha"))
    world.proxy.clear_calls()
    await clients.call(
        PRIMARY, "sts", "AssumeRoleWithWebIdentity", "aws", "apps", None, RoleArn=role_arn("web"), RoleSessionName="web-session", WebIdentityToken="t" * 20
    )
    assert [(call.operation, call.access_key) for call in world.proxy.calls] == [("AssumeRoleWithWebIdentity", "")]
