"""Path translation + safety on the final file set, including names only known after the fetch."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidArgument
from gateway.middleware.base import Piece
from gateway.middleware.files import build_files
from tests.support import ScriptedBackend, plan_for, registry_of

REGISTRY = registry_of(ScriptedBackend(name="fake"))


def pieces_for(objects: str, names: list[tuple[str, str, str]], **parameters: str) -> tuple[list[Piece], object]:
    """Pieces of the first object: ``(name, origin, child)`` each."""
    plan = plan_for(objects, REGISTRY, **parameters)
    obj = plan.objects[0]
    return [Piece(obj, name, b"v", "7", "here", obj.file_permission, origin, child) for name, origin, child in names], plan


@pytest.mark.parametrize(
    ("objects", "names", "parameters", "expected"),
    [
        pytest.param("- {objectName: /a/b, objectType: fake}\n", [("/a/b", "", "")], {}, [("_a_b", 0o644)], id="translated"),
        pytest.param("- {objectName: /a/b, objectType: fake}\n", [("/a/b", "", "")], {"pathTranslation": "False"},
                     [("a/b", 0o644)], id="nested"),
        pytest.param("- {objectName: x, objectType: fake, filePermission: '0400'}\n", [("x", "", "")], {}, [("x", 0o400)], id="mode"),
        pytest.param("- {objectName: x/y, objectType: fake, expandKeys: directory}\n", [("x/y", "key k", "k")], {},
                     [("x_y/k", 0o644)], id="directory-child-not-translated"),
    ],
)
def test_paths_and_modes(objects, names, parameters, expected) -> None:  # type: ignore[no-untyped-def]
    pieces, plan = pieces_for(objects, names, **parameters)
    files = build_files(pieces, plan)  # type: ignore[arg-type]
    assert [(f.path, f.mode) for f in files] == expected
    assert all(f.version == "7" for f in files)


def test_collision_from_expanded_keys_is_refused() -> None:
    objects = "- {objectName: db, objectType: fake, expandKeys: 'true'}\n- {objectName: db_user, objectType: fake}\n"
    plan = plan_for(objects, REGISTRY)
    pieces = [
        Piece(plan.objects[0], "db_user", b"a", "1", "here", None, "key #1", name_from_secret=True),
        Piece(plan.objects[1], "db_user", b"b", "1", "here"),
    ]
    with pytest.raises(InvalidArgument) as caught:
        build_files(pieces, plan)
    assert caught.value.message == (
        'objects[1] "db_user": its file path is also produced by objects[0] "db" key #1 '
        "(the path is not shown: it holds a key of the secret)"
    )


def test_expanded_key_with_slash_cannot_escape_with_translation_off() -> None:
    plan = plan_for("- {objectName: db, objectType: fake, expandKeys: 'true'}\n", REGISTRY, pathTranslation="False")
    pieces = [Piece(plan.objects[0], "db_../../x", b"a", "1", "here", None, "key #1", name_from_secret=True)]
    with pytest.raises(InvalidArgument, match=r'objects\[0\] "db" key #1: the file path made from this key .*not shown') as caught:
        build_files(pieces, plan)
    assert "../" not in caught.value.message
