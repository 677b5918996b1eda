"""Decoding: ``encoding: base64`` or ``hex`` on an object (or a jmesPath entry) decodes the value
before mounting; ``utf-8`` (vault-csi-provider's explicit "as is") leaves it unchanged."""

from __future__ import annotations

import binascii
import re
from dataclasses import replace

from gateway.errors import InvalidArgument
from gateway.middleware.base import DECODE_ORDER, Piece
from gateway.model import MountPlan

_WHITESPACE = re.compile(rb"\s+")


def decode_base64(value: bytes, owner: str) -> bytes:
    """Decode standard or URL-safe base64, tolerating line breaks and missing padding."""
    compact = _WHITESPACE.sub(b"", value)
    compact += b"=" * (-len(compact) % 4)
    try:
        if b"-" in compact or b"_" in compact:
            return binascii.a2b_base64(compact.replace(b"-", b"+").replace(b"_", b"/"), strict_mode=True)
        return binascii.a2b_base64(compact, strict_mode=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"{owner}: value is not valid base64 (encoding: base64)") from None


def decode_hex(value: bytes, owner: str) -> bytes:
    """Decode hex digits (either case, surrounding whitespace ignored)."""
    try:
        return binascii.unhexlify(value.strip())
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"{owner}: value is not valid hex (encoding: hex)") from None


DECODERS = {"base64": decode_base64, "hex": decode_hex}


def decode(value: bytes, encoding: str, owner: str) -> bytes:
    """``value`` decoded as ``encoding`` says (already validated and lower-cased)."""
    decoder = DECODERS.get(encoding)
    return decoder(value, owner) if decoder else value


class DecodeStage:
    """Decodes object values whose descriptor names an encoding."""

    name = "decode"
    order = DECODE_ORDER
    passes_direct_files = True  # see Stage

    def __call__(self, pieces: list[Piece], plan: MountPlan) -> list[Piece]:
        return [
            replace(piece, value=decode(piece.value, piece.obj.encoding, piece.owner))
            if piece.is_object_value and piece.obj.encoding in DECODERS
            else piece
            for piece in pieces
        ]
