"""Redaction catches a secret whole and any long fragment of it, and leaves other text alone."""

from __future__ import annotations

import pytest

from gateway.redact import redact

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlLXRoYXQtaXMtc2VjcmV0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(f"bad token {TOKEN} refused", "bad token [redacted] refused", id="whole"),
        pytest.param(f"bad token {TOKEN[:30]}... refused", "bad token [redacted]... refused", id="prefix"),
        pytest.param(f"jwt ending {TOKEN[-20:]}", "jwt ending [redacted]", id="suffix"),
        pytest.param(f"part {TOKEN[40:70]} part", "part [redacted] part", id="middle"),
        pytest.param(f"{TOKEN[:20]} and {TOKEN[50:80]}", "[redacted] and [redacted]", id="two-fragments"),
        pytest.param(f"short {TOKEN[5:15]} kept", f"short {TOKEN[5:15]} kept", id="fragment-below-the-minimum-kept"),
        pytest.param("nothing of it here", "nothing of it here", id="unrelated"),
    ],
)
def test_redact_tokens_and_their_long_fragments(text: str, expected: str) -> None:
    assert redact(text, [TOKEN]) == expected


def test_short_secrets_are_replaced_where_whole() -> None:
    assert redact("external id ab12 refused, ab1 kept", ["ab12", ""]) == "external id [redacted] refused, ab1 kept"
