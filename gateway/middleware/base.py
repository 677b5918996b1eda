"""The unit middleware works on, and the registry of value stages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from gateway.model import MountPlan, ObjectSpec

#: orders of the built-in stages; a plugin stage picks a number in between
DECODE_ORDER = 100
EXTRACT_ORDER = 200
EXPAND_ORDER = 300


@dataclass(frozen=True)
class Piece:
    """A value on its way to becoming one file.

    ``name`` is subject to path translation; ``child`` (set by directory-style key
    expansion) is appended after translation as a single path component. ``origin`` is
    empty for the object's own value and says where derived pieces came from otherwise.
    """

    obj: ObjectSpec
    name: str
    value: bytes = field(repr=False)
    version: str
    location: str
    mode: int | None = None
    origin: str = ""
    child: str = ""
    name_from_secret: bool = False  # the name holds a secret's key (expandKeys): messages never show it

    @property
    def is_object_value(self) -> bool:
        return not self.origin

    @property
    def owner(self) -> str:
        """How messages name this piece: the object, plus its origin for derived pieces."""
        return f"{self.obj.label} {self.origin}".rstrip()


@runtime_checkable
class Stage(Protocol):
    """A value stage: takes all pieces of one mount, returns the new list.

    Stages run in ``order``; they raise :class:`~gateway.errors.GatewayError` subclasses
    (usually InvalidArgument) naming the object, and never put values into messages.

    A class whose files are all known from the parse — objects' values and the strings of
    field-path ``jmesPath`` entries, no ``expandKeys`` or ``encoding`` (a *direct* class, see
    :mod:`gateway.layout`) — skips the stages: the core reads its files straight from the answers.
    It does so only when every stage says it would leave those files as they are, with a class
    attribute ``passes_direct_files = True`` (the built-in stages do).
    """

    name: str
    order: int

    def __call__(self, pieces: list[Piece], plan: MountPlan) -> list[Piece]: ...


class MiddlewareRegistry:
    """Value stages in execution order; plugins add theirs at startup."""

    def __init__(self, stages: Sequence[Stage] = ()) -> None:
        self._stages: list[Stage] = []
        for stage in stages:
            self.add(stage)

    def add(self, stage: Stage) -> None:
        if any(existing.name == stage.name for existing in self._stages):
            raise ValueError(f'middleware stage "{stage.name}" is registered twice')
        self._stages.append(stage)
        self._stages.sort(key=lambda item: item.order)

    @property
    def stages(self) -> tuple[Stage, ...]:
        return tuple(self._stages)

    @property
    def passes_direct_files(self) -> bool:
        """Whether every stage leaves a direct class's files as the core makes them (each says so: ``passes_direct_files = True``)."""
        return all(getattr(stage, "passes_direct_files", False) for stage in self._stages)

    def run(self, pieces: list[Piece], plan: MountPlan) -> list[Piece]:
        for stage in self._stages:
            pieces = stage(pieces, plan)
        return pieces
