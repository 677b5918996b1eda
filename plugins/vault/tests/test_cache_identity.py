"""Every cache proves identity as a miss would (docs/reliability.md, "Caches prove identity").

Against the real OpenBao: after apps/web mounted (so its Vault token — and, with ``--cache-ttl``,
its values — are cached), a request without its own valid token gets exactly the error a cold
gateway would give, and nothing it could not have fetched itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

import gateway_vault.plugin
from gateway.client import MountFailure
from gateway.manifests import PodContext
from gateway.testing import running_gateway
from gateway_vault.testing import ServiceAccountIssuer
from gateway_vault.testing import VaultWorld as World

DB = {"objectName": "pw", "secretPath": "secret/app/db", "secretKey": "password"}


def web(tokens: dict[str, str], lifetime: timedelta = timedelta(hours=1)) -> PodContext:
    return PodContext(name="web-9", namespace="apps", service_account="web", tokens=tokens, token_lifetime=lifetime)


INTRUDERS: list[tuple[str, Callable[[World], PodContext], str, str, int]] = [
    # id, the second request's pod, status, message, logins it causes
    ("no-token", lambda w: web({}), "InvalidArgument", "the request carries no service-account token", 0),
    ("expired-by-kubelet", lambda w: web({"vault": w.issuer.token("apps", "web")}, timedelta(seconds=-5)), "PermissionDenied", "has expired", 0),
    ("expired-by-claim", lambda w: web({"vault": w.issuer.token("apps", "web", lifetime=-10)}), "PermissionDenied", "has expired", 0),
    ("another-accounts-token", lambda w: web({"vault": w.issuer.token("apps", "other")}), "PermissionDenied", "is not the token of apps/web", 0),
    ("unparseable", lambda w: web({"vault": "not-a-jwt"}), "PermissionDenied", "is not a JWT", 0),
    ("forged-signature", lambda w: web({"vault": ServiceAccountIssuer().token("apps", "web")}), "PermissionDenied", "login failed", 1),
]


@pytest.mark.parametrize("ttl", [pytest.param(0, id="token-cache"), pytest.param(60, id="token-and-fetch-cache")])
@pytest.mark.parametrize(("pod", "code", "message", "logins"), [pytest.param(*case[1:], id=case[0]) for case in INTRUDERS])
async def test_a_hit_needs_the_proof_a_miss_needs(
    world: World, ttl: int, pod: Callable[[World], PodContext], code: str, message: str, logins: int
) -> None:
    settings = replace(world.settings(), cache_ttl=ttl)
    async with running_gateway([("vault", gateway_vault.plugin)], settings=settings) as gw:
        first = await gw.mount(world.request([DB]))
        with pytest.raises(MountFailure) as refused:
            await gw.mount(world.request([DB], pod(world)))
    assert first.files[0].contents == world.values["db_v2"].encode()
    assert refused.value.code_name == code and message in refused.value.message
    assert world.values["db_v2"] not in refused.value.message
    assert world.proxy.logins() == 1 + logins and world.proxy.count("/v1/secret/") == 1


async def test_the_fetch_cache_serves_a_pod_its_own_earlier_answer(world: World) -> None:
    settings = replace(world.settings(), cache_ttl=60)
    async with running_gateway([("vault", gateway_vault.plugin)], settings=settings) as gw:
        for pod in (world.pod(), world.pod(), world.issuer.pod("apps", "web", name="web-1")):
            assert (await gw.mount(world.request([DB], pod))).files[0].contents == world.values["db_v2"].encode()
    assert world.proxy.logins() == 2  # the second pod's token is proven by its own login
    assert world.proxy.count("/v1/secret/") == 2  # and its read is keyed by that token
