"""Refuse an oversized Mount request from its raw protobuf bytes, before anything decodes it.

Decoding a request (protobuf, the ``attributes`` string, its JSON) costs milliseconds of event-loop time per
MiB before any budget can look at a parameter. :func:`oversized_request` reads only lengths: it walks the
request's top-level wire-format fields (at most :data:`MAX_REQUEST_FIELDS` of them), and for an
``attributes`` text longer than one parameter may be, the JSON strings in it (a bounded number of
``bytes.find`` calls). A parameter over ``--max-parameter-bytes`` is refused with the parameter budget's
own message; an ``attributes`` or ``secrets`` field over :attr:`RequestLimits.max_field_bytes` with one
naming the field. Every occurrence of a field is judged, not only the one protobuf keeps (the last), so
repeating a field cannot hide one. What the scan cannot judge (bytes that are not protobuf, JSON it cannot
follow within its budget) goes to the decoder, which judges it as before; so does every request within
the limits, unchanged. Nothing of a value is ever shown: a message names the parameter, the field, sizes
and limits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from gateway.budget import DEFAULT_BUDGETS, parameter_too_large

#: the MountRequest fields judged here (proto/v1alpha1/service.proto)
ATTRIBUTES, SECRETS = 1, 2
FIELD_NAMES = {ATTRIBUTES: "attributes", SECRETS: "secrets"}
#: top-level fields walked at most, more are refused: driver v1.5 sends one current_object_version per file
#: mounted before (v1.6 none), so a 21,000-file class still rotates; walking 32,768 fields takes about 10 ms,
#: decoding them (as before) 30 ms; a million (8 MiB of empty entries) had taken seconds
MAX_REQUEST_FIELDS = 32768
#: what ``attributes`` holds besides the class's parameters: the pod's fields and volume attributes and the
#: ServiceAccount tokens (a few KiB each); ``secrets`` is a Kubernetes Secret (at most 1 MiB)
POD_ALLOWANCE = 512 * 1024
#: the JSON walk's budget: strings and escapes looked at (each one a ``bytes.find``), whitespace skipped
MAX_JSON_STEPS = 4096
MAX_WHITESPACE = 64
MAX_BACKSLASH_RUN = 64  # looked back over before a quote, to tell an escaped one
#: a key longer than this is not a parameter name the scan reports (the decoder and the budget judge it)
MAX_KEY_BYTES = 1024
_SPACE = b" \t\n\r"
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_VARINT, _FIXED64, _LENGTH_DELIMITED, _START_GROUP, _END_GROUP, _FIXED32 = range(6)
_STRING_TAGS = frozenset(number << 3 | _LENGTH_DELIMITED for number in FIELD_NAMES)


@dataclass(frozen=True)
class RequestLimits:
    """The limits a request's raw bytes are held to (from the server's settings)."""

    max_parameter_bytes: int = DEFAULT_BUDGETS.max_parameter_bytes
    max_fields: int = MAX_REQUEST_FIELDS

    @property
    def max_field_bytes(self) -> int:
        """The largest ``attributes`` (or ``secrets``) text: a class is stored as JSON in etcd (1.5 MiB), so its
        parameters' JSON stays under ``--max-parameter-bytes``; the rest is the pod's (docs/reliability.md)."""
        return self.max_parameter_bytes + POD_ALLOWANCE


DEFAULT_REQUEST_LIMITS = RequestLimits()


class CannotJudge(Exception):
    """The bytes are not what the scan follows: the decoder judges them."""


def oversized_request(data: bytes, limits: RequestLimits) -> str | None:
    """The ``ResourceExhausted`` message for a request too large to decode, or ``None``: decode it as usual."""
    try:
        fields = top_level_strings(data, limits.max_fields)
    except CannotJudge:
        return None
    if fields is None:
        return (
            f"the Mount request has more than {limits.max_fields} protobuf fields, the limit per request "
            "(a driver sends 4, and 1 per file mounted before in current_object_version)"
        )
    for number, start, end in fields:
        problems = _oversized_values(data, start, end, limits.max_parameter_bytes) if number == ATTRIBUTES else []
        if problems:
            return "; ".join(problems)
        if end - start > limits.max_field_bytes:
            return (
                f"the Mount request's {FIELD_NAMES[number]} field is {end - start} bytes, above the limit of "
                f"{limits.max_field_bytes} bytes (--max-parameter-bytes plus {POD_ALLOWANCE // 1024} KiB for the pod's fields and tokens)"
            )
    return None


def top_level_strings(data: bytes, max_fields: int) -> list[tuple[int, int, int]] | None:
    """``(field number, start, end)`` of every top-level ``attributes`` and ``secrets`` field, in order;
    ``None`` when there are more than ``max_fields`` fields (those in groups counted). Raise
    :class:`CannotJudge` for bytes that are not protobuf."""
    found: list[tuple[int, int, int]] = []
    groups: list[int] = []  # the field numbers of the groups the walk is in
    pos, end = 0, len(data)
    try:
        for _ in range(max_fields):  # one-byte tags and lengths (the common case) read inline: ~0.3 µs a field
            if pos >= end:
                break
            tag = data[pos]
            if tag < 0x80:
                pos += 1
            else:
                tag, pos = _varint(data, pos)
            wire_type = tag & 7
            if tag < 8:  # field number 0
                raise CannotJudge
            if wire_type == _LENGTH_DELIMITED:
                length = data[pos]
                if length < 0x80:
                    pos += 1
                else:
                    length, pos = _varint(data, pos)
                if tag in _STRING_TAGS and not groups:
                    found.append((tag >> 3, pos, pos + length))
                pos += length
            elif wire_type == _VARINT:
                _, pos = _varint(data, pos)
            elif wire_type == _FIXED64:
                pos += 8
            elif wire_type == _FIXED32:
                pos += 4
            elif wire_type == _START_GROUP:
                groups.append(tag >> 3)
            elif wire_type == _END_GROUP and groups and groups[-1] == tag >> 3:
                groups.pop()
            else:
                raise CannotJudge
        else:
            if pos < end:
                return None
    except IndexError:
        raise CannotJudge from None
    if pos > end or groups:
        raise CannotJudge
    return found


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    value = shift = 0
    while shift < 64:
        byte = data[pos]  # IndexError past the end: the caller's CannotJudge
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7
    raise CannotJudge


def _oversized_values(data: bytes, start: int, end: int, limit: int) -> list[str]:
    """The parameter budget's problems for the values of the JSON object ``data[start:end]`` longer than
    ``limit`` bytes decoded: those the walk finds within its budget (none when the text is no longer than
    ``limit``: decoding never makes a string longer)."""
    if end - start <= limit:
        return []
    walk = _JsonWalk(data, start, end)
    try:
        walk.find_oversized(limit)
    except CannotJudge:
        pass  # what was found before stays found
    return walk.problems


class _JsonWalk:
    """A bounded walk over the strings of a JSON object of strings: where each starts and ends."""

    def __init__(self, data: bytes, start: int, end: int) -> None:
        self.data, self.pos, self.end = data, start, end
        self.steps = MAX_JSON_STEPS
        self.problems: list[str] = []

    def find_oversized(self, limit: int) -> None:
        self._expect(b"{")
        if self._peek() == ord("}"):
            return
        while True:
            key_start, key_end = self._string()
            self._expect(b":")
            value_start, value_end = self._string()
            if value_end - value_start > limit:
                size, exact = self._decoded_size(value_start, value_end)
                if size > limit:
                    self.problems.append(parameter_too_large(self._key(key_start, key_end), size, limit, exact=exact))
            separator = self._next()
            if separator == ord("}"):
                return
            if separator != ord(","):
                raise CannotJudge

    def _spend(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise CannotJudge

    def _peek(self) -> int:
        for _ in range(MAX_WHITESPACE):
            if self.pos >= self.end:
                raise CannotJudge
            byte = self.data[self.pos]
            if byte not in _SPACE:
                return byte
            self.pos += 1
        raise CannotJudge

    def _next(self) -> int:
        byte = self._peek()
        self.pos += 1
        return byte

    def _expect(self, token: bytes) -> None:
        if self._next() != token[0]:
            raise CannotJudge

    def _string(self) -> tuple[int, int]:
        """Where the contents of the string at the current position start and end; move past it."""
        self._expect(b'"')
        start = pos = self.pos
        while True:
            self._spend()
            quote = self.data.find(b'"', pos, self.end)
            if quote < 0:
                raise CannotJudge
            window = self.data[max(start, quote - MAX_BACKSLASH_RUN) : quote]
            backslashes = len(window) - len(window.rstrip(b"\\"))
            if backslashes == MAX_BACKSLASH_RUN:
                raise CannotJudge  # a longer run than the walk looks back over
            if backslashes % 2 == 0:
                self.pos = quote + 1
                return start, quote
            pos = quote + 1

    def _decoded_size(self, start: int, end: int) -> tuple[int, bool]:
        """The UTF-8 length of the JSON string contents ``data[start:end]`` once decoded, and whether it is
        exact: past the walk's budget of escapes, a lower bound (an escape is at most 6 bytes for 1)."""
        data, size, pos = self.data, end - start, start
        while True:
            escape = data.find(b"\\", pos, end)
            if escape < 0:
                return size, True
            if self.steps <= 0:
                return size - 5 * data.count(b"\\", escape, end), False
            self._spend()
            if data[escape + 1] != ord("u"):
                size, pos = size - 1, escape + 2
                continue
            code = _hex(data, escape + 2)
            if 0xD800 <= code < 0xDC00 and data[escape + 6 : escape + 8] == b"\\u" and 0xDC00 <= _hex(data, escape + 8) < 0xE000:
                size, pos = size - 12 + 4, escape + 12
            else:
                size, pos = size - 6 + (1 if code < 0x80 else 2 if code < 0x800 else 3), escape + 6

    def _key(self, start: int, end: int) -> str:
        if end - start > MAX_KEY_BYTES:
            raise CannotJudge
        try:
            key = json.loads(self.data[start - 1 : end + 1])
        except ValueError:
            raise CannotJudge from None
        assert isinstance(key, str)
        return key


def _hex(data: bytes, pos: int) -> int:
    digits = data[pos : pos + 4]
    if len(digits) != 4 or digits.strip(_HEX_DIGITS):
        raise CannotJudge
    return int(digits, 16)
