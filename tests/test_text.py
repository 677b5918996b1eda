"""User-supplied text in messages: escaped where it could mislead, bounded where huge."""

from __future__ import annotations

import pytest

from gateway.server import MAX_STATUS_MESSAGE, status_message
from gateway.text import bounded, preview, printable
from gateway.yaml11 import YamlError, load, nesting_exceeds


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("prod/db", "prod/db", id="plain"),
        pytest.param("café/名前", "café/名前", id="letters-kept"),
        pytest.param("invoice\u202egnp.exe", "invoice\\u202egnp.exe", id="bidi-override"),
        pytest.param("go\u200dod", "go\\u200dod", id="zero-width"),
        pytest.param("a\nb\tc\x00d", "a\\nb\\tc\\0d", id="controls"),
        pytest.param("x\udc80y", "x\\udc80y", id="lone-surrogate"),
    ],
)
def test_printable(text: str, shown: str) -> None:
    assert printable(text) == shown
    printable(text).encode("utf-8")  # always sendable as a gRPC status message


def test_preview_and_bounded() -> None:
    assert preview("x" * 500, 10) == "xxxxxxxxxx…(500 characters)"
    assert len(bounded("y" * 10_000, 3000)) == 3000
    assert len(status_message("z" * 10_000)) == MAX_STATUS_MESSAGE
    assert status_message("bad \udc80 key").encode("utf-8")


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        pytest.param("[" * 101, True, id="flow"),
        pytest.param("- " * 201 + "x", True, id="block"),
        pytest.param("[a'" + "[" * 200, True, id="quote-inside-plain-scalar-does-not-hide"),
        pytest.param("x: '" + "[" * 200 + "'", False, id="quoted-brackets"),
        pytest.param('x: "\\"' + "[" * 200 + '"', False, id="escaped-quote"),
        pytest.param("- {a: [1, {b: [2]}]}", False, id="normal"),
    ],
)
def test_nesting_bound(text: str, deep: bool) -> None:
    assert nesting_exceeds(text, 100) is deep


def test_deep_documents_are_refused_instead_of_crashing_libyaml() -> None:
    with pytest.raises(YamlError, match="nested deeper than 100 levels"):
        load("[" * 25_000)
