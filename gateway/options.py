"""Typed server options: each declared once, parsed once, handed on as typed values.

An :class:`Option` names a ``--flag``, its type, default, choices, check and help. The core's
settings (:mod:`gateway.settings`) and every plugin (``gateway_add_options``) declare theirs this
way; the CLI builds the flags from them, reads ``SECRETS_GATEWAY_<NAME>`` from the environment,
parses and checks every value once and refuses a bad one with a one-line message naming the flag
or the variable. Plugins read typed values with ``settings.option(MY_OPTION)``.

One boolean syntax everywhere — flags, environment and SecretProviderClass parameters — Go's
``strconv.ParseBool``: ``1 t T TRUE true True`` and ``0 f F FALSE false False``. A bare boolean
flag (``--strict-objects``) means true.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from gateway.errors import StartupError

T = TypeVar("T")

ENV_PREFIX = "SECRETS_GATEWAY_"
OPTION_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

#: the subcommands that build the mount pipeline (and so load plugins and read their options)
PIPELINE_COMMANDS = frozenset({"serve", "mount", "validate", "secret-objects", "plugins"})

_CREDENTIALS = re.compile(r"//[^/@\s]*@")  # user:password@ in a URL is never echoed
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class OptionError(StartupError):
    """A server option's value is unusable; the message names the flag or variable and what it expects."""


class OptionValueError(ValueError):
    """Raised by an option's own parser with the precise reason, which the message then gives."""


def parse_bool(text: str) -> bool:
    """The one boolean syntax (Go's ``strconv.ParseBool``); ``ValueError`` for anything else."""
    if text in _GO_TRUE:
        return True
    if text in _GO_FALSE:
        return False
    raise ValueError(text)


def parse_names(text: str) -> frozenset[str] | None:
    """A comma-separated list of names; empty means "no restriction" (None)."""
    names = frozenset(part.strip() for part in text.split(",") if part.strip())
    return names or None


def parse_mode(text: str) -> int:
    """An octal file mode such as ``0600``."""
    return int(text, 8)


def _describe_type(kind: Callable[[str], Any]) -> str:
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "text",
        str.lower: "text",
        Path: "a path",
        parse_names: "comma-separated names",
        parse_mode: "an octal file mode like 0600",
    }.get(kind, "a value")


@dataclass(frozen=True)
class Check(Generic[T]):
    """A rule a parsed value must pass, with what it expects for the message (``"> 0"``)."""

    test: Callable[[T], bool]
    expects: str


def at_least(minimum: float) -> Check[Any]:
    return Check(lambda value: value >= minimum, f">= {minimum:g}")


def between(low: float, high: float) -> Check[Any]:
    return Check(lambda value: low <= value <= high, f"{low:g}..{high:g}")


POSITIVE: Check[Any] = Check(lambda value: value > 0, "> 0")


@dataclass(frozen=True)
class Option(Generic[T]):
    """One server setting: ``--<name>`` and ``$SECRETS_GATEWAY_<NAME>``.

    ``type`` parses the text (``bool``, ``int``, ``float``, ``str``, ``Path`` or any function raising
    ``ValueError``); ``choices`` and ``check`` constrain the parsed value. ``commands`` are the
    subcommands whose ``--help`` lists it. ``secret`` hides the value in help and messages.
    """

    name: str
    type: Callable[[str], T]
    default: T
    help: str
    choices: tuple[T, ...] = ()
    check: Check[T] | None = None
    env: str = ""
    commands: frozenset[str] = PIPELINE_COMMANDS
    secret: bool = False

    def __post_init__(self) -> None:
        if not OPTION_NAME.match(self.name):
            raise ValueError(f"option name {self.name!r} must be lower-case words joined by '-'")

    @property
    def env_var(self) -> str:
        return self.env or ENV_PREFIX + self.name.upper().replace("-", "_")

    @property
    def dest(self) -> str:
        """The attribute name (argparse destination, ``Settings`` field)."""
        return self.name.replace("-", "_")

    @property
    def is_flag(self) -> bool:
        return self.type is bool

    def expects(self) -> str:
        if self.choices:
            return " or ".join(str(choice) for choice in self.choices)
        kind = _describe_type(self.type)
        return f"{kind} {self.check.expects}" if self.check else kind

    def parse(self, text: str, source: str = "") -> T:
        """Parse and check ``text``; :class:`OptionError` naming ``source`` (the flag by default)."""
        parser: Callable[[str], Any] = parse_bool if self.is_flag else self.type
        try:
            value: T = parser(text.strip())
        except OptionValueError as exc:
            raise self.error(text, source, str(exc)) from None
        except (ValueError, TypeError):
            raise self.error(text, source) from None
        if self.choices and value not in self.choices:
            raise self.error(text, source)
        if self.check is not None and not self.check.test(value):
            raise self.error(text, source)
        return value

    def error(self, text: str, source: str = "", reason: str = "") -> OptionError:
        shown = "(hidden)" if self.secret else repr(_CREDENTIALS.sub("//***@", text))
        where = source or f"--{self.name} (${self.env_var})"
        return OptionError(f"{where}: invalid value {shown}: {reason or 'expected ' + self.expects()}")

    def show_default(self) -> str:
        if self.secret:
            return "(hidden)"
        if self.is_flag:
            return "true" if self.default else "false"
        if self.default is None or self.default == "":
            return "none"
        if isinstance(self.default, frozenset):
            return ",".join(sorted(self.default))
        if self.type is parse_mode and isinstance(self.default, int):
            return f"{self.default:04o}"
        return str(self.default)

    def is_given(self, flag: str | None, env: Mapping[str, str]) -> bool:
        """Set by the flag or the environment (not left to its default)."""
        text = env.get(self.env_var)
        return flag is not None or (text is not None and bool(text.strip() or self.type is str))

    def resolve(self, flag: str | None, env: Mapping[str, str]) -> T:
        """The value from the flag's text, else the environment, else the default.

        An empty environment value counts as unset, except for text options (where it is the value).
        """
        if flag is not None:
            return self.parse(flag, f"--{self.name}")
        text = env.get(self.env_var)
        if text is not None and (text.strip() or self.type is str):
            return self.parse(text, f"{self.env_var}={'(hidden)' if self.secret else text}")
        return self.default

    def value_in(self, values: Mapping[str, object]) -> T:
        """This option's value in a mapping of parsed values (raw text is parsed; absent → default)."""
        if self.name not in values:
            return self.default
        value = values[self.name]
        if isinstance(value, str):  # raw text (tests, test helpers): parsed and checked like a flag
            return self.parse(value) if value.strip() or self.type is str else self.default
        return value  # type: ignore[return-value]  # parsed by this option when the mapping was built


class OptionRegistry:
    """Collects the options plugins declare at startup; refuses malformed and duplicate names."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self.options: dict[str, Option[Any]] = {}
        self._reserved = frozenset(reserved)

    def add(self, option: Option[Any]) -> None:
        if not isinstance(option, Option):
            raise TypeError(f"gateway_add_options: expected an Option, got {type(option).__name__}")
        if option.name in self._reserved:
            raise ValueError(f"plugin option --{option.name} is a core setting")
        if option.name in self.options:
            raise ValueError(f"plugin option --{option.name} is declared twice")
        self.options[option.name] = option


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``' (did you mean "x"?)'`` for the closest known name, or nothing."""
    import difflib  # here: only a typo needs it, and a serving process need not hold it from the start

    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""
