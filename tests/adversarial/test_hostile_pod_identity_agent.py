"""A broken or hostile Pod Identity agent endpoint is bounded like a hostile Vault.

Each behaviour of :class:`~gateway.testing.hostile.HostileServer` as the node's agent: the mount
gets a retryable error naming the agent within its deadline (never NotFound or Internal), the
gateway lets go of the connection, and ``Version`` is answered at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.testing import MountFailure, mount_request
from gateway.testing.hostile import HostileServer
from gateway_aws.testing import PRIMARY, AwsWorld

OBJECTS = [{"objectName": "db", "objectType": "secretsmanager"}]
EXPECTED = {
    "dribble-head": ("DeadlineExceeded", "no answer within 1s"),
    "dribble-body": ("DeadlineExceeded", "no answer within 1s"),
    "silent": ("DeadlineExceeded", "no answer within 1s"),
    "huge-announced": ("Unavailable", "not a usable answer: the answer announces 419430400 bytes"),
    "huge-chunked": ("Unavailable", "not a usable answer: the answer is larger than the limit of 65536 bytes"),
    "huge-unframed": ("Unavailable", "not a usable answer: the answer is larger than the limit of 65536 bytes"),
    "html": ("Unavailable", "the answer is not JSON"),
    "json-list": ("Unavailable", "the answer lacks AccessKeyId/SecretAccessKey/Token"),
    "garbage": ("Unavailable", "not a usable answer: the answer is not HTTP"),
    "truncated": ("Unavailable", "not a usable answer: the answer is truncated"),
}
COMPLETE = {"html", "json-list"}


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsWorld]:
    with AwsWorld.isolated() as world:
        world.secret("db", "s3cr3t")
        yield world


@pytest.mark.parametrize("behaviour", list(EXPECTED))
async def test_hostile_pod_identity_agent_is_bounded(aws: AwsWorld, behaviour: str) -> None:
    pod = aws.pod_identity_pod()
    with HostileServer(behaviour) as agent:
        options = {"aws_pod_identity_endpoint": agent.address, "aws_pod_identity_timeout": "1", "aws_pod_identity_attempts": "1"}
        async with aws.gateway(**options) as gw:
            with pytest.raises(MountFailure) as failure:
                await gw.mount(mount_request(OBJECTS, {"region": PRIMARY, "usePodIdentity": "true", "preferredAddressType": "ipv4"}, pod=pod))
            version = await gw.client.version(timeout=5)
            if behaviour not in COMPLETE:
                assert agent.wait_all_closed(), "the gateway kept working for the hostile agent past the deadline"
    code, message = EXPECTED[behaviour]
    assert failure.value.code_name == code, failure.value.message
    assert f"Pod Identity agent {agent.address}" in failure.value.message and message in failure.value.message
    assert version.runtime_name
