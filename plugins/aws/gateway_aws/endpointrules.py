"""A small evaluator of botocore's endpoint rule sets, for the few constructs the plugin's services use.

botocore picks a request's endpoint by evaluating the service's ``endpoint-rule-set-1.json`` with the
parameters of the call (region, FIPS, dual-stack, a configured endpoint URL, STS's global endpoint) against its
``partitions.json``. The rule sets of Secrets Manager, SSM and STS use five functions (``isSet``, ``not``,
``booleanEquals``, ``stringEquals``, ``getAttr``, ``aws.partition``), templates such as
``https://sts.{Region}.{PartitionResult#dnsSuffix}`` and SigV4 ``authSchemes``; this module evaluates exactly
those, the way botocore does (conditions in order, ``assign`` into a scope each sub-rule copies, a tree whose
rules all miss falls through to the next rule). Anything else — another function, a template it does not read, an
endpoint with headers or another auth scheme, a region that no partition lists or matches (botocore would guess
``aws``), an error rule reached (botocore would raise it) — raises :class:`Undecided`, and the caller asks
botocore instead. ``plugins/aws/tests/test_static_endpoints.py`` proves the results equal botocore's for every
region of every partition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TEMPLATE = re.compile(r"\{([A-Za-z]+)(?:#([A-Za-z]+))?\}")
#: the parameters' built-ins the evaluator is given values for (others: :class:`Undecided`)
BUILT_INS = frozenset({"AWS::Region", "AWS::UseFIPS", "AWS::UseDualStack", "SDK::Endpoint", "AWS::STS::UseGlobalEndpoint"})


class Undecided(Exception):
    """The rule set asks for something this evaluator does not do the way botocore does: ask botocore."""


@dataclass(frozen=True)
class RuleEndpoint:
    """Where a rule set sends a call: the URL and, when its SigV4 auth scheme says so, the signing name and region."""

    url: str
    signing_name: str | None = None
    signing_region: str | None = None


def partition_of(partitions: Mapping[str, Any], region: str) -> dict[str, Any]:
    """``aws.partition``: the outputs of the first partition that lists ``region`` or whose ``regionRegex`` it matches,
    plus its ``name``. A region no partition knows raises :class:`Undecided` (botocore would assume ``aws``)."""
    try:
        for partition in partitions["partitions"]:
            if region in partition["regions"] or re.match(partition["regionRegex"], region) is not None:
                return {**partition["outputs"], "name": partition["id"]}
    except (KeyError, TypeError, AttributeError, re.error) as exc:
        raise Undecided(f"unreadable partitions ({type(exc).__name__}: {exc})") from None
    raise Undecided(f"no partition knows the region {region!r}")


def matches_a_pattern(partitions: Mapping[str, Any], region: str) -> bool:
    """Whether ``region`` matches a partition's ``regionRegex`` (``aws-global`` and ``fips-us-east-1`` do not)."""
    try:
        return any(re.match(partition["regionRegex"], region) is not None for partition in partitions["partitions"])
    except (KeyError, TypeError, AttributeError, re.error) as exc:
        raise Undecided(f"unreadable partitions ({type(exc).__name__}: {exc})") from None


def resolve(rule_set: Mapping[str, Any], partitions: Mapping[str, Any], built_ins: Mapping[str, Any]) -> RuleEndpoint:
    """The endpoint ``rule_set`` gives for the parameters whose built-ins (``AWS::Region`` …) have ``built_ins``' values
    (missing: the parameter's default)."""
    try:
        scope: dict[str, Any] = {}
        for name, parameter in rule_set["parameters"].items():
            built_in = parameter.get("builtIn")
            if built_in not in BUILT_INS:
                raise Undecided(f"parameter {name} ({built_in})")
            value = built_ins.get(built_in)
            scope[name] = parameter.get("default") if value is None else value
            if scope[name] is None and parameter.get("required"):
                raise Undecided(f"required parameter {name} is not set")
        found = _Evaluator(partitions).rules(rule_set["rules"], scope)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:  # not a rule set as botocore ships them
        raise Undecided(f"unreadable rule set ({type(exc).__name__}: {exc})") from None
    if found is None:
        raise Undecided("no rule matched")
    return found


class _Evaluator:
    def __init__(self, partitions: Mapping[str, Any]) -> None:
        self.partitions = partitions

    def rules(self, rules: list[dict[str, Any]], scope: dict[str, Any]) -> RuleEndpoint | None:
        for rule in rules:
            found = self.rule(rule, dict(scope))  # each rule its own scope, as botocore's
            if found is not None:
                return found
        return None

    def rule(self, rule: dict[str, Any], scope: dict[str, Any]) -> RuleEndpoint | None:
        for condition in rule["conditions"]:
            if self.call(condition, scope) in (None, False):
                return None
        kind = rule["type"]
        if kind == "tree":
            return self.rules(rule["rules"], scope)
        if kind == "endpoint":
            return self.endpoint(rule["endpoint"], scope)
        raise Undecided(f"rule of type {kind}")  # an error rule: botocore raises its message

    def endpoint(self, endpoint: dict[str, Any], scope: dict[str, Any]) -> RuleEndpoint:
        if endpoint.get("headers"):
            raise Undecided("an endpoint with headers")
        url = self.value(endpoint["url"], scope)
        properties = endpoint.get("properties") or {}
        if set(properties) - {"authSchemes"} or not isinstance(url, str):
            raise Undecided("endpoint properties")
        schemes = properties.get("authSchemes")
        if schemes is None:
            return RuleEndpoint(url)
        if len(schemes) != 1 or set(schemes[0]) != {"name", "signingName", "signingRegion"} or schemes[0]["name"] != "sigv4":
            raise Undecided("an auth scheme other than plain sigv4")
        return RuleEndpoint(url, self.template(schemes[0]["signingName"], scope), self.template(schemes[0]["signingRegion"], scope))

    def call(self, function: dict[str, Any], scope: dict[str, Any]) -> Any:
        args = [self.value(arg, scope) for arg in function["argv"]]
        name = function["fn"]
        if name == "isSet":
            result: Any = args[0] is not None
        elif name == "not":
            result = not args[0]
        elif name in ("booleanEquals", "stringEquals"):
            result = args[0] == args[1]
        elif name == "getAttr":
            if not isinstance(args[0], dict) or not re.fullmatch(r"[A-Za-z]+", args[1]):
                raise Undecided(f"getAttr of {args[1]!r}")
            result = args[0][args[1]]
        elif name == "aws.partition":
            result = partition_of(self.partitions, args[0])
        else:
            raise Undecided(f"function {name}")
        if "assign" in function:
            scope[function["assign"]] = result
        return result

    def value(self, value: Any, scope: dict[str, Any]) -> Any:
        if isinstance(value, dict):
            if "fn" in value:
                return self.call(value, scope)
            if set(value) == {"ref"}:
                return scope.get(value["ref"])
            raise Undecided(f"a value {sorted(value)}")
        return self.template(value, scope) if isinstance(value, str) else value

    def template(self, text: str, scope: dict[str, Any]) -> str:
        """``{Name}`` and ``{Name#attribute}`` replaced by their values (a brace otherwise: :class:`Undecided`)."""

        def filled(match: re.Match[str]) -> str:
            value = scope[match[1]]
            value = value[match[2]] if match[2] else value
            if not isinstance(value, str):
                raise Undecided(f"template {match[0]} is not a string")
            return value

        result = TEMPLATE.sub(filled, text)
        if "{" in TEMPLATE.sub("", text) or "}" in TEMPLATE.sub("", text):
            raise Undecided(f"template {text!r}")
        return result
