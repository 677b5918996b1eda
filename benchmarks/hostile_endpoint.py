"""What a hostile endpoint costs the gateway's bounded HTTP client (gateway.outbound).

For each attack of :class:`gateway.testing.hostile.HostileServer` that aims at memory or time —
a 400 MiB body announced, chunked or unframed; a head or a body dribbled a byte at a time — one
request with a 3 s deadline and a 4 MiB cap (Vault's defaults): the error kind, the time to it,
whether the server saw the connection closed, and the process's peak RSS so far.

    uv run python benchmarks/hostile_endpoint.py
"""

from __future__ import annotations

import asyncio
import resource
import time

from gateway.outbound import HttpProblem, OutboundHttp
from gateway.testing.hostile import HostileServer

ATTACKS = ("huge-announced", "huge-chunked", "huge-unframed", "dribble-head", "dribble-body")


async def attack(behaviour: str) -> str:
    with HostileServer(behaviour) as server:
        http = OutboundHttp(max_body=4 * 1024 * 1024)
        started = time.monotonic()
        try:
            await http.request("GET", server.address + "/v1/secret/data/x", timeout=3)
            kind = "answered"
        except HttpProblem as exc:
            kind = exc.kind
        elapsed = time.monotonic() - started
        await http.aclose()
        closed = await asyncio.to_thread(server.wait_all_closed, 10)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return f"| {behaviour} | {kind} | {elapsed:.2f} s | {'yes' if closed else 'NO'} | {peak:.1f} MiB |"


async def main() -> None:
    print("| attack | outcome | time to it | connection closed | peak RSS |")
    print("|---|---|---|---|---|")
    for behaviour in ATTACKS:
        print(await attack(behaviour))


if __name__ == "__main__":
    asyncio.run(main())
