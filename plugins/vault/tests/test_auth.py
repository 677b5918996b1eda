"""Identity: Kubernetes and JWT login with the pod's own token, auth mounts, audiences, server
defaults, the dev-only token auth, and the Vault-token cache (counted logins, TTL expiry,
revocation, never one identity's token for another)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from gateway.client import MountFailure
from gateway.manifests import PodContext
from gateway.testing import running_gateway
from gateway_vault.backend import VaultBackend
from gateway_vault.options import VaultConfig
from gateway_vault.testing import VaultWorld as World

DB = {"objectName": "pw", "secretPath": "secret/app/db", "secretKey": "password"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class LoginCase:
    id: str
    parameters: dict[str, str | None] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    audiences: tuple[str, ...] = ("vault",)
    login_path: str = "/v1/auth/kubernetes/login"
    reviews: int = 1  # TokenReviews OpenBao makes (0 for jwt)
    obj: dict[str, str] = field(default_factory=lambda: DB)
    value: str = "db_v2"  # label of the planted value expected
    namespace: str = ""  # the X-Vault-Namespace every request carries


LOGIN_CASES = [
    LoginCase("kubernetes-default-mount"),
    LoginCase("auth-mount-path", {"vaultAuthMountPath": "auth/k8s-b"}, login_path="/v1/auth/k8s-b/login"),
    LoginCase("legacy-kubernetes-mount-path", {"vaultKubernetesMountPath": "k8s-b"}, login_path="/v1/auth/k8s-b/login"),
    LoginCase("jwt-method", {"vaultAuthMethod": "jwt"}, login_path="/v1/auth/jwt/login", reviews=0),
    LoginCase("audience-chosen-among-tokens", {"audience": "vault"}, audiences=("vault", "api")),
    LoginCase("only-token-used-without-audience", audiences=("vault",)),
    LoginCase(
        "server-defaults",
        {"vaultAddress": None, "roleName": None},
        {"vault_role": "app", "vault_auth_method": "jwt", "vault_audience": "vault"},
        audiences=("vault", "api"),
        login_path="/v1/auth/jwt/login",
        reviews=0,
    ),
    LoginCase("server-default-auth-mount", options={"vault_auth_mount_path": "k8s-b"}, login_path="/v1/auth/k8s-b/login"),
    LoginCase(
        "server-default-namespace", options={"vault_namespace": "team1"},
        obj={"objectName": "ns", "secretPath": "kv/app", "secretKey": "ns"}, value="ns", namespace="team1",
    ),
]


@pytest.mark.parametrize("case", LOGIN_CASES, ids=[c.id for c in LOGIN_CASES])
async def test_login(world: World, case: LoginCase) -> None:
    reviews_before = world.kube.count("tokenreviews")
    options = {"vault_address": world.proxy.address, **case.options}
    async with world.gateway(**options) as gw:
        for _ in range(3):
            result = await gw.mount(world.request([case.obj], world.pod(audiences=case.audiences), **case.parameters))
            assert result.files[0].contents == world.values[case.value].encode()
    assert world.proxy.logins() == world.proxy.count(case.login_path, namespace=case.namespace) == 1
    assert world.proxy.count("/data/app", method="GET", namespace=case.namespace) == 3
    assert world.kube.count("tokenreviews") - reviews_before == case.reviews


@dataclass(frozen=True)
class RefusedCase:
    id: str
    parameters: dict[str, str | None]
    code: str
    message: str
    audiences: tuple[str, ...] = ("vault",)
    options: dict[str, str] = field(default_factory=dict)


REFUSED_CASES = [
    RefusedCase("no-role", {"roleName": None}, "InvalidArgument", 'no Vault role: set the SecretProviderClass parameter "roleName"'),
    RefusedCase("unknown-role", {"roleName": "nope"}, "PermissionDenied", 'login failed for role "nope" (auth/kubernetes) (HTTP 400): invalid role name'),
    RefusedCase("role-of-another-account", {"roleName": "other"}, "PermissionDenied", "service account name not authorized"),
    RefusedCase("jwt-role-refuses-subject", {"vaultAuthMethod": "jwt", "roleName": "app"}, "PermissionDenied", "invalid subject", audiences=("vault",)),
    RefusedCase("wrong-audience", {"audience": "api"}, "PermissionDenied", 'login failed for role "app" (auth/kubernetes)', audiences=("vault", "api")),
    RefusedCase("ambiguous-audience", {}, "InvalidArgument", "no service-account token for a default audience", audiences=("vault", "api")),
    RefusedCase("missing-audience", {"audience": "nope"}, "InvalidArgument", "no service-account token for audience 'nope'; the request has tokens for: 'vault'"),
    RefusedCase("no-tokens", {}, "InvalidArgument", "the request carries no service-account token: add tokenRequests", audiences=()),
    RefusedCase(
        "no-such-auth-mount", {"vaultAuthMountPath": "nope"}, "PermissionDenied",
        'login failed for role "app" (auth/nope) (HTTP 403): permission denied (is that auth method mounted there?)',
    ),
    RefusedCase("mount-paths-disagree", {"vaultAuthMountPath": "a", "vaultKubernetesMountPath": "b"}, "InvalidArgument", "disagree"),
    RefusedCase("unknown-method", {"vaultAuthMethod": "ldap"}, "InvalidArgument", "vaultAuthMethod must be one of kubernetes, jwt"),
    RefusedCase("token-method-not-allowed", {"vaultAuthMethod": "token"}, "InvalidArgument", 'vaultAuthMethod must be one of kubernetes, jwt, got "token"'),
    RefusedCase(
        "dev-token-only-for-server-address", {"vaultAuthMethod": "token"}, "InvalidArgument",
        "the dev token (--vault-token) is only sent to --vault-address", options={"vault_allow_token_auth": "true", "vault_token": "root"},
    ),
]


@pytest.mark.parametrize("case", REFUSED_CASES, ids=[c.id for c in REFUSED_CASES])
async def test_refused(world: World, case: RefusedCase) -> None:
    service_account = "web" if case.id != "jwt-role-refuses-subject" else "other"
    async with world.gateway(**case.options) as gw:
        with pytest.raises(MountFailure) as failure:
            await gw.mount(world.request([DB], world.pod(service_account, audiences=case.audiences), **case.parameters))
    assert failure.value.code_name == case.code
    assert case.message in failure.value.message


@pytest.mark.parametrize(
    ("pod", "message"),
    [
        (lambda w: PodContext(namespace="apps", service_account="web", tokens={"vault": w.issuer.token("apps", "other")}), "is not the token of apps/web"),
        (lambda w: PodContext(namespace="apps", service_account="web", tokens={"vault": w.issuer.token("apps", "web")}, token_lifetime=timedelta(seconds=-5)), "has expired"),
    ],
    ids=["token-of-another-account", "expired-token"],
)
async def test_a_pod_must_show_its_own_valid_token_even_with_a_cached_vault_token(world: World, pod: Callable[[World], PodContext], message: str) -> None:
    async with world.gateway() as gw:
        await gw.mount(world.request([DB]))  # apps/web's Vault token is now cached
        with pytest.raises(MountFailure) as failure:
            await gw.mount(world.request([DB], pod(world)))
    assert failure.value.code_name == "PermissionDenied" and message in failure.value.message
    assert world.proxy.logins() == 1 and world.proxy.count("/v1/secret/") == 1


async def test_dev_token_auth_sends_no_login(world: World) -> None:
    options = {"vault_address": world.proxy.address, "vault_allow_token_auth": "true", "vault_token": "root", "vault_auth_method": "token"}
    async with world.gateway(**options) as gw:
        result = await gw.mount(world.request([DB], world.pod(audiences=()), vaultAddress=None, roleName=None))
    assert result.files[0].contents == world.values["db_v2"].encode()
    assert world.proxy.logins() == 0


async def test_tokens_are_never_shared_between_identities(world: World) -> None:
    other = {"objectName": "v", "secretPath": "secret/other/x", "secretKey": "v"}
    async with world.gateway() as gw:
        await gw.mount(world.request([DB], world.pod("web")))
        await gw.mount(world.request([DB], world.issuer.pod("apps", "web", name="web-1")))  # same identity, other pod
        await gw.mount(world.request([other], world.pod("other"), roleName="other"))
        with pytest.raises(MountFailure) as denied:
            await gw.mount(world.request([DB], world.pod("other"), roleName="other"))
    assert world.proxy.logins() == 3  # one per pod token: web-0, web-1 and other
    web_tokens = {r.token for r in world.proxy.matching("/v1/secret/data/app/db")[:2]}
    other_tokens = {r.token for r in world.proxy.matching("/v1/secret/data/other/x")}
    assert len(web_tokens) == 2 and len(other_tokens) == 1 and not web_tokens & other_tokens
    assert denied.value.code_name == "PermissionDenied"
    assert 'role "other" (auth/kubernetes) on "secret/data/app/db"' in denied.value.message


async def test_token_cache_can_be_disabled(world: World) -> None:
    async with world.gateway(vault_token_cache_size="0") as gw:
        for _ in range(2):
            await gw.mount(world.request([DB]))
    assert world.proxy.logins() == 2


async def test_token_is_dropped_shortly_before_its_ttl(world: World) -> None:
    clock = FakeClock()
    backend = VaultBackend(VaultConfig(), clock=clock)
    async with running_gateway(backends=[backend]) as gw:
        await gw.mount(world.request([DB]))
        clock.now += 3600 - 61  # the role's token_ttl is 1h; the token is kept until 60 s before
        await gw.mount(world.request([DB]))
        assert world.proxy.logins() == 1
        clock.now += 2
        await gw.mount(world.request([DB]))
        assert world.proxy.logins() == 2


async def test_revoked_token_means_one_lookup_and_a_new_login(world: World) -> None:
    pod = world.pod("revocable")
    async with world.gateway() as gw:
        await gw.mount(world.request([DB], pod, roleName="revocable"))
        revoke_tokens_of(world, "revocable")
        result = await gw.mount(world.request([DB], pod, roleName="revocable"))
    assert result.files[0].contents == world.values["db_v2"].encode()
    assert world.proxy.logins() == 2
    assert world.proxy.count("/v1/auth/token/lookup-self") == 1


async def test_policy_denial_with_a_valid_cached_token_does_not_log_in_again(world: World) -> None:
    forbidden = {"objectName": "v", "secretPath": "secret/other/x", "secretKey": "v"}
    async with world.gateway() as gw:
        await gw.mount(world.request([DB]))
        with pytest.raises(MountFailure) as denied:
            await gw.mount(world.request([DB, forbidden]))
    assert denied.value.code_name == "PermissionDenied"
    assert world.proxy.logins() == 1
    assert world.proxy.count("/v1/auth/token/lookup-self") == 1


def revoke_tokens_of(world: World, service_account: str) -> None:
    accessors = world.bao.api("LIST", "auth/token/accessors") or {}
    for accessor in accessors["data"]["keys"]:
        info = world.bao.api("POST", "auth/token/lookup-accessor", {"accessor": accessor}) or {}
        if (info["data"].get("meta") or {}).get("service_account_name") == service_account:
            world.bao.revoke_accessor(accessor)
