"""Conversions between the gateway's types and the driver's proto messages, and their sizes."""

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


def response_size(result: MountResult) -> int:
    """The encoded size of ``to_mount_response(result)`` without building it (proto3 rules)."""
    total = 0
    for object_id, version in result.object_versions:
        total += _embedded(_text(object_id) + _text(version))
    for file in result.files:
        mode = 1 + _varint_size(file.mode) if file.mode else 0
        total += _embedded(_text(file.path) + mode + _blob(len(file.contents)))
    return total


def _text(value: str) -> int:
    return _blob(len(value.encode("utf-8")))


def _blob(length: int) -> int:
    return 1 + _varint_size(length) + length if length else 0


def _embedded(length: int) -> int:
    return 1 + _varint_size(length) + length


def _varint_size(value: int) -> int:
    if value < 0:
        return 10
    size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size
