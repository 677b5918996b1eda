"""What the two AWS backends have in common: regions, ARN routing, identity, sessions and coalesced calls."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from gateway.plugin import (
    Backend,
    FetchBatch,
    Fetched,
    FetchFailure,
    FetchItem,
    FetchOutcome,
    GatewayError,
    Metrics,
    MountRequest,
    ObjectRef,
    ObjectSpec,
    SingleFlight,
    parse_failover_locations,
    preview,
)
from gateway_aws.arn import SERVICES, invalid_service, looks_like_arn, parse_arn
from gateway_aws.errors import headed
from gateway_aws.options import AwsOptions
from gateway_aws.params import AUTH_PARAMETERS, parse_auth_parameters
from gateway_aws.regionnames import check_region_names

if TYPE_CHECKING:
    from gateway_aws.runtime import AwsRuntime, AwsSession


@dataclass(frozen=True)
class Value:
    """A fetched value and its version, before it is tied to an item key."""

    data: bytes = field(repr=False)
    version: str


Answer = Value | GatewayError


T = TypeVar("T")


async def side_by_side(jobs: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """The jobs' results, run side by side; a single job runs in the caller's task (gather makes a task of each)."""
    if len(jobs) == 1:
        return [await jobs[0]]
    return list(await asyncio.gather(*jobs))


def outcome(key: int, answer: Answer) -> FetchOutcome:
    if isinstance(answer, GatewayError):
        return FetchFailure(key, answer)
    return Fetched(key, answer.data, answer.version)


class SharedRuntime:
    """The plugin's one :class:`~gateway_aws.runtime.AwsRuntime`, which its backends share, built when one of them first
    needs it: its modules (clients, credentials, identities, the Kubernetes API) are imported then, so a gateway
    whose classes never use AWS holds none of it."""

    def __init__(self, options: AwsOptions, metrics: Metrics | None = None) -> None:
        self._options = options
        self._metrics = metrics
        self.built: AwsRuntime | None = None

    @classmethod
    def around(cls, runtime: AwsRuntime) -> SharedRuntime:
        """One already built (tests build theirs with their own Kubernetes API or options)."""
        shared = cls(runtime.options)
        shared.built = runtime
        return shared

    def get(self) -> AwsRuntime:
        if self.built is None:
            from gateway_aws.runtime import AwsRuntime  # its modules only once a class uses AWS

            self.built = AwsRuntime(self._options, self._metrics)
        return self.built


class AwsBackend(Backend):
    """Base of ``secretsmanager`` and ``ssmparameter``; subclasses implement :meth:`fetch_with`."""

    location_parameter = "region"
    failover_parameter = "failoverRegion"
    location_noun = "region"
    parameters = AUTH_PARAMETERS
    service: ClassVar[str] = ""  # boto3 service name
    arn_service: ClassVar[str] = ""  # the service in this backend's ARNs: they route here without an objectType (claimed_names)

    def __init__(self, runtime: SharedRuntime | AwsRuntime) -> None:
        self._runtime = runtime if isinstance(runtime, SharedRuntime) else SharedRuntime.around(runtime)
        self._flights: SingleFlight[Hashable, dict[str, Any]] = SingleFlight()

    @property
    def runtime(self) -> AwsRuntime:
        return self._runtime.get()

    def check_parameters(self, parameters: Mapping[str, str]) -> list[str]:
        try:
            parse_auth_parameters(parameters)
        except GatewayError as exc:
            return [exc.message]
        return []

    def check_object(self, obj: ObjectSpec) -> list[str]:
        """ASCP: an ARN, primary or failover, must be well-formed and of this backend's service
        (a failover ARN of a service AWS backends do not serve, with no objectType: ``Invalid service in ARN``)."""
        problems = []
        for ref, part in ((obj.ref, ""), (obj.failover_ref, "failoverObject: ")):
            if ref is None or not looks_like_arn(ref.name):
                continue
            arn = parse_arn(ref.name)
            if arn is None:
                problems.append(f"{part}Invalid ARN format in object name: {preview(ref.name)}")
            elif arn.service not in SERVICES and not obj.object_type:
                problems.append(part + invalid_service(arn.service))
            elif arn.service != self.arn_service:
                problems.append(f"{part}objectType does not match ARN: {preview(ref.name)}")
        return problems

    def check_object_locations(self, obj: ObjectSpec, locations: tuple[str, ...]) -> list[str]:
        """ASCP: an ARN's region must be the region it is fetched in (the failover name: the failover region)."""
        problems = []
        for ref, region in ((obj.ref, locations[0]), (obj.failover_ref, locations[1] if len(locations) > 1 else None)):
            if ref is None or region is None:
                continue
            arn = parse_arn(ref.name)
            if arn is not None and arn.region != region:
                problems.append(f"ARN region must match region {preview(region)}: {preview(ref.name)}")
        return problems

    def static_locations(self, parameters: Mapping[str, str]) -> tuple[str, ...] | None:
        primary = self.runtime.regions.static(parameters)
        if not primary:
            return None
        return (primary, *parse_failover_locations(primary, parameters.get(self.failover_parameter, ""), self.location_noun))

    async def locations(self, request: MountRequest) -> tuple[str, ...]:
        """Region first; the core then calls :meth:`check_request` — ASCP's order of checks."""
        primary = await self.runtime.regions.primary(request.attributes, request.identity)
        return check_region_names((primary, *parse_failover_locations(primary, request.param(self.failover_parameter), self.location_noun)))

    def check_request(self, request: MountRequest) -> None:
        """The auth parameters, then the pod's token for them."""
        self.runtime.identities.token(request.identity, parse_auth_parameters(request.attributes))

    def cache_evidence(self, batch: FetchBatch) -> str:
        """The token checks a miss makes; with Pod Identity the pod uid too (its credentials are per pod)."""
        return self.runtime.identities.evidence(batch.identity, parse_auth_parameters(batch.request.attributes))

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        if not batch.items:
            return []
        session = await self.runtime.session(batch, self.service, self.name)
        outcomes = await self.fetch_with(session, batch.items)
        refs = {item.key: item.ref for item in batch.items}
        return [
            FetchFailure(o.key, headed(self.fetch_failed(refs[o.key]), o.error)) if isinstance(o, FetchFailure) else o for o in outcomes
        ]

    @abc.abstractmethod
    def fetch_failed(self, ref: ObjectRef) -> str:
        """ASCP's words for a failed fetch of ``ref``: every fetch failure's message starts with them."""

    @abc.abstractmethod
    async def fetch_with(self, session: AwsSession, items: Sequence[FetchItem]) -> list[FetchOutcome]:
        """Fetch ``items`` with a ready session; one outcome per item."""

    async def shared_call(
        self, session: AwsSession, operation: str, selector: Hashable, call: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        """Run ``call`` once for concurrent identical requests of the same principal and region.

        ``selector`` must capture every argument of the call; the session key adds the identity.
        The shared answer is read-only.
        """
        return await self._flights.do((session.key, operation, selector), call)

    async def aclose(self) -> None:
        if self._runtime.built is not None:
            await self._runtime.built.aclose()
