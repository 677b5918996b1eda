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
    claims = paths.PathClaims()
    files = []
    for piece in pieces:
        path = paths.translate(piece.name, plan.translation)
        if piece.child:
            path = f"{path}/{piece.child}"
        problem = paths.path_message(path, piece.name, piece.owner) or claims.claim(path, piece.owner)
        if problem:
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
