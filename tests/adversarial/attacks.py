"""The hostile-tenant attacks of issue 10, as data: one record per attack, shared by the adversarial
tests (``tests/adversarial``) and the hostile-tenant benchmark (``benchmarks/hostile_tenant.py``).

Every attack is a Mount request a tenant can write into a SecretProviderClass; ``code`` and
``message`` are what the pod's FailedMount event must say: the status, the object or parameter,
and the limit. The secrets they read are in :data:`STORE` (values contain ``PLANTED``: no message may).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.request import RawMountRequest
from gateway.settings import Settings
from gateway.testing import PodContext, mount_request
from gateway_aws import ascp

#: plugins besides the fake backend: the ASCP dialect (YAML 1.1), for the attacks only its YAML allows
DIALECT_PLUGINS = [("ascp", ascp)]

PLANTED = "PLANTED"
#: the secrets every attack and the victim read (the fake backend's store format)
STORE: dict[str, Any] = {
    "secrets": {
        "good": "good-value",
        "json": json.dumps({"username": "admin", "password": f"{PLANTED}-password"}),
        "small": json.dumps(f"{PLANTED}-27-bytes-of-secret"),  # 29 bytes: a JSON string
        "deep": "[" * 100_000 + "]" * 100_000,
        "big": json.dumps([f"item-{n:05d}" for n in range(18_000)]),  # 252 KB
        "keys": json.dumps({f"{PLANTED}-key-{n}": "v" for n in range(3)} | {"../up": "x"}),
        **{f"victim-{n}": f"victim-value-{n}" for n in range(10)},
    }
}
#: the server's limits in the adversarial tests and the benchmark (defaults, but a small value limit)
SETTINGS = Settings(max_value_bytes=256 * 1024, max_response_bytes=512 * 1024, http_address="")
VICTIM_POD = PodContext(name="victim", namespace="victim", service_account="victim")
ATTACKER_POD = PodContext(name="attacker", namespace="attacker", service_account="attacker")


@dataclass(frozen=True)
class Attack:
    id: str
    description: str
    objects: str
    code: str
    message: tuple[str, ...]
    parameters: dict[str, str] = field(default_factory=dict)

    def request(self) -> RawMountRequest:
        return mount_request(self.objects, self.parameters, pod=ATTACKER_POD)


def victim_request() -> RawMountRequest:
    """The victim tenant's mount: 10 small objects."""
    objects = "".join(f"- {{objectName: victim-{n}, objectType: fake}}\n" for n in range(10))
    return mount_request(objects, pod=VICTIM_POD)


def merge_chain(depth: int) -> str:
    """``mN: &aN {<<: [*aN-1, *aN-1]}``: each level doubles the merged mapping (1.2 KB at depth 40)."""
    lines = ["m0: &a0 {k: v}"] + [f"m{n}: &a{n} {{<<: [*a{n - 1}, *a{n - 1}]}}" for n in range(1, depth)]
    return "- objectName: good\n  objectType: fake\n  chain:\n" + "".join(f"    {line}\n" for line in lines)


def billion_laughs() -> str:
    levels = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"l{n}: &l{n} [" + ",".join([f"*l{n - 1}"] * 9) + "]" for n in range(1, 9)]
    return "- objectName: good\n  objectType: fake\n  laughs:\n" + "".join(f"    {line}\n" for line in levels)


def alias_tree(option: str) -> str:
    """A 429-byte alias tree in a structured backend option (Vault ``secretArgs``)."""
    levels = ["a0: &a0 [x, x, x, x]"] + [f"a{n}: &a{n} [*a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}]" for n in range(1, 12)]
    return f"- objectName: good\n  objectType: fake\n  {option}:\n" + "".join(f"    {line}\n" for line in levels)


def alias_depth(levels: int) -> str:
    """An alias chain: every line is shallow, the expansion nests ``levels`` deep."""
    lines = ["- &d0 [x]"] + [f"- &d{n} [*d{n - 1}]" for n in range(1, levels)]
    return "- objectName: good\n  objectType: fake\n  nested:\n" + "".join(f"    {line}\n" for line in lines)


def shared_jmes_list(objects: int, entries: int) -> str:
    """One anchored jmesPath list reused by every object (``jmesPath: *j``)."""
    first = "".join(f"    - {{path: username, objectAlias: u{n}}}\n" for n in range(entries))
    text = f"- objectName: json\n  objectType: fake\n  objectAlias: j0\n  jmesPath: &j\n{first}"
    return text + "".join(f"- {{objectName: json, objectType: fake, objectAlias: j{n}, jmesPath: *j}}\n" for n in range(1, objects))


def doubling(depth: int) -> str:
    return "to_string(" + "|".join(["[@,@]"] * depth) + ")"


def jmes_object(path: str, name: str = "json") -> str:
    return f"- objectName: {name}\n  objectType: fake\n  jmesPath:\n    - path: {json.dumps(path)}\n      objectAlias: out\n"


