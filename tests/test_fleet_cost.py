"""benchmarks/fleet_cost.py with tiny numbers: the model's arithmetic, checked by hand."""

from __future__ import annotations

import pytest

from tests.support import load_benchmark

fleet = load_benchmark("fleet_cost")
MONTH = 30 * 24 * 3600


def tiny(**changes: object) -> object:
    values = dict(
        nodes=2, pods=3, secrets=21, parameters=1, identities=1, rotation=MONTH / 10, failover=True, cache_ttl=0.0,
        credential_seconds=MONTH / 5, token_seconds=MONTH / 4, kube_cache_ttl=30.0, kube_watch=True, burst_window=1.0, ssm_high_throughput=True,
    )
    values.update(changes)
    return fleet.Cluster(**values)


@pytest.mark.parametrize(
    ("pattern", "sm", "ssm", "sts", "peak_sm", "peak_sts"),
    [
        # 6 pods x 10 polls x (2 batches of 20; 1 GetParameters); STS per pod (token) every MONTH/5 (credentials first)
        pytest.param(lambda c: fleet.gateway(c, cache=False), 120, 60, 30, 12, 6, id="gateway-cache-off"),
        # cached per pod token: 6 pods x 10 polls (R > TTL), each a miss; the burst coalesced per node identity
        pytest.param(lambda c: fleet.gateway(tiny(cache_ttl=60.0), cache=True), 120, 60, 30, 4, 6, id="gateway-cache-on"),
        # kubelet re-issues the token every MONTH/20, before the credentials run out: STS per token
        pytest.param(lambda c: fleet.gateway(tiny(token_seconds=MONTH / 20), cache=False), 120, 60, 120, 12, 6, id="gateway-token-first"),
        # 6 pods x 10 polls x 21 secrets x 2 regions x (DescribeSecret + GetSecretValue); STS every mount
        pytest.param(fleet.ascp, 5040, 120, 60, 252, 6, id="ascp"),
    ],
)
def test_estimates(pattern, sm, ssm, sts, peak_sm, peak_sts) -> None:  # type: ignore[no-untyped-def]
    estimate = pattern(tiny())
    assert (round(estimate.sm_calls), round(estimate.ssm_calls), round(estimate.sts_calls)) == (sm, ssm, sts)
    assert (round(estimate.peak_sm_rps), round(estimate.peak_sts_rps)) == (peak_sm, peak_sts)


@pytest.mark.parametrize(
    ("changes", "rps"),
    [
        # one WATCH per node, reopened every WATCH_SECONDS, whatever the pods and identities
        pytest.param({}, 2 / fleet.WATCH_SECONDS, id="watch-per-node"),
        pytest.param({"identities": 3}, 2 / fleet.WATCH_SECONDS, id="watch-ignores-identities"),
        # without it: a GET per (node, identity) per max(R, kube cache TTL)
        pytest.param({"kube_watch": False, "identities": 3}, 6 / (MONTH / 10), id="no-watch-per-identity"),
        pytest.param({"kube_watch": False, "rotation": 10.0}, 2 / 30.0, id="no-watch-cache-ttl-bound"),
        pytest.param({"kube_watch": False, "rotation": 0.0}, 0.0, id="no-watch-no-rotation"),
    ],
)
def test_kubernetes_requests(changes: dict[str, object], rps: float) -> None:
    assert fleet.gateway(tiny(**changes), cache=False).kube_rps == pytest.approx(rps)


def test_cost_uses_both_prices() -> None:
    estimate = fleet.gateway(tiny(), cache=False)
    assert estimate.cost(tiny()) == pytest.approx((120 + 60) / 10_000 * 0.05)
    assert estimate.cost(tiny(ssm_high_throughput=False)) == pytest.approx(120 / 10_000 * 0.05)


def test_prints_every_cluster_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert fleet.main(["--nodes", "1", "--nodes", "2", "--pods", "2", "--secrets", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 nodes x 2 pods" in out and "2 nodes x 2 pods" in out and out.count("ASCP pattern") == 2
