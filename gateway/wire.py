"""Conversions between the gateway's types and the driver's proto messages."""

from __future__ import annotations

from gateway.model import MountResult
from gateway.providerpb import service_pb2 as pb
from gateway.request import RawMountRequest


def from_mount_request(message: pb.MountRequest) -> RawMountRequest:
    return RawMountRequest(
        attributes=message.attributes,
        secrets=message.secrets,
        permission=message.permission,
        target_path=message.target_path,
        current_versions=tuple((v.id, v.version) for v in message.current_object_version),
    )


def to_mount_request(raw: RawMountRequest) -> pb.MountRequest:
    return pb.MountRequest(
        attributes=raw.attributes,
        secrets=raw.secrets,
        permission=raw.permission,
        target_path=raw.target_path,
        current_object_version=[pb.ObjectVersion(id=i, version=v) for i, v in raw.current_versions],
    )


def to_mount_response(result: MountResult) -> pb.MountResponse:
    return pb.MountResponse(
        object_version=[pb.ObjectVersion(id=i, version=v) for i, v in result.object_versions],
        files=[pb.File(path=f.path, mode=f.mode, contents=f.contents) for f in result.files],
    )
