"""File naming: ASCP's path translation and the driver's path rules.

The driver refuses a whole mount when any file path breaks its rules, and silently
collapses duplicate paths; both are caught here, before anything is fetched where possible.
"""

from __future__ import annotations

MAX_PATH_BYTES = 4096
MAX_COMPONENT_BYTES = 255


def parse_translation(value: str) -> str | None:
    """``pathTranslation``: empty → ``_``; ``false`` (any case) → None (off); else one character.

    Raises ValueError with ASCP's message otherwise.
    """
    if value == "":
        return "_"
    if value.lower() == "false":
        return None
    if len(value) != 1:
        raise ValueError("pathTranslation must be either 'False' or a single character string")
    return value


def translate(name: str, translation: str | None) -> str:
    """The file path for ``name``: every ``/`` becomes the translation character, or, with
    translation off, a leading ``/`` is stripped and inner ones make sub-directories."""
    if translation is None:
        return name.lstrip("/")
    return name.replace("/", translation)


def has_parent_reference(path: str) -> bool:
    """True when a path component is ``..`` — ASCP's "path can not contain ../" case."""
    return ".." in path.split("/")


def path_problem(path: str) -> str | None:
    """Why the driver would refuse ``path`` (None when it is acceptable)."""
    if path == "":
        return "is empty"
    if "\x00" in path:
        return "contains a NUL character"
    if path.startswith("/"):
        return "is absolute"
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        return "contains invalid Unicode (a lone surrogate)"
    if len(encoded) > MAX_PATH_BYTES:
        return f"is longer than {MAX_PATH_BYTES} bytes"
    components = path.split("/")
    if ".." in components:
        return "contains a '..' component"
    if "" in components or "." in components:
        return "is not a clean relative path (empty or '.' component, or a trailing '/')"
    if components[0].startswith(".."):
        return "starts with '..', which the driver reserves for its own files"
    for component in components:
        if len(component.encode("utf-8")) > MAX_COMPONENT_BYTES:
            return f"has a component longer than {MAX_COMPONENT_BYTES} bytes"
    return None


def parent_directories(path: str) -> list[str]:
    """``a/b/c`` → ``["a", "a/b"]``: directories a nested path implies."""
    components = path.split("/")
    return ["/".join(components[:i]) for i in range(1, len(components))]
