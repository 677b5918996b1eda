"""Backend ``ssmparameter``: AWS Systems Manager Parameter Store, batched.

``GetParameters`` with ``WithDecryption`` in calls of at most 10 names, each ``name``,
``name:<version>`` or ``name:<label>``. Answers are matched back by ``Name``, then ``ARN``;
to keep that unambiguous, one call never holds two selectors of the same parameter.
Names listed in ``InvalidParameters`` fail their objects with ASCP's ``invalid parameters: <names>``. Value: the
parameter's ``Value`` (a StringList verbatim); version: ``Version`` as a decimal string.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gateway.plugin import FetchItem, FetchOutcome, GatewayError, Internal, NotFound, ObjectRef, ObjectSpec, preview
from gateway_aws.arn import parse_arn, service_arns
from gateway_aws.backend import Answer, AwsBackend, Value, outcome, side_by_side
from gateway_aws.errors import PARAMETER_ALL_REGIONS_FAILED

if TYPE_CHECKING:
    from gateway_aws.runtime import AwsSession

BATCH_LIMIT = 10
BOTH_VERSIONS = "ssm parameters can not specify both objectVersion and objectVersionLabel: {name}"


class SsmParameterBackend(AwsBackend):
    name = "ssmparameter"
    description = "AWS Systems Manager Parameter Store (IRSA / Pod Identity, GetParameters)"
    arn_service = "ssm"
    claimed_names = service_arns(arn_service)
    service = "ssm"
    all_locations_failed = PARAMETER_ALL_REGIONS_FAILED

    def check_object(self, obj: ObjectSpec) -> list[str]:
        """ASCP: the ARN rules, and an SSM object pins a version or a label, never both (primary and failover)."""
        both = [BOTH_VERSIONS.format(name=ref.name) for ref in (obj.ref, obj.failover_ref) if ref and ref.version and ref.version_label]
        return super().check_object(obj) + both

    def fetch_failed(self, ref: ObjectRef) -> str:
        return "Failed fetching parameters"

    async def fetch_with(self, session: AwsSession, items: Sequence[FetchItem]) -> list[FetchOutcome]:
        selectors = {item.ref: selector(item.ref) for item in items}
        answers: dict[str, Answer] = {}
        calls = plan_calls(list(selectors), BATCH_LIMIT)
        for part in await side_by_side([self._call(session, refs) for refs in calls]):
            answers.update(part)
        return [outcome(item.key, answers[selectors[item.ref]]) for item in items]

    async def _call(self, session: AwsSession, refs: list[ObjectRef]) -> dict[str, Answer]:
        names = [selector(ref) for ref in refs]
        try:
            response = await self.shared_call(
                session, "GetParameters", tuple(names), lambda: session.call("GetParameters", Names=names, WithDecryption=True)
            )
        except GatewayError as exc:
            return {name: exc for name in names}
        return match_parameters(refs, response)


def selector(ref: ObjectRef) -> str:
    """``name``, ``name:version`` or ``name:label``, as GetParameters takes them."""
    suffix = ref.version or ref.version_label
    return f"{ref.name}:{suffix}" if suffix else ref.name


def parameter_key(name: str) -> str:
    """What identifies a parameter in a name or an ARN: its path with one leading slash."""
    arn = parse_arn(name)
    path = arn.resource[len("parameter") :] if arn and arn.resource.startswith("parameter") else name
    return "/" + path.lstrip("/")


def plan_calls(refs: list[ObjectRef], limit: int) -> list[list[ObjectRef]]:
    """Split into calls of at most ``limit``, never two references to one parameter in a call."""
    calls: list[tuple[list[ObjectRef], set[str]]] = []
    for ref in refs:
        key = parameter_key(ref.name)
        target = next((call for call in calls if len(call[0]) < limit and key not in call[1]), None)
        if target is None:
            target = ([], set())
            calls.append(target)
        target[0].append(ref)
        target[1].add(key)
    return [call for call, _ in calls]


def match_parameters(refs: list[ObjectRef], response: dict[str, Any]) -> dict[str, Answer]:
    """Each reference's parameter (by Name, then ARN) or its InvalidParameters failure."""
    by_key = {parameter_key(ref.name): selector(ref) for ref in refs}
    answers: dict[str, Answer] = {}
    invalid = list(dict.fromkeys(str(name) for name in response.get("InvalidParameters") or []))
    for name in invalid:  # every object among them names them all, as ASCP's message does
        answers[name] = NotFound(
            f"invalid parameters: {', '.join(preview(each) for each in invalid)} (GetParameters listed them in InvalidParameters: "
            "no such parameter, version or label in this region; hint: check the name, the objectVersion/objectVersionLabel and the region)",
            reason="InvalidParameters",
        )
    for parameter in response.get("Parameters") or []:
        found = by_key.get(parameter_key(str(parameter.get("Name") or ""))) or by_key.get(parameter_key(str(parameter.get("ARN") or "")))
        if found is not None and found not in answers:
            answers[found] = Value(str(parameter.get("Value") or "").encode("utf-8"), str(parameter.get("Version") or ""))
    for ref in refs:
        answers.setdefault(selector(ref), Internal("GetParameters returned neither the parameter nor an InvalidParameters entry for it"))
    return answers
