"""A Vault value nested deeper than the encoders can go is a typed InvalidArgument, never Internal."""

from __future__ import annotations

import pytest

from gateway.plugin import InvalidArgument
from gateway_vault.dialect import VAULT_CSI_PROVIDER
from gateway_vault.extract import SecretData, select
from gateway_vault.gojson import loads

DEEP = loads("[" * 900 + "]" * 900)  # parses, but encoding it again recurses past the interpreter's limit


@pytest.mark.parametrize(
    ("data", "key"),
    [pytest.param({"k": DEEP}, "k", id="one-key"), pytest.param({"k": DEEP}, "", id="whole-answer")],
)
def test_a_too_deep_value_is_invalid_argument(data: dict[str, object], key: str) -> None:
    secret = SecretData(data, "secret/x", answer={"data": data})
    with pytest.raises(InvalidArgument, match="secret/x is nested too deeply to write as JSON"):
        select(secret, key, VAULT_CSI_PROVIDER)  # its Go-compatible encoder is written in Python: it recurses
