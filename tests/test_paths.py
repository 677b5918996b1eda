"""Path translation and the driver's path rules."""

from __future__ import annotations

import pytest

from gateway.paths import parse_translation, path_problem, translate


@pytest.mark.parametrize(
    ("name", "translation", "path"),
    [
        pytest.param("/a/b", "_", "_a_b", id="default-underscore"),
        pytest.param("a/b", "-", "a-b", id="custom-char"),
        pytest.param("/a/b", None, "a/b", id="off-strips-leading-slash"),
        pytest.param("///a", None, "a", id="off-strips-all-leading-slashes"),
        pytest.param("arn:aws:secretsmanager:r:1:secret:x", "_", "arn:aws:secretsmanager:r:1:secret:x", id="arn-kept"),
    ],
)
def test_translate(name: str, translation: str | None, path: str) -> None:
    assert translate(name, translation) == path


@pytest.mark.parametrize(
    ("value", "expected"),
    [pytest.param("", "_", id="empty"), pytest.param("False", None, id="False"), pytest.param("FALSE", None, id="upper"), pytest.param(".", ".", id="dot")],
)
def test_parse_translation(value: str, expected: str | None) -> None:
    assert parse_translation(value) == expected


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        pytest.param("a", None, id="plain"),
        pytest.param("a/b/c", None, id="nested"),
        pytest.param("a..b", None, id="dots-inside"),
        pytest.param(".hidden", None, id="hidden"),
        pytest.param("", "is empty", id="empty"),
        pytest.param("/a", "is absolute", id="absolute"),
        pytest.param("a/", "not a clean", id="trailing-slash"),
        pytest.param("./a", "not a clean", id="dot-first"),
        pytest.param("a/./b", "not a clean", id="dot-inside"),
        pytest.param("a//b", "not a clean", id="double-slash"),
        pytest.param("a/../b", "'..' component", id="parent"),
        pytest.param("..", "'..' component", id="parent-alone"),
        pytest.param("..data", "starts with '..'", id="reserved"),
        pytest.param("x" * 256, "longer than 255", id="component"),
        pytest.param("x" * 255, None, id="longest-component"),
        pytest.param("é" * 128, "longer than 255", id="component-in-bytes"),
        pytest.param(".", "not a clean", id="dot-alone"),
        pytest.param("/".join(["x" * 200] * 21), "longer than 4096", id="total"),
        pytest.param("a\x00b", "NUL", id="nul"),
        pytest.param("a\ud800", "invalid Unicode", id="surrogate"),
    ],
)
def test_path_problem(path: str, problem: str | None) -> None:
    found = path_problem(path)
    assert (found is None) if problem is None else (found is not None and problem in found)
