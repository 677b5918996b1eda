"""YAML flavours: how the text of a SecretProviderClass parameter becomes values, per dialect.

Providers written in Go read the same YAML differently, and users' classes depend on it. A
flavour is three functions: ``load`` (text → document), ``text`` (the string a *string field*
receives from a scalar; None for a list or mapping) and ``data`` (plain Python data for fields
that keep their structure, e.g. a backend's structured option handed over as JSON).

- ``go-yaml-v2``: Go's ``sigs.k8s.io/yaml`` (YAML 1.1, see :mod:`gateway.yaml11`): a string field
  receives the Go form of the resolved value — unquoted ``0600`` is ``"384"``, ``yes`` is ``"true"``.
- ``yaml-1.2``: the YAML 1.2 core schema. A string field receives the scalar *as written*
  (``0600`` stays ``"0600"``, ``yes`` stays ``"yes"``); typed values follow the core schema: only
  ``true``/``false`` are booleans, ``0600`` is the decimal 600, ``0o600`` is octal.
- ``go-yaml-v3``: Go's ``gopkg.in/yaml.v3``. A string field receives the scalar as written, as
  in ``yaml-1.2``; typed values follow yaml.v3, which reads integers like Go's
  ``strconv.ParseInt(s, 0, 64)``: ``0600`` and ``0o600`` are octal 384, ``0x`` hex, ``0b`` binary.

Every flavour shares the guards of :mod:`gateway.yaml11` (nesting depth, errors that say where,
never what).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from gateway import yaml11

INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
BOOL_TAG = "tag:yaml.org,2002:bool"
NULL_TAG = "tag:yaml.org,2002:null"
MERGE_TAG = "tag:yaml.org,2002:merge"


class Scalar(str):
    """A plain scalar as written, carrying ``value``: what the flavour's schema resolves it to."""

    value: Any

    @classmethod
    def of(cls, text: str, value: Any) -> Scalar:
        scalar = cls(text)
        scalar.value = value
        return scalar


@dataclass(frozen=True)
class YamlFlavour:
    """``text`` must return a plain ``str`` (a string scalar) unchanged: the parser takes those as they are."""

    name: str
    load: Callable[..., Any]  # (text, limits=YamlLimits()) -> document
    text: Callable[[Any], str | None]
    data: Callable[[Any], Any]


# --------------------------------------------------------------------------- scalars as written


_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)")
_NAN = re.compile(r"\.(nan|NaN|NAN)")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}


def _float(text: str) -> float:
    if _NAN.fullmatch(text):
        return math.nan
    if _INF.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    return float(text)


def _core_int(text: str) -> int:
    """YAML 1.2 core schema: decimal, ``0o`` octal, ``0x`` hex."""
    if text.startswith(("0o", "0x")):
        return int(text, 0)
    return int(text, 10)


def go_int(text: str) -> int:
    """``strconv.ParseInt(s, 0, 64)`` after yaml.v3 drops underscores: a leading ``0`` is octal."""
    plain = text.replace("_", "")
    sign, digits = (plain[0], plain[1:]) if plain[:1] in "+-" else ("", plain)
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        return int(sign + digits[1:], 8)
    return int(sign + digits, 0)


def _text_loader(name: str, int_pattern: str, parse_int: Callable[[str], int]) -> type:
    """A SafeLoader whose plain scalars are :class:`Scalar` (text as written) with typed values."""
    loader: Any = type(name, (yaml11.FastResolver, yaml11.SAFE_LOADER), {"yaml_implicit_resolvers": {}})  # a yaml Loader class, built at run time
    digits_and_signs = list("-+0123456789")
    loader.add_implicit_resolver(BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    loader.add_implicit_resolver(NULL_TAG, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
    loader.add_implicit_resolver(INT_TAG, re.compile(f"^(?:{int_pattern})$"), digits_and_signs)
    loader.add_implicit_resolver(
        FLOAT_TAG, re.compile(rf"^(?:{_FLOAT.pattern}|{_INF.pattern}|{_NAN.pattern})$"), [*digits_and_signs, "."]
    )
    loader.add_implicit_resolver(MERGE_TAG, re.compile(r"^(?:<<)$"), ["<"])

    loader.add_constructor(INT_TAG, _scalar_constructor(parse_int))
    loader.add_constructor(FLOAT_TAG, _scalar_constructor(_float))
    loader.add_constructor(BOOL_TAG, _scalar_constructor(lambda text: _BOOL[text] if text in _BOOL else _bool_error()))
    built: type = loader
    return built


def _scalar_constructor(convert: Callable[[str], Any]) -> Callable[[Any, yaml.Node], Scalar]:
    """A constructor making the scalar as written, with ``convert(text)`` as its typed value."""

    def construct(loader: Any, node: yaml.Node) -> Scalar:
        try:
            return Scalar.of(node.value, convert(node.value))
        except ValueError:
            raise yaml.constructor.ConstructorError(None, None, f"not a valid {node.tag}", node.start_mark) from None

    return construct


def _bool_error() -> bool:
    raise ValueError("not a boolean")


def _as_written(value: Any) -> str | None:
    """A string field's value: the scalar as written; nothing for null; None for lists and mappings."""
    return str(value) if isinstance(value, str) else yaml11.scalar_text(value)


def _typed_data(value: Any) -> Any:
    """Plain data: every :class:`Scalar` replaced by its typed value, keys as written."""
    if isinstance(value, Scalar):
        return value.value
    if isinstance(value, dict):
        return {_as_written(key) if isinstance(key, str) else key: _typed_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed_data(item) for item in value]
    return value


YAML_1_2_LOADER = _text_loader("Yaml12CoreLoader", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", _core_int)
GO_YAML_V3_LOADER = _text_loader(
    "GoYamlV3Loader", r"[-+]?(?:0[bB][01_]+|0[oO][0-7_]+|0[xX][0-9a-fA-F_]+|0[0-7_]*|[1-9][0-9_]*)", go_int
)

def _loader(loader: type) -> Callable[..., Any]:
    def load(text: str, limits: yaml11.YamlLimits = yaml11.DEFAULT_LIMITS) -> Any:
        return yaml11.load(text, loader, limits)

    return load


GO_YAML_V2 = YamlFlavour("go-yaml-v2", _loader(yaml11.Yaml11Loader), yaml11.scalar_text, lambda value: value)
YAML_1_2 = YamlFlavour("yaml-1.2", _loader(YAML_1_2_LOADER), _as_written, _typed_data)
GO_YAML_V3 = YamlFlavour("go-yaml-v3", _loader(GO_YAML_V3_LOADER), _as_written, _typed_data)
#: the built-in flavours by name (what a worker process can load without the plugins)
FLAVOURS = {flavour.name: flavour for flavour in (GO_YAML_V2, YAML_1_2, GO_YAML_V3)}


def load_named(name: str, text: str, limits: yaml11.YamlLimits) -> Any:
    """``FLAVOURS[name].load`` within ``limits`` (picklable: what the planner's worker processes run)."""
    return FLAVOURS[name].load(text, limits=limits)

