"""Redaction of what a request carried (tokens, JWTs, external ids) from text a peer sent back.

A backend may echo a credential whole, cut, or wrapped across its own formatting; every run of at
least :data:`MIN_FRAGMENT` characters that also occurs in one of the secrets is replaced, so a
prefix, a suffix or a middle piece of a token is caught as well as the whole.
"""

from __future__ import annotations

from collections.abc import Iterable

MIN_FRAGMENT = 12  # shorter runs occur in ordinary text; a token's 12 characters carry ~70 bits
MARK = "[redacted]"


def redact(text: str, secrets: Iterable[str], min_fragment: int = MIN_FRAGMENT) -> str:
    """``text`` with every run of ``min_fragment`` or more characters shared with a secret replaced by ``[redacted]``.

    Secrets shorter than ``min_fragment`` are replaced where they occur whole. Linear in the lengths.
    """
    covered = [False] * len(text)
    for secret in secrets:
        if not secret:
            continue
        if len(secret) < min_fragment:
            _cover_whole(text, secret, covered)
            continue
        grams = {secret[i : i + min_fragment] for i in range(len(secret) - min_fragment + 1)}
        for start in range(len(text) - min_fragment + 1):
            if text[start : start + min_fragment] in grams:
                covered[start : start + min_fragment] = [True] * min_fragment
    if not any(covered):
        return text
    out: list[str] = []
    for index, char in enumerate(text):
        if not covered[index]:
            out.append(char)
        elif index == 0 or not covered[index - 1]:
            out.append(MARK)
    return "".join(out)


def _cover_whole(text: str, secret: str, covered: list[bool]) -> None:
    start = text.find(secret)
    while start != -1:
        covered[start : start + len(secret)] = [True] * len(secret)
        start = text.find(secret, start + 1)
