"""User-supplied text as messages may show it: escaped where it could mislead, cut where it is huge.

Names, aliases and paths come from SecretProviderClasses and secret contents. In a pod event
a right-to-left override, a zero-width character or a newline would make a message lie about
what it names, a lone surrogate cannot even be sent (gRPC status messages must be UTF-8), and a
megabyte-long name would push the actual cause out of the message.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories escaped in messages: controls, formats (bidi overrides, zero-width), surrogates, separators
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x00": "\\0"}


def printable(text: str) -> str:
    """``text`` with every character that could hide or fake content escaped (``\\u202e``, ``\\n``…)."""
    if text.isprintable() and text.isascii():
        return text
    out = []
    for char in text:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif unicodedata.category(char) in _ESCAPED_CATEGORIES:
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return "".join(out)


def preview(text: str, limit: int = 200) -> str:
    """A printable, bounded rendering of a user-supplied value for a message."""
    if len(text) > limit:
        return printable(text[:limit]) + f"…({len(text)} characters)"
    return printable(text)


def bounded(message: str, limit: int) -> str:
    """A whole message made printable and cut to at most ``limit`` characters."""
    message = printable(message)
    if len(message) <= limit:
        return message
    suffix = " … (message truncated)"
    return message[: limit - len(suffix)] + suffix


def plural(noun: str) -> str:
    """``zone`` → ``zones``, ``address`` → ``addresses``."""
    return noun + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")


def at(backend: str, location: str) -> str:
    """``backend @ location`` — just the backend for one that has no locations."""
    return f"{backend} @ {location}" if location else backend