ATTACKS: tuple[Attack, ...] = (
    Attack(
        "yaml-merge-chain", "1.2 KB merge-key chain that doubles at each of 40 levels", merge_chain(40),
        "ResourceExhausted", ('parameter "objects"', "250000 nodes after aliases and merge keys", "--max-yaml-nodes"),
    ),
    Attack(
        "yaml-billion-laughs", "nine levels of nine aliases", billion_laughs(),
        "ResourceExhausted", ('parameter "objects"', "250000 nodes", "--max-yaml-nodes"),
    ),
    Attack(
        "yaml-alias-tree-in-backend-option", "a 429-byte alias tree in a structured option (Vault secretArgs)",
        alias_tree("secretArgs"), "ResourceExhausted", ('parameter "objects"', "250000 nodes"),
    ),
    Attack(
        "yaml-alias-depth", "an alias chain nesting 500 levels without brackets", alias_depth(500),
        "ResourceExhausted", ('parameter "objects"', "deeper than 100 levels after aliases"),
    ),
    Attack(
        "yaml-recursive-alias", "an anchor whose node contains its own alias", "- &r [*r]\n",
        "InvalidArgument", ("Failed to load SecretProviderClass: an alias refers to a node containing it at line 1",),
    ),
    Attack(
        "yaml-5000-digit-integer", "an unquoted 5,000-digit objectVersion",
        "- {objectName: good, objectType: fake, objectVersion: " + "7" * 5000 + "}\n",
        "ResourceExhausted", ('parameter "objects"', "a number of 5000 characters", "the limit of 64"),
    ),
    Attack(
        "yaml-sexagesimal-integer", "a YAML 1.1 base-60 integer of 200 digits",
        "- objectName: good\n  objectType: fake\n  objectVersion: 1" + ":59" * 66 + "\n",
        "ResourceExhausted", ('parameter "objects"', "a number of 199 characters"),
        parameters={"dialect": "ascp"},  # YAML 1.1 (go-yaml-v2) has base-60 integers; the native YAML 1.2 has none
    ),
    Attack(
        "objects-shared-jmes-list", "1,000 objects reusing one anchored list of 300 jmesPath entries",
        shared_jmes_list(1000, 300), "ResourceExhausted", ('parameter "objects"', "250000 nodes after aliases"),
    ),
    Attack(
        "parameter-too-large", "a 3 MiB objects parameter (more than etcd holds)",
        "- {objectName: good, objectType: fake}\n#" + "x" * (3 * 1024 * 1024) + "\n",
        "ResourceExhausted", ('parameter "objects" is 3145769 bytes', "the limit of 2097152 bytes per parameter"),
    ),
    Attack(
        "request-near-the-cap", "one parameter as large as --max-request-bytes lets a request be (the most decoding a tenant can ask for)",
        "- {objectName: good, objectType: fake}\n#" + "x" * (SETTINGS.max_request_bytes - 64 * 1024) + "\n",
        "ResourceExhausted", ('parameter "objects" is', "the limit of 2097152 bytes per parameter"),
    ),
    Attack(
        "request-many-parameters", "four parameters of 1.9 MiB each (each within the parameter limit, 7.6 MiB together)",
        "- {objectName: good, objectType: fake}\n", "ResourceExhausted",
        ("the Mount request's attributes field is", "above the limit of 2621440 bytes", "--max-parameter-bytes plus 512 KiB"),
        parameters={f"filler-{n}": "x" * (1900 * 1024) for n in range(4)},
    ),
    Attack(
        "request-over-the-cap", "a request larger than --max-request-bytes (gRPC refuses it undecoded)",
        "- {objectName: good, objectType: fake}\n#" + "x" * SETTINGS.max_request_bytes + "\n",
        "ResourceExhausted", ("Received message larger than max", f"vs. {SETTINGS.max_request_bytes})"),
    ),
    Attack(
        "failover-locations", "failoverRegion with 1,000 entries",
        "- {objectName: good, objectType: fake}\n", "ResourceExhausted",
        ("backend fake: 1000 failover locations listed", "the limit is 3", "--max-failover-locations"),
        parameters={"region": "local", "failoverRegion": ",".join(f"r{n}" for n in range(1000))},
    ),
    Attack(
        "jmespath-doubling-22", "to_string([@,@]|…) at depth 22 on a JSON secret", jmes_object(doubling(22)),
        "ResourceExhausted", ('objects[0] "json" jmesPath', "larger than 262144 bytes (the per-value limit)"),
    ),
    Attack(
        "jmespath-doubling-40", "to_string([@,@]|…) at depth 40", jmes_object(doubling(40)),
        "ResourceExhausted", ('objects[0] "json" jmesPath', "the per-value limit"),
    ),
    Attack(
        "jmespath-derived-value", "a 29-byte secret joined into a value larger than the per-value limit",
        jmes_object(" | ".join(["join('', [@, @])"] * 15), name="small"),
        "ResourceExhausted", ('objects[0] "small" jmesPath', "larger than 262144 bytes (the per-value limit)"),
    ),
    Attack(
        "jmespath-work", "48 serialisations of a 252 KB JSON secret, each result small",
        jmes_object("[" + ",".join(["length(to_string(@))"] * 48) + "]", name="big"),
        "ResourceExhausted", ('objects[0] "big" jmesPath', "more than 16777216 units of work (--max-jmespath-work)"),
    ),
    Attack(
        "expandkeys-error-hides-keys", "expandKeys on a secret whose keys are secret and one of them unsafe",
        "- {objectName: keys, objectType: fake, expandKeys: directory}\n",
        "InvalidArgument", ('objects[0] "keys" (fake @ local) key #4: the key cannot be a file name in a directory',),
    ),
    Attack(
        "json-deeply-nested", "a secret nested 100,000 levels deep, read through jmesPath", jmes_object("a", name="deep"),
        "InvalidArgument", ("Invalid JSON used with jmesPath in secret: deep",),
    ),
)
