"""Conversions between the gateway's types and the driver's proto messages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gateway.model import MountedFile, MountResult
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
    """The response for ``result``'s files."""
    return response_of((file.path, file.mode, file.contents, file.version) for file in result.files)


def response_of(rows: Iterable[tuple[str, int, bytes, str]]) -> pb.MountResponse:
    """The response for files given as ``(path, mode, contents, version)``."""
    response = pb.MountResponse()
    add_files(response, rows)
    return response


def add_files(response: pb.MountResponse, rows: Iterable[tuple[str, int, bytes, str]]) -> None:
    """Add files to ``response``, each in place (a message built apart and copied in costs twice as much)."""
    add_file, add_version = response.files.add, response.object_version.add
    for path, mode, contents, version in rows:
        add_file(path=path, mode=mode, contents=contents)
        add_version(id=path, version=version)


def files_of(response: pb.MountResponse, objects: Sequence[int]) -> tuple[MountedFile, ...]:
    """The files of a response built by :func:`response_of`; ``objects[i]`` is file ``i``'s object index."""
    return tuple(
        MountedFile(file.path, file.mode, file.contents, version.version, index)
        for index, file, version in zip(objects, response.files, response.object_version, strict=True)
    )
