"""The response size is computed exactly as protobuf encodes it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway import wire
from gateway.model import MountedFile, MountResult

files = st.builds(
    MountedFile,
    path=st.text(min_size=0, max_size=300),
    mode=st.integers(min_value=0, max_value=511),
    contents=st.binary(max_size=3000),
    version=st.text(max_size=40),
    object_index=st.just(0),
)


@given(st.lists(files, max_size=8))
def test_response_size_matches_protobuf(entries: list[MountedFile]) -> None:
    result = MountResult(tuple(entries))
    assert wire.response_size(result) == wire.to_mount_response(result).ByteSize()
