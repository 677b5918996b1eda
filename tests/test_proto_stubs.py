"""The committed gRPC stubs are exactly what the proto generates, and the wire contract holds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from gateway.providerpb import service_pb2 as pb

REPO = Path(__file__).resolve().parent.parent


def test_committed_stubs_match_a_fresh_generation(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("gen_proto", REPO / "scripts" / "gen_proto.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for fresh in module.generate(tmp_path):
        committed = REPO / fresh.relative_to(tmp_path)
        assert committed.read_bytes() == fresh.read_bytes(), f"{committed} is stale: run `uv run python scripts/gen_proto.py`"


def test_field_numbers_follow_the_driver_contract() -> None:
    expected = {
        "VersionRequest": {"version": 1},
        "VersionResponse": {"version": 1, "runtime_name": 2, "runtime_version": 3},
        "MountRequest": {"attributes": 1, "secrets": 2, "target_path": 3, "permission": 4, "current_object_version": 5},
        "MountResponse": {"object_version": 1, "error": 2, "files": 3},
        "File": {"path": 1, "mode": 2, "contents": 3},
        "ObjectVersion": {"id": 1, "version": 2},
        "Error": {"code": 1},
    }
    for message, fields in expected.items():
        descriptor = pb.DESCRIPTOR.message_types_by_name[message]
        assert {f.name: f.number for f in descriptor.fields} == fields
    assert pb.DESCRIPTOR.package == "v1alpha1"
    methods = pb.DESCRIPTOR.services_by_name["CSIDriverProvider"].methods
    assert [m.name for m in methods] == ["Version", "Mount"]
