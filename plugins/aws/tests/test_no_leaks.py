"""Planted secret values and tokens never reach an error message or a log line (production log setup, debug level)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from gateway import log as gateway_log
from gateway.testing import MountFailure, mount_request
from gateway_aws.identity import IRSA_AUDIENCE, POD_IDENTITY_AUDIENCE
from gateway_aws.testing import FAILOVER, PRIMARY, AwsWorld

PLANTED = ("PLANTED-SM-VALUE-7f3a", "PLANTED-SSM-VALUE-91bc", "PLANTED-BINARY-VALUE-c0de", "PLANTED-JSON-PASSWORD-5e5e")


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """The production logging setup (JSON lines, debug level), restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {name: logging.getLogger(name).level for name in ("botocore", "urllib3", "asyncio")})
    stream = io.StringIO()
    gateway_log.configure("debug", "json", stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


def seed(world: AwsWorld) -> None:
    for region in (PRIMARY, FAILOVER):
        world.secret("plain", PLANTED[0], region)
        world.secret("bin", PLANTED[2].encode() + b"\xff", region)
        world.secret("json", f'{{"password": "{PLANTED[3]}", "port": 1}}', region)
        world.parameter("/p", PLANTED[1], region)


async def test_no_secret_or_token_in_messages_or_logs(world: AwsWorld, logs: io.StringIO) -> None:
    seed(world)
    irsa, pod_identity = world.irsa_pod(), world.pod_identity_pod(role="")
    refused = world.irsa_pod(name="other-0", service_account="other")  # an identity without cached credentials
    tokens = [irsa.tokens[IRSA_AUDIENCE], pod_identity.tokens[POD_IDENTITY_AUDIENCE], refused.tokens[IRSA_AUDIENCE]]
    everything = [
        {"objectName": "plain", "objectType": "secretsmanager"},
        {"objectName": "bin", "objectType": "secretsmanager"},
        {"objectName": "/p", "objectType": "ssmparameter"},
    ]
    regions = {"region": PRIMARY, "failoverRegion": FAILOVER}
    attempts = [
        (irsa, [*everything, {"objectName": "missing", "objectType": "secretsmanager"}], regions),
        (irsa, [{"objectName": "plain", "objectType": "secretsmanager", "jmesPath": [{"path": "a", "objectAlias": "a"}]}], regions),
        (irsa, [{"objectName": "json", "objectType": "secretsmanager", "jmesPath": [{"path": "port", "objectAlias": "a"}]}], regions),
        (irsa, [{"objectName": "/p", "objectType": "ssmparameter", "jmesPath": [{"path": "x", "objectAlias": "x"}]}], regions),
        (irsa, everything, {**regions, "failoverMode": "all"}),
        (pod_identity, everything, {**regions, "usePodIdentity": "true"}),
        (refused, everything, regions),
    ]
    messages: list[str] = []
    async with world.gateway() as gw:
        await gw.mount(mount_request(everything, regions, pod=irsa))  # success, logged too
        world.proxy.fail(region=PRIMARY, operation="GetParameters")
        world.proxy.throttle(region=FAILOVER, operation="GetParameters")
        world.proxy.inject(
            operation="AssumeRoleWithWebIdentity", status=400, code="InvalidIdentityToken", message=f"token {tokens[2]} is not valid"
        )  # an STS message echoing the token
        for pod, objects, parameters in attempts:
            with pytest.raises(MountFailure) as caught:
                await gw.mount(mount_request(objects, parameters, pod=pod))
            messages.append(caught.value.message)
    text = logs.getvalue()
    assert "mount OK" in text and "mount NotFound" in text  # the log really was captured
    for needle in (*PLANTED, *tokens):
        for message in messages:
            assert needle not in message
        assert needle not in text
    assert any("Invalid JSON used with jmesPath" in m for m in messages)
    assert any("[redacted]" in m for m in messages)
