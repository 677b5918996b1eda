"""YAML as Go's ``sigs.k8s.io/yaml`` (yaml.v2, YAML 1.1) reads it into string fields.

Go providers that decode a parameter with ``sigs.k8s.io/yaml`` into string fields see YAML 1.1
scalars in their Go string forms: ``0600`` is the octal number 384 and ends up as ``"384"``,
``yes``/``y``/``on`` become ``"true"``, ``1.0`` becomes ``"1"``, and ``null`` becomes an empty
string. Timestamps stay as written. :func:`load` and :func:`scalar_text` reproduce that; this is
the ``go-yaml-v2`` flavour of :mod:`gateway.yamlflavour`, and what manifests are read with.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from gateway.yamlbudget import DEFAULT_LIMITS as DEFAULT_LIMITS
from gateway.yamlbudget import YamlError as YamlError
from gateway.yamlbudget import YamlLimits as YamlLimits
from gateway.yamlbudget import YamlTooLarge as YamlTooLarge
from gateway.yamlbudget import construct

#: PyYAML's SafeLoader, libyaml's when available
SAFE_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FastResolver:
    """PyYAML's ``resolve``, which libyaml's composer calls for every node, without its generic steps (a list
    concatenated per scalar, path resolvers) for a loader that has neither path nor wildcard resolvers: the same
    tags, a fifth less time composing. Put it first among a loader's bases."""

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if self.yaml_path_resolvers or None in self.yaml_implicit_resolvers:  # type: ignore[attr-defined]
            return super().resolve(kind, value, implicit)  # type: ignore[misc,no-any-return]
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in self.yaml_implicit_resolvers.get(value[:1], ()):  # type: ignore[attr-defined]
                    if regexp.match(value):
                        return tag  # type: ignore[no-any-return]
            return "tag:yaml.org,2002:str"
        return "tag:yaml.org,2002:seq" if kind is yaml.SequenceNode else "tag:yaml.org,2002:map"


class Yaml11Loader(FastResolver, SAFE_LOADER):  # type: ignore[misc]
    """SafeLoader (libyaml when available) without timestamp resolution and with Go's y/n booleans."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in SAFE_LOADER.yaml_implicit_resolvers.items()  # type: ignore[attr-defined]
    }
    bool_values = {**yaml.SafeLoader.bool_values, "y": True, "n": False}


Yaml11Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))


def load(text: str, loader: type = Yaml11Loader, limits: YamlLimits = DEFAULT_LIMITS) -> Any:
    """Parse one YAML document (with ``loader``, a SafeLoader subclass) within ``limits``; raise
    :class:`YamlError` with line/column on failure, :class:`YamlTooLarge` over a limit."""
    documents = _parse(text, loader, limits, single=True)
    return documents[0] if documents else None


def load_all(text: str, limits: YamlLimits = DEFAULT_LIMITS) -> list[Any]:
    """Parse a multi-document stream (a manifest file), each document within ``limits``."""
    return _parse(text, Yaml11Loader, limits, single=False)


def _parse(text: str, loader_class: type, limits: YamlLimits, *, single: bool) -> list[Any]:
    # libyaml recurses without a limit: a deep enough document would crash the whole process
    # instead of raising, so depth is checked before the parser sees the text.
    if nesting_exceeds(text, MAX_DEPTH):
        raise YamlError(f"document nested deeper than {MAX_DEPTH} levels")
    loader = loader_class(text)
    try:
        nodes = [loader.get_single_node()] if single else _all_nodes(loader)
        return [construct(loader, node, limits) for node in nodes if node is not None]
    except yaml.MarkedYAMLError as exc:
        raise YamlError(_describe(exc)) from None
    except yaml.reader.ReaderError as exc:
        raise YamlError(f"{exc.reason}: character #x{exc.character:04x} at position {exc.position}") from None
    except yaml.YAMLError as exc:
        raise YamlError(type(exc).__name__) from None
    except RecursionError:
        raise YamlError("document nested too deeply") from None
    finally:
        loader.dispose()


def _all_nodes(loader: Any) -> list[Any]:
    nodes = []
    while loader.check_node():
        nodes.append(loader.get_node())
    return nodes


MAX_DEPTH = 100
_NESTING_TOKENS = re.compile(r"[\[\]{}\"'\\]")


def nesting_exceeds(text: str, limit: int) -> bool:
    """A conservative bound of a YAML document's nesting: flow brackets outside quoted scalars,
    and the indentation plus ``- ``/``? ``/``: `` markers that open block levels on a line.

    A quote opens a quoted scalar only where YAML would start one (line start, after blanks
    or ``[{,:``), so a quote inside a plain scalar cannot hide the brackets after it.
    """
    if text.count("[") + text.count("{") > limit and _brackets_exceed(text, limit):  # fewer openers: none can
        return True
    return any(len(line) - len(line.lstrip(" -?:")) > 2 * limit for line in text.splitlines())


def _brackets_exceed(text: str, limit: int) -> bool:
    depth = 0
    quote = ""
    skip_before = -1  # the character after a backslash in a double-quoted scalar
    for match in _NESTING_TOKENS.finditer(text):  # only these characters matter: megabytes of plain text stay cheap
        position = match.start()
        if position < skip_before:
            continue
        char = text[position]
        if quote:
            if quote == '"' and char == "\\":
                skip_before = position + 2
            elif char == quote:
                quote = ""
        elif char in "\"'" and (position == 0 or text[position - 1] in " \t\n[{,:"):
            quote = char
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth = max(0, depth - 1)
    return False


def scalar_text(value: Any) -> str | None:
    """The Go string form of a YAML scalar; None when ``value`` is a list or mapping."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):  # !!binary
        return value.decode("latin-1")
    if isinstance(value, (list, dict, set)):
        return None
    return str(value)


def go_float(value: float) -> str:
    """``strconv.FormatFloat(v, 'g', -1, 64)`` as Go's JSON round trip renders it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    digits, exponent = _shortest_digits(value)
    sign = "-" if value < 0 else ""
    point = exponent + 1  # position of the decimal point relative to the digit string
    if -4 <= exponent < 21:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{sign}{digits}{'0' * (point - len(digits))}"
        return f"{sign}{digits[:point]}.{digits[point:]}"
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip digits of ``abs(value)`` and its decimal exponent."""
    mantissa, _, exponent = f"{abs(value):.17e}".partition("e")
    for precision in range(1, 18):
        candidate = f"{abs(value):.{precision - 1}e}"
        if float(candidate) == abs(value):
            mantissa, _, exponent = candidate.partition("e")
            break
    return mantissa.replace(".", "").rstrip("0") or "0", int(exponent)


def _describe(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
    return f"{exc.problem or exc.context or 'invalid YAML'}{where}"
