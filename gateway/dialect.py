"""Dialects: how a SecretProviderClass is read.

Classes written for another provider depend on how that provider reads them: the YAML flavour
of the ``objects`` list, the ``filePermission`` syntax, whether ``/`` in a file name is
translated, which backend an object without ``objectType`` goes to, and the wording of the
messages about names that cannot be routed. A dialect holds those choices; everything else
about a class (fields, limits, paths, duplicates) is the core's and the same in every dialect.

The dialect of a class is the one whose ``provider_names`` holds the provider name the server
answers as (``--provider-name``), else the native one; a class may name another with the
parameter ``dialect``. Plugins add dialects through the ``gateway_register_dialects`` hook.
The native dialect (``secrets-gateway``) is this module's :class:`Dialect` itself; see
docs/plugins.md for the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gateway.errors import StartupError
from gateway.model import NATIVE_NAME
from gateway.text import preview
from gateway.yamlflavour import YAML_1_2, YamlFlavour

#: the SecretProviderClass parameter that chooses a dialect for one class
DIALECT_PARAMETER = "dialect"
_OCTAL_MODE = re.compile(r"[0-7]{4}|0o[0-7]{3,4}")  # always fullmatch: "$" would accept a trailing newline


class Dialect:
    """The native dialect, and the base class of every other.

    Native rules: YAML 1.2 core schema, a string field gets its scalar as written (unquoted
    ``0600`` is ``"0600"``, ``yes`` is ``"yes"``); ``filePermission`` is always octal, written
    as four digits or with ``0o`` (``0644`` or ``0o644``, quoted or not — never a number that
    could be read two ways, such as ``644`` or ``420``); ``/`` in a file name
    becomes ``_`` unless ``pathTranslation`` says otherwise; no default object type.

    Subclasses override the attributes and methods whose rules differ.
    """

    name: str = NATIVE_NAME
    description: str = "native: YAML 1.2, filePermission 0644 or 0o644, '/' translated to '_'"
    #: ``--provider-name`` values this dialect is the default for
    provider_names: tuple[str, ...] = ()
    yaml: YamlFlavour = YAML_1_2
    #: ``pathTranslation`` when the class does not set it: a character, or None (``/`` makes directories)
    translation_default: str | None = "_"
    #: the backend of objects without ``objectType`` that no backend claims (the parameter
    #: ``defaultObjectType`` and ``--default-object-type`` come first)
    default_object_type: str = ""
    #: class parameters parsing reads beyond the core's (they key the parse cache)
    parameters: frozenset[str] = frozenset()

    def file_permission(self, text: str) -> int | None:
        """The mode ``filePermission: <text>`` asks for (None: the request's default); raise
        ValueError with the message. The core then refuses modes outside 0000-0777."""
        if not _OCTAL_MODE.fullmatch(text):
            raise ValueError(f'Invalid File Permission: {preview(text)} (write the octal mode as 4 digits, "0644", or as "0o644")')
        return int(text.removeprefix("0o"), 8)

    def unclaimed_problem(self, object_name: str) -> str | None:
        """Why an object without ``objectType`` that no backend claims cannot go to the
        default object type either; None lets it."""
        return None

    def missing_type(self, object_name: str) -> str:
        """The problem of an object without ``objectType`` that nothing routes."""
        return (
            f'objectType is not set and no backend claims "{preview(object_name)}": '
            "set objectType, or the parameter defaultObjectType"
        )


NATIVE = Dialect()


class DialectRegistry:
    """Dialects by name and by provider name, filled once at startup (native first)."""

    def __init__(self) -> None:
        self._by_name: dict[str, Dialect] = {NATIVE.name: NATIVE}
        self._by_provider: dict[str, Dialect] = {}

    def add(self, dialect: Dialect) -> None:
        """Register ``dialect``; a name or provider name taken twice is a startup error."""
        if dialect.name in self._by_name:
            raise StartupError(f'dialect "{dialect.name}" is registered twice')
        for provider in dialect.provider_names:
            owner = self._by_provider.get(provider)
            if owner is not None:
                raise StartupError(f'provider name "{provider}" is claimed by dialects "{owner.name}" and "{dialect.name}"')
        self._by_name[dialect.name] = dialect
        for provider in dialect.provider_names:
            self._by_provider[provider] = dialect

    def get(self, name: str) -> Dialect | None:
        return self._by_name.get(name)

    def all(self) -> list[Dialect]:
        return [self._by_name[name] for name in self.names()]

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def for_provider(self, provider_name: str) -> Dialect:
        """The dialect a server answering as ``provider_name`` reads classes in."""
        return self._by_provider.get(provider_name, NATIVE)

    def choose(self, parameters: Mapping[str, str], provider_name: str) -> Dialect:
        """The dialect of one class: its ``dialect`` parameter, else the provider name's.
        Raise ValueError naming the known dialects when the parameter names none."""
        named = parameters.get(DIALECT_PARAMETER, "")
        if not named:
            return self.for_provider(provider_name)
        dialect = self._by_name.get(named)
        if dialect is None:
            raise ValueError(f'unknown dialect "{preview(named)}" (parameter {DIALECT_PARAMETER}; known: {", ".join(self.names())})')
        return dialect
