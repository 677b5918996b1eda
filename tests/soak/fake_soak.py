"""Fault soak against the fake backend over the real socket.

    uv run python -m tests.soak.fake_soak [--mounts 10000] [--concurrency 32]

Every mount asks for 5 of 20 secrets (some through jmesPath) with a failover location. The
primary answers 20% of calls with a retryable error and 2% with a non-retryable one, and every
call has random latency. Checked: no mount returns wrong or partial contents; every failure is
a clean typed error (PermissionDenied from the injected non-retryable fault — nothing else);
no leaked threads, file descriptors or asyncio tasks; RSS growth between the 1,000th and the
last mount (issue 7 target: under 10%).
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import yaml

from gateway.settings import Settings
from gateway.testing import mount_request, running_gateway
from gateway_fake import plugin as fake_plugin
from tests.soak.harness import Planned, SoakReport, command_line, drive

SECRETS = 20
PARAMETERS = {"region": "primary", "failoverRegion": "failover"}


def secret_value(index: int) -> str:
    return json.dumps({"user": f"user-{index}", "password": f"pw-{index}-" + "x" * index})


def store_document() -> str:
    secrets = {
        f"soak/s{i}": {"value": secret_value(i), "faults": {"primary": {"error": "denied", "rate": 0.025, "seed": 1000 + i}}}
        for i in range(SECRETS)
    }
    faults = {"primary": {"error": "unavailable", "rate": 0.2, "seed": 7, "jitterMs": 4}, "failover": {"jitterMs": 4}}
    return yaml.safe_dump({"locations": ["primary", "failover"], "faults": faults, "secrets": secrets})


def mount_plan(rng: random.Random) -> tuple[list[dict[str, object]], dict[str, bytes]]:
    """Objects for one mount and the exact files it must produce."""
    objects: list[dict[str, object]] = []
    expected: dict[str, bytes] = {}
    for index in rng.sample(range(SECRETS), 5):
        name = f"soak/s{index}"
        entry: dict[str, object] = {"objectName": name, "objectType": "fake", "objectAlias": f"s{index}.json"}
        expected[f"s{index}.json"] = secret_value(index).encode()
        if index % 2 == 0:
            entry["jmesPath"] = [{"path": "user", "objectAlias": f"s{index}-user"}]
            expected[f"s{index}-user"] = f"user-{index}".encode()
        objects.append(entry)
    return objects, expected


async def soak(mounts: int = 10_000, concurrency: int = 32, first_mark: int = 1_000) -> SoakReport:
    with tempfile.TemporaryDirectory() as directory:
        store = Path(directory) / "store.yaml"
        store.write_text(store_document())
        settings = Settings(plugin_options={"fake-store": str(store)}, http_address="")
        async with running_gateway([("fake", fake_plugin)], settings=settings) as gw:

            def plan(rng: random.Random) -> Planned:
                objects, expected = mount_plan(rng)
                return mount_request(objects, PARAMETERS), expected

            return await drive(
                gw.mount,
                plan,
                lambda failure: failure.code_name == "PermissionDenied" and "injected fault: access denied" in failure.message,
                mounts=mounts,
                concurrency=concurrency,
                first_mark=first_mark,
            )


if __name__ == "__main__":
    command_line(__doc__, soak)
