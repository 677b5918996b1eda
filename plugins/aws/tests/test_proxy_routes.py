"""The counting proxy can send a service's calls to servers of their own, in turn (benchmarks spread moto so)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from gateway.testing import mount_request
from gateway_aws.testing import PRIMARY, AwsWorld, MotoServer


@pytest.fixture(scope="module")
def other_moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


def seed(server: MotoServer, value: str) -> None:
    boto3.client(
        "secretsmanager", region_name=PRIMARY, endpoint_url=server.url, aws_access_key_id="seed", aws_secret_access_key="seed"
    ).create_secret(Name="routed/db", SecretString=value)


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        pytest.param((), [b"from the world's moto"] * 2, id="unrouted"),
        pytest.param(("other",), [b"from the other moto"] * 2, id="routed-away"),
        pytest.param(("world", "other"), [b"from the world's moto", b"from the other moto"], id="in-turn"),
    ],
)
async def test_a_routed_service_is_served_by_its_servers_in_turn(
    world: AwsWorld, other_moto: MotoServer, routes: tuple[str, ...], expected: list[bytes]
) -> None:
    other_moto.reset()
    seed(world.moto, "from the world's moto")
    seed(other_moto, "from the other moto")
    world.proxy.route("secretsmanager", *({"world": world.moto, "other": other_moto}[name].url for name in routes))
    objects = [{"objectName": "routed/db", "objectType": "secretsmanager"}]
    async with world.gateway() as gw:
        mounted = [(await gw.mount(mount_request(objects, {"region": PRIMARY}, pod=world.irsa_pod(name=f"p{n}")))).files[0].contents
                   for n in range(2)]  # fmt: skip
    assert mounted == expected
    assert world.proxy.count("BatchGetSecretValue") == 2  # counted wherever it went
    world.proxy.route("secretsmanager")  # no servers: the proxy's own upstream again
    async with world.gateway() as gw:
        after = await gw.mount(mount_request(objects, {"region": PRIMARY}, pod=world.irsa_pod(name="after")))
    assert after.files[0].contents == b"from the world's moto"
