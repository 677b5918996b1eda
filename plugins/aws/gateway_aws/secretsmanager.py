"""Backend ``secretsmanager``: AWS Secrets Manager, batched.

Unpinned secrets (no ``objectVersion``/``objectVersionLabel``) are read with
``BatchGetSecretValue``, at most 20 ids per call; per-id errors in its answer are mapped
back to their objects. ``GetSecretValue`` serves what batching cannot express: pinned
versions/stages, ids the batch answer does not account for, per-id server errors, and every
id of a batch refused as invalid or denied. A denied batch means the role lacks
``secretsmanager:BatchGetSecretValue`` (IAM policies written for ASCP); that is remembered per
principal and region, so later mounts go straight to ``GetSecretValue``.
Value: ``SecretString`` as UTF-8, else ``SecretBinary``; version: ``VersionId``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gateway.plugin import ExpiringCache, FetchItem, FetchOutcome, GatewayError, InvalidArgument, NotFound, ObjectRef, preview
from gateway_aws.arn import service_arns
from gateway_aws.backend import Answer, AwsBackend, SharedRuntime, Value, outcome, side_by_side
from gateway_aws.errors import SECRET_ALL_REGIONS_FAILED, from_code

if TYPE_CHECKING:
    from gateway_aws.runtime import AwsRuntime, AwsSession

log = logging.getLogger("gateway_aws.secretsmanager")
BATCH_LIMIT = 20
MAX_PAGES = 10
BATCH_DENIED_SECONDS = 900.0
DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied"})


class SecretsManagerBackend(AwsBackend):
    name = "secretsmanager"
    description = "AWS Secrets Manager (IRSA / Pod Identity, BatchGetSecretValue)"
    arn_service = "secretsmanager"
    claimed_names = service_arns(arn_service)
    service = "secretsmanager"
    all_locations_failed = SECRET_ALL_REGIONS_FAILED

    def __init__(self, runtime: SharedRuntime | AwsRuntime, batch: bool = True) -> None:
        super().__init__(runtime)
        self.batch = batch
        #: (principal, region, service) keys whose role may not call BatchGetSecretValue
        self._batch_denied: ExpiringCache[tuple[Any, ...], bool] = ExpiringCache(4096)

    def fetch_failed(self, ref: ObjectRef) -> str:
        return f"Failed fetching secret {preview(ref.name)}"

    async def fetch_with(self, session: AwsSession, items: Sequence[FetchItem]) -> list[FetchOutcome]:
        refs = list(dict.fromkeys(item.ref for item in items))
        batchable = self.batch and self._batch_denied.get(session.key) is None
        unpinned = [ref.name for ref in refs if batchable and not _pinned(ref)]
        single = [ref for ref in refs if not batchable or _pinned(ref)]
        jobs = [self._batch(session, unpinned[i : i + BATCH_LIMIT]) for i in range(0, len(unpinned), BATCH_LIMIT)]
        if single:
            jobs.append(self._get_many(session, single))
        answers: dict[ObjectRef, Answer] = {}
        for part in await side_by_side(jobs):
            answers.update(part)
        return [outcome(item.key, answers[item.ref]) for item in items]

    # -- BatchGetSecretValue

    async def _batch(self, session: AwsSession, names: list[str]) -> dict[ObjectRef, Answer]:
        try:
            pages = await self.shared_call(session, "BatchGetSecretValue", tuple(names), lambda: self._pages(session, names))
        except GatewayError as exc:
            if exc.reason in DENIED_CODES:  # the role lacks secretsmanager:BatchGetSecretValue
                log.info("BatchGetSecretValue refused for %s in %s; using GetSecretValue", session.principal.describe(), session.region)
                self._batch_denied.put(session.key, True, time.monotonic() + BATCH_DENIED_SECONDS)
            elif not isinstance(exc, InvalidArgument):  # server trouble or bad credentials: single calls would fare no better
                return {ObjectRef(name): exc for name in names}
            return await self._get_many(session, [ObjectRef(name) for name in names])
        answers: dict[ObjectRef, Answer] = {}
        retry_single: list[ObjectRef] = []
        found_by_id = _by_id(pages)
        for name in names:
            found = found_by_id.get(name)
            if found is None or (isinstance(found, GatewayError) and found.retryable):
                retry_single.append(ObjectRef(name))  # unaccounted for, or a per-id server error
            else:
                answers[ObjectRef(name)] = found
        if retry_single:
            answers.update(await self._get_many(session, retry_single))
        return answers

    async def _pages(self, session: AwsSession, names: list[str]) -> dict[str, Any]:
        """All pages of one BatchGetSecretValue, merged into one answer."""
        merged: dict[str, Any] = {"SecretValues": [], "Errors": []}
        kwargs: dict[str, Any] = {"SecretIdList": names}
        for _ in range(MAX_PAGES):
            page = await session.call("BatchGetSecretValue", **kwargs)
            merged["SecretValues"] += page.get("SecretValues") or []
            merged["Errors"] += page.get("Errors") or []
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        return merged

    # -- GetSecretValue

    async def _get_many(self, session: AwsSession, refs: list[ObjectRef]) -> dict[ObjectRef, Answer]:
        answers = await side_by_side([self._get(session, ref) for ref in refs])
        return dict(zip(refs, answers, strict=True))

    async def _get(self, session: AwsSession, ref: ObjectRef) -> Answer:
        kwargs: dict[str, Any] = {"SecretId": ref.name}
        if ref.version:
            kwargs["VersionId"] = ref.version
        if ref.version_label:
            kwargs["VersionStage"] = ref.version_label
        try:
            response = await self.shared_call(session, "GetSecretValue", ref, lambda: session.call("GetSecretValue", **kwargs))
        except GatewayError as exc:
            return exc
        return _value(response)


def _pinned(ref: ObjectRef) -> bool:
    return bool(ref.version or ref.version_label)


def _by_id(answer: dict[str, Any]) -> dict[str, Answer]:
    """What each id a mount may have asked for finds in one merged answer, indexed once (not scanned per id): its
    per-id error first, else the first value whose ``Name`` or ``ARN`` it is, or whose ARN it is without the
    6-character suffix AWS adds (``arn:...:secret:prod/db`` names ``arn:...:secret:prod/db-AbCdEf``)."""
    values: dict[str, Answer] = {}
    for entry in answer["SecretValues"]:
        arn = entry.get("ARN")
        partial = arn[:-7] if isinstance(arn, str) and arn[-7:-6] == "-" else ""
        value = _value(entry)
        for key in (entry.get("Name"), arn, partial if partial.startswith("arn:") else None):
            if isinstance(key, str):
                values.setdefault(key, value)
    errors: dict[str, Answer] = {}
    for error in answer["Errors"]:
        secret_id = error.get("SecretId")
        if isinstance(secret_id, str) and secret_id not in errors:
            errors[secret_id] = from_code(str(error.get("ErrorCode") or "Unknown"), str(error.get("Message") or ""), "BatchGetSecretValue")
    return values | errors


def _value(entry: dict[str, Any]) -> Answer:
    version = str(entry.get("VersionId") or "")
    if entry.get("SecretString") is not None:
        return Value(str(entry["SecretString"]).encode("utf-8"), version)
    if entry.get("SecretBinary") is not None:
        return Value(bytes(entry["SecretBinary"]), version)
    return NotFound("the secret version has neither SecretString nor SecretBinary", reason="NoSecretValue")
