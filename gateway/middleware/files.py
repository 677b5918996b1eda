"""Path translation + safety: pieces become the final file set, or one precise error.

Applies ``pathTranslation``, the file modes (``filePermission``, else the request's
``permission``), the driver's path rules, and refuses collisions — two files on one path,
or a file where another file needs a directory — which the driver would silently collapse.
"""

from __future__ import annotations

from gateway import paths
from gateway.errors import InvalidArgument
from gateway.middleware.base import Piece
from gateway.model import MountedFile, MountPlan


def build_files(pieces: list[Piece], plan: MountPlan) -> tuple[MountedFile, ...]:
    if _checked_by_the_parser(pieces, plan):
        permission = plan.request.permission
        return tuple(
            MountedFile(paths.translate(piece.name, plan.translation), permission if piece.mode is None else piece.mode,
                        piece.value, piece.version, piece.obj.index)
            for piece in pieces
        )
    claims = paths.PathClaims()
    files = []
    secret_paths: set[str] = set()
    for piece in pieces:
        path = paths.translate(piece.name, plan.translation)
        if piece.child:
            path = f"{path}/{piece.child}"
        if piece.name_from_secret:
            secret_paths.add(path)
        problem = paths.path_message(path, piece.name, piece.owner) or claims.claim(path, piece.owner)
        if problem:
            if piece.name_from_secret or path in secret_paths:
                problem = _without_the_path(path, piece, claims)
            raise InvalidArgument(problem)
        files.append(
            MountedFile(
                path=path,
                mode=plan.request.permission if piece.mode is None else piece.mode,
                contents=piece.value,
                version=piece.version,
                object_index=piece.obj.index,
            )
        )
    return tuple(files)


def _without_the_path(path: str, piece: Piece, claims: paths.PathClaims) -> str:
    """The problem with a path made from a secret's key, told without the path (it would show the key)."""
    hidden = "(the path is not shown: it holds a key of the secret)"
    if not piece.name_from_secret:
        return f"{piece.owner}: its file path is also produced by {claims.files.get(path, 'another file')} {hidden}"
    reason = paths.path_problem(path)
    if reason is None:
        other = claims.files.get(path) or claims.directories.get(path)
        reason = f"is also a path of {other}" if other else "needs the path of another file as a directory"
    return f"{piece.owner}: the file path made from this key {reason} {hidden}"


def _checked_by_the_parser(pieces: list[Piece], plan: MountPlan) -> bool:
    """True when the pieces name exactly the files whose paths the parser found safe and unique."""
    return len(pieces) == len(plan.checked_names) and all(
        piece.name == name and not piece.child and not piece.name_from_secret
        for piece, name in zip(pieces, plan.checked_names, strict=True)
    )
