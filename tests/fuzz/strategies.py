"""Hypothesis strategies that mutate the bad-input corpus (tests/corpus) into new Mount requests.

Seeds are the corpus's own requests (every case that is neither heavy nor a known bug) and a few
well-formed requests (so that mutations also reach the value stages and file building); a mutation
works on one of them at the level a real mistake happens: a parameter of the attributes map, a
field of one object descriptor (values drawn from tests/test_properties.py's strategies), the text
of the objects YAML or of an envelope field (insert, delete, replace, duplicate, splice), or a
crossover of two seeds' envelope fields.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import yaml
from hypothesis import strategies as st

from gateway.request import RawMountRequest
from tests.corpus import harness
from tests.test_properties import descriptor, names, scalars

#: store secrets a mutated descriptor may point at (json-keys-surrogate is left out: a known hang,
#: covered by the corpus cases expand-*-key-lone-surrogate)
STORE_NAMES = (
    "good", "text", "json", "json-array", "json-string", "json-number", "json-null", "json-true", "json-truncated",
    "json-keys-dotdot", "json-keys-abs", "json-keys-empty", "json-keys-dot", "json-keys-slash", "json-keys-nul",
    "json-keys-reserved", "json-keys-long", "json-keys-collide", "json-surrogate-value", "b64-invalid", "b64-padding",
    "b64-single", "rotating", "primary-only", "denied", "notfound-fault", "invalid-fault", "quota", "down", "a_b",
    "cfg_a", "missing",
)
FIELDS = (
    "objectName", "objectType", "objectAlias", "objectVersion", "objectVersionLabel", "filePermission", "jmesPath",
    "failoverObject", "encoding", "expandKeys", "expandKeysSeparator",
)
PARAMETERS = ("objects", "pathTranslation", "failoverMode", "region", "failoverRegion", "fakeSecrets")
ENVELOPE = ("attributes", "secrets", "permission")
#: characters mutations insert: structure of JSON and YAML, path tricks, Unicode tricks
TRICKY = st.sampled_from(
    list('{}[]:,"\'\\-#&*!|>%@` \n\t/.') + ["..", "../", "\x00", "\u202e", "\u200b", "\uff0f", "\uff0e", "\u0301", "\\u0000",
                                             "\\ud800", "0600", "~", "null", "arn:aws:"]
)


def seed_cases() -> list[harness.Case]:
    return [case for case in harness.load_cases() if not case.heavy and not case.xfail and not case.isolate]


SEEDS: list[harness.Case] = seed_cases()
SEED_REQUESTS: list[RawMountRequest] = [case.build() for case in SEEDS]
#: well-formed requests that mount, so that mutations also reach the value stages and file building
VALID_REQUESTS: list[RawMountRequest] = [
    harness.build_request(spec)
    for spec in (
        {"objects": [{"objectName": "json", "objectType": "fake", "objectAlias": "db.json",
                      "jmesPath": [{"path": "user", "objectAlias": "db-user"}, {"path": "password", "objectAlias": "db-pass", "filePermission": "0600"}]}]},
        {"objects": [{"objectName": "json", "objectType": "fake", "objectAlias": "cfg", "expandKeys": "directory"}], "parameters": {"pathTranslation": "False"}},
        {"objects": [{"objectName": "json-keys-collide", "objectType": "fake", "expandKeys": "true", "expandKeysSeparator": "."}]},
        {"objects": [{"objectName": "rotating", "objectType": "fake", "objectVersionLabel": "AWSPREVIOUS"}, {"objectName": "good", "objectType": "fake", "objectAlias": "dir/good"}],
         "parameters": {"pathTranslation": "False", "failoverRegion": "backup", "failoverMode": "all"}},
        {"objects": [{"objectName": "b64-padding", "objectType": "fake", "encoding": "base64"}, {"objectName": "/app/x", "objectType": "fake", "objectAlias": "a"}],
         "parameters": {"fakeSecrets": "secrets: {/app/x: {value: PLANTED-inline}}\n"}},
        {"objects": [{"objectName": "a_b", "objectType": "fake"}, {"objectName": "cfg_a", "objectType": "fake", "filePermission": "0400"}]},
    )
]


@st.composite
def text_mutation(draw: st.DrawFn, text: str) -> str:
    """``text`` with one edit at a drawn position."""
    size = len(text)
    start = draw(st.integers(0, size))
    end = draw(st.integers(start, min(size, start + 16)))
    kind = draw(st.sampled_from(["insert", "delete", "replace", "duplicate", "truncate"]))
    if kind == "insert":
        return text[:start] + draw(st.one_of(TRICKY, st.text(max_size=8))) + text[start:]
    if kind == "delete":
        return text[:start] + text[end:]
    if kind == "replace":
        return text[:start] + draw(st.one_of(TRICKY, st.text(max_size=4))) + text[end:]
    if kind == "duplicate":
        return text[:end] + text[start:end] + text[end:]
    return text[:start]


_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: structural mutations only on seeds this small (the corpus's deep-nesting seeds are text-mutated)
MAX_STRUCTURED_CHARS = 20_000


def _attributes(raw: RawMountRequest) -> dict[str, Any] | None:
    if len(raw.attributes) > MAX_STRUCTURED_CHARS:
        return None
    try:
        document = json.loads(raw.attributes)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _objects(attributes: dict[str, Any]) -> list[Any] | None:
    text = attributes.get("objects")
    if not isinstance(text, str) or text.count("[") + text.count("{") > 100:
        return None
    try:
        document = yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, RecursionError, ValueError):  # ValueError: lone surrogates (UnicodeEncodeError)
        return None
    return document if isinstance(document, list) else None


@st.composite
def mutated_requests(draw: st.DrawFn) -> RawMountRequest:
    raw = draw(st.one_of(st.sampled_from(SEED_REQUESTS), st.sampled_from(VALID_REQUESTS)))
    mutation = draw(st.sampled_from(["none", "descriptor", "parameter", "objects-text", "envelope-text", "crossover"]))
    attributes = _attributes(raw)
    if mutation == "descriptor" and attributes is not None and (entries := _objects(attributes)):
        index = draw(st.integers(0, len(entries) - 1))
        entry = entries[index] if isinstance(entries[index], dict) else {}
        action = draw(st.sampled_from(["set", "delete", "replace-entry", "append-entry", "store-name"]))
        if action == "set":
            entry = {**entry, draw(st.sampled_from(FIELDS)): draw(st.one_of(names, scalars, st.sampled_from(STORE_NAMES)))}
        elif action == "delete" and entry:
            doomed = draw(st.sampled_from(sorted(entry, key=str)))
            entry = {k: v for k, v in entry.items() if k != doomed}
        elif action == "replace-entry":
            entry = draw(descriptor)
        elif action == "append-entry":
            entries.append(draw(descriptor))
        else:
            entry = {**entry, "objectName": draw(st.sampled_from(STORE_NAMES)), "objectType": "fake"}
        entries[index] = entry
        try:
            attributes["objects"] = harness.dump_yaml(entries)
        except (yaml.YAMLError, RecursionError, ValueError):
            return raw
        return replace(raw, attributes=json.dumps(attributes))
    if mutation == "parameter" and attributes is not None:
        key = draw(st.sampled_from(PARAMETERS + tuple(sorted(attributes))))
        value = draw(st.one_of(st.text(max_size=12), TRICKY, st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=2)))
        if value is None and draw(st.booleans()):
            attributes.pop(key, None)
        else:
            attributes[key] = value
        return replace(raw, attributes=json.dumps(attributes))
    if mutation == "objects-text" and attributes is not None and isinstance(attributes.get("objects"), str):
        attributes["objects"] = draw(text_mutation(attributes["objects"]))
        return replace(raw, attributes=json.dumps(attributes))
    if mutation == "envelope-text":
        field = draw(st.sampled_from(ENVELOPE))
        return replace(raw, **{field: draw(text_mutation(getattr(raw, field)))})
    if mutation == "crossover":
        other = draw(st.sampled_from(SEED_REQUESTS + VALID_REQUESTS))
        field = draw(st.sampled_from(ENVELOPE))
        return replace(raw, **{field: getattr(other, field)})
    return raw
