"""File naming: path translation, the driver's path rules, and claims on paths.

The driver refuses a whole mount when any file path breaks its rules, and silently
collapses duplicate paths; both are caught with :class:`PathClaims` — at parse time for the
paths known before fetching, and again for the final file set.
"""

from __future__ import annotations

from gateway.text import preview

MAX_PATH_BYTES = 4096
MAX_COMPONENT_BYTES = 255


def parse_translation(value: str, default: str | None = "_") -> str | None:
    """``pathTranslation``: empty → ``default`` (the dialect's); ``false`` (any case) → None (off);
    else one character. Raises ValueError otherwise.
    """
    if value == "":
        return default
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
    """True when a path component is ``..`` — the "path can not contain ../" case."""
    return ".." in path.split("/")


def path_problem(path: str) -> str | None:
    """Why the driver would refuse ``path`` (None when it is acceptable)."""
    if path.isascii() and 0 < len(path) <= MAX_COMPONENT_BYTES and path[0] != "." and "/" not in path and "\x00" not in path:
        return None  # the common file name, one short ASCII component not starting with a dot: no rule below applies
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


def path_message(path: str, name: str, owner: str) -> str | None:
    """The user-facing message when ``path`` breaks a driver rule ("path can not contain ../" for ``..``)."""
    problem = path_problem(path)
    if problem is None:
        return None
    if has_parent_reference(path):
        return f"{owner}: path can not contain ../: {preview(name)}"
    return f'{owner}: file path "{preview(path)}" {problem}'


class PathClaims:
    """Detects two files with one path, and a file where another file needs a directory."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.directories: dict[str, str] = {}

    def claim(self, path: str, owner: str) -> str | None:
        if path in self.files:
            return f'{owner}: file path "{preview(path)}" is also produced by {self.files[path]}'
        if path in self.directories:
            return f'{owner}: file path "{preview(path)}" is a directory of {self.directories[path]}'
        parents = parent_directories(path) if "/" in path else ()
        for directory in parents:
            if directory in self.files:
                return (
                    f'{owner}: file path "{preview(path)}" needs "{preview(directory)}" as a directory, '
                    f"but it is a file of {self.files[directory]}"
                )
        self.files[path] = owner
        for directory in parents:
            self.directories.setdefault(directory, owner)
        return None

    def claim_directory(self, path: str, owner: str) -> str | None:
        if path in self.files:
            return f'{owner}: directory "{preview(path)}" is a file of {self.files[path]}'
        self.directories.setdefault(path, owner)
        return None
