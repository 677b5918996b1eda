"""On defaults a process's AWS mounts never import botocore, nor does ``--warm-up``; where botocore decides, both do.

Real ``serve`` processes under the module probe of ``benchmarks/startup.py`` (``sys.modules`` reported from inside the
process), mounting against moto through the counting proxy — behaviour only, no timing.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from gateway.client import DriverClient
from gateway.testing import mount_request
from gateway_aws.testing import PRIMARY, AwsWorld

BOTOCORE = {"botocore", "botocore.session", "botocore.client", "urllib3"}


def startup_benchmark() -> Any:
    path = Path(__file__).resolve().parents[3] / "benchmarks" / "startup.py"
    spec = importlib.util.spec_from_file_location("benchmark_startup", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("config", "imported"),
    [pytest.param(False, False, id="defaults"), pytest.param(True, True, id="a-config-file-botocore-decides")],
)
async def test_a_mount_imports_botocore_only_where_botocore_decides(
    world: AwsWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: bool, imported: bool
) -> None:
    world.secret("db", "sm")
    world.parameter("/p", "ssm")
    if config:
        (tmp_path / "config").write_text("[default]\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    startup = startup_benchmark()
    directory = Path(tempfile.mkdtemp(prefix="sgw-nobotocore-", dir="/tmp"))
    server, report = startup.probe(directory, "aws,vault,fake", ("--aws-kubeconfig", str(world.kubeconfig)))
    try:
        await startup.until_version_answers(server, directory / startup.SOCKET)
        objects = [{"objectName": "db", "objectType": "secretsmanager"}, {"objectName": "/p", "objectType": "ssmparameter"}]
        async with DriverClient(directory / startup.SOCKET) as client:
            result = await client.mount(mount_request(objects, {"region": PRIMARY}, pod=world.irsa_pod()), timeout=60)
        held = set(startup.idle_modules(server, report))
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert sorted(f.contents for f in result.files) == [b"sm", b"ssm"]
    assert "gateway_aws" in held
    assert ({"botocore", "botocore.session", "botocore.client"} <= held) if imported else held.isdisjoint(BOTOCORE), held
    assert {c.operation for c in world.proxy.calls} == {"AssumeRoleWithWebIdentity", "BatchGetSecretValue", "GetParameters"}


WARM_UP = "import sys; from gateway_aws.plugin import gateway_server_started; gateway_server_started(); print(json.dumps('botocore' in sys.modules))"


@pytest.mark.parametrize(
    ("env", "imported"),
    [pytest.param({}, False, id="defaults"), pytest.param({"AWS_PROFILE": "dev"}, True, id="a-profile-botocore-decides")],
)
def test_the_warm_up_imports_botocore_only_where_botocore_decides(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], imported: bool) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    done = subprocess.run([sys.executable, "-c", f"import json; {WARM_UP}"], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(done.stdout.strip().splitlines()[-1]) is imported
