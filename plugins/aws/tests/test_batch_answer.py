"""Which part of a BatchGetSecretValue answer each requested id finds (read once per answer, not per id)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.plugin import GatewayError
from gateway_aws.backend import Value, side_by_side
from gateway_aws.secretsmanager import _by_id

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"


def entry(name: str, value: str, arn: str = "") -> dict[str, Any]:
    return {"Name": name, "ARN": arn or f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-XyZ123", "SecretString": value, "VersionId": f"v-{value}"}


def found(answer: dict[str, Any], requested: str) -> str | None:
    """``value <text>``, ``error <reason>`` or None (not accounted for)."""
    result = _by_id({"SecretValues": [], "Errors": [], **answer}).get(requested)
    if result is None:
        return None
    if isinstance(result, GatewayError):
        return f"error {result.reason}"
    assert isinstance(result, Value)
    return f"value {result.data.decode()}"


CASES = [
    pytest.param({"SecretValues": [entry("prod/db", "a")]}, "prod/db", "value a", id="by-name"),
    pytest.param({"SecretValues": [entry("prod/db", "a", ARN)]}, ARN, "value a", id="by-full-arn"),
    pytest.param({"SecretValues": [entry("prod/db", "a", ARN)]}, ARN[:-7], "value a", id="by-partial-arn"),
    pytest.param({"SecretValues": [entry("prod/db", "a", ARN)]}, ARN[:-6], None, id="arn-cut-elsewhere"),
    pytest.param({"SecretValues": [entry("other", "a", "prod/db-AbCdEf")]}, "prod/db", None, id="only-an-arn-may-be-partial"),
    pytest.param({"SecretValues": [entry("x", "first"), entry("x", "second")]}, "x", "value first", id="first-value-wins"),
    pytest.param({"SecretValues": [entry("x", "a")], "Errors": [{"SecretId": "x", "ErrorCode": "ResourceNotFoundException"}]}, "x",
                 "error ResourceNotFoundException", id="error-before-value"),
    pytest.param({"Errors": [{"SecretId": "x", "ErrorCode": "DecryptionFailure"}, {"SecretId": "x", "ErrorCode": "InternalServiceError"}]},
                 "x", "error DecryptionFailure", id="first-error-wins"),
    pytest.param({"SecretValues": [{"Name": ["not", "a", "string"], "ARN": 7, "SecretString": "a"}]}, "x", None, id="odd-keys-ignored"),
    pytest.param({"SecretValues": [entry("other", "a")]}, "x", None, id="not-accounted-for"),
]  # fmt: skip


@pytest.mark.parametrize(("answer", "requested", "expected"), CASES)
def test_each_requested_id_finds_its_part_of_the_answer(answer: dict[str, Any], requested: str, expected: str | None) -> None:
    assert found(answer, requested) == expected


@pytest.mark.parametrize("jobs", [pytest.param(0, id="none"), pytest.param(1, id="one"), pytest.param(3, id="several")])
async def test_jobs_side_by_side_answer_in_order_and_a_single_one_runs_in_the_callers_task(jobs: int) -> None:
    caller = asyncio.current_task()

    async def job(number: int) -> tuple[int, bool]:
        await asyncio.sleep(0.01 * (jobs - number))  # the first finishes last
        return number, asyncio.current_task() is caller

    results = await side_by_side([job(n) for n in range(jobs)])
    assert [number for number, _ in results] == list(range(jobs))
    assert all(in_caller == (jobs == 1) for _, in_caller in results)


@pytest.mark.parametrize("jobs", [pytest.param(1, id="one"), pytest.param(2, id="two")])
async def test_a_failing_job_fails_side_by_side(jobs: int) -> None:
    async def job(number: int) -> int:
        if number == jobs - 1:
            raise GatewayError("refused")
        return number

    with pytest.raises(GatewayError, match="refused"):
        await side_by_side([job(n) for n in range(jobs)])
