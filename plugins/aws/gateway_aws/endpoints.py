"""Where the plugin's own AWS calls go and how, decided without importing botocore — where that is provably botocore's answer.

The plugin sends IRSA's ``AssumeRoleWithWebIdentity`` and the Secrets Manager / SSM JSON calls itself
(:mod:`gateway_aws.webidentity`, :mod:`gateway_aws.jsoncalls`). What botocore would send them to was asked of
botocore by a dry run of a client, and a process's first AWS mount paid for it: importing botocore (~160 modules),
its session and each service's client (~0.15-0.25 CPU seconds once). :class:`StaticEndpoints` decides the same
without botocore:

- the endpoint URL, signing name and signing region: the service's endpoint rule set and the partitions, read from
  botocore's installed data files by path (the package is found with ``importlib.util.find_spec``, not imported) and
  evaluated by :mod:`gateway_aws.endpointrules`, with the parameters botocore would give it — the region; FIPS from
  ``--aws-use-fips-endpoint`` or ``AWS_USE_FIPS_ENDPOINT``; dual-stack from ``AWS_USE_DUALSTACK_ENDPOINT``; an
  endpoint URL from ``AWS_ENDPOINT_URL_<SERVICE>``, else ``AWS_ENDPOINT_URL`` (empty ones skipped, none at all with
  ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true``; with one, FIPS and dual-stack are off, as in botocore); STS's
  regional endpoints. Reading botocore's own files (not a copy of them) keeps the regions those of the installed
  botocore, the one the fallback below uses; they are small (partitions 7 KB, a rule set 1-2 KB gzipped).
- the protocol's fields (``X-Amz-Target``, ``Content-Type``, STS's API version) and which answer members are
  blobs: a table (:data:`SERVICES`, :data:`BLOBS`) — botocore's service models are 20-140 KB gzipped, and the
  plugin needs five facts of them.
- the CA certificates botocore verifies with: ``AWS_CA_BUNDLE``, else ``REQUESTS_CA_BUNDLE``, else certifi's
  bundle, else the one botocore ships.

``plugins/aws/tests/test_static_endpoints.py`` proves every decision equal to botocore's own dry run: every region
of every partition, with FIPS and dual-stack each on and off, for each operation; the endpoint variables, the blobs,
the parameter checks and the CA bundle. Only what that proves is decided here; anything else is None, and the caller
asks botocore as before: a shared config or credentials file (it may set endpoints, FIPS, profiles, a CA bundle, a
data path), ``AWS_PROFILE`` / ``AWS_DEFAULT_PROFILE``, ``AWS_DATA_PATH`` or ``~/.aws/models`` (other models),
``AWS_STS_REGIONAL_ENDPOINTS`` other than ``regional``, ``AWS_SDK_UA_APP_ID``, an endpoint URL other than a plain
``http(s)://host[:port][/path]``, a region that is not a plain name or matches no partition's pattern
(``aws-global``, ``fips-us-east-1``, ``local``), dual-stack in the aws-iso partitions (:data:`LEGACY_VARIANTS`), a
rule set this evaluator does not read, a data file missing or unreadable, an operation the table does not have.

The user agent of a request decided here is :data:`OWN_USER_AGENT` (``secrets-gateway/<version> ua/2.1
os/<platform> lang/python#<version> md/pyimpl#<implementation>``): no ``Botocore/`` token, since botocore does not
send it; ``secrets-gateway/<version>`` is in both, the token to look for in CloudTrail's ``userAgent``.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway_aws import __version__
from gateway_aws.endpointrules import Undecided, matches_a_pattern, partition_of, resolve

log = logging.getLogger("gateway_aws.endpoints")

Path = tuple[str, ...]  # member names; "[]" steps into a list's items


@dataclass(frozen=True)
class Service:
    """What the plugin needs of one service's botocore model."""

    api_version: str
    protocol: str  # botocore's metadata.protocol
    signing_name: str
    env_name: str  # AWS_ENDPOINT_URL_<env_name>
    target_prefix: str = ""  # JSON protocol: X-Amz-Target is "<target_prefix>.<operation>"
    json_version: str = ""  # JSON protocol: Content-Type application/x-amz-json-<json_version>


SERVICES: Mapping[str, Service] = {
    "secretsmanager": Service("2017-10-17", "json", "secretsmanager", "SECRETS_MANAGER", "secretsmanager", "1.1"),
    "ssm": Service("2014-11-06", "json", "ssm", "SSM", "AmazonSSM", "1.1"),
    "sts": Service("2011-06-15", "query", "sts", "STS"),
}
#: the blob members of each answer the plugin reads itself (base64 in the JSON, bytes in the answer)
BLOBS: Mapping[tuple[str, str], tuple[Path, ...]] = {
    ("secretsmanager", "GetSecretValue"): (("SecretBinary",),),
    ("secretsmanager", "BatchGetSecretValue"): (("SecretValues", "[]", "SecretBinary"),),
    ("ssm", "GetParameters"): (),
}
#: the FIPS / dual-stack variants botocore's older endpoint data (``endpoints.json``, which its client builder still
#: consults, refusing a variant it lacks) has for every region of a partition and each of the plugin's services;
#: others are left to botocore (it refuses dual-stack in aws-iso-e and aws-iso-f, and reaches dual-stack in aws-iso
#: and aws-iso-b through the aws partition's data)
LEGACY_VARIANTS: Mapping[str, frozenset[frozenset[str]]] = {
    **dict.fromkeys(("aws", "aws-cn", "aws-us-gov", "aws-eusc"), frozenset(map(frozenset, (["fips"], ["dualstack"], ["fips", "dualstack"])))),
    **dict.fromkeys(("aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f"), frozenset({frozenset({"fips"})})),
}
#: the minimum lengths botocore's model sets on the parameters the plugin passes (botocore checks them before sending;
#: "[]": each item of a list)
MIN_LENGTHS: Mapping[tuple[str, str], Mapping[str, int]] = {
    ("secretsmanager", "GetSecretValue"): {"SecretId": 1, "VersionId": 32, "VersionStage": 1},
    ("secretsmanager", "BatchGetSecretValue"): {"SecretIdList": 1, "SecretIdList[]": 1, "NextToken": 1},
    ("ssm", "GetParameters"): {"Names": 1, "Names[]": 1},
}
#: the STS operations the plugin sends itself (query protocol, unsigned)
STS_OPERATIONS = frozenset({"AssumeRoleWithWebIdentity"})
QUERY_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
OWN_USER_AGENT = (
    f"secrets-gateway/{__version__} ua/2.1 os/{sys.platform} lang/python#{'.'.join(map(str, sys.version_info[:3]))} "
    f"md/pyimpl#{'CPython' if sys.implementation.name == 'cpython' else sys.implementation.name}"
)
#: botocore's rule for a region name (``botocore.utils.validate_region_name``), and never empty
REGION = re.compile(r"(?![0-9]+$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)")
#: the endpoint URLs decided here: scheme, host (a name or a bracketed IPv6 address), port, path; nothing else
ENDPOINT_URL = re.compile(r"https?://(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]*)?")
#: settings that only botocore reads right: present (even empty) means "ask botocore"
BOTOCORE_ONLY = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_DATA_PATH", "AWS_SDK_UA_APP_ID")
SHARED_FILES = (("AWS_CONFIG_FILE", "~/.aws/config"), ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"))


@dataclass(frozen=True)
class Decided:
    """Where one operation goes and with which fixed headers, as botocore would send it."""

    url: str
    headers: Mapping[str, str] = field(repr=False)
    signing_name: str
    signing_region: str


class StaticEndpoints:
    """Decides the plugin's own calls from botocore's data files (read once per process) and the process environment
    (read at each decision, as botocore reads it for each client it builds); None where botocore must be asked."""

    def __init__(self, use_fips_endpoint: bool, environ: Mapping[str, str] | None = None, data_dir: str | None = None) -> None:
        self.use_fips_endpoint = use_fips_endpoint
        self.environ = os.environ if environ is None else environ
        self.data_dir = data_dir  # botocore's package directory (None: found on first use)
        self._told: set[str] = set()

    def json_call(self, service: str, region: str, operation: str) -> Decided | None:
        """A Secrets Manager or SSM operation (JSON protocol)."""
        model = SERVICES.get(service)
        if model is None or model.protocol != "json" or (service, operation) not in BLOBS:
            return None
        headers = {"X-Amz-Target": f"{model.target_prefix}.{operation}", "Content-Type": f"application/x-amz-json-{model.json_version}"}
        return self._decided(service, region, headers)

    def sts_call(self, region: str, operation: str) -> Decided | None:
        """An STS operation the plugin sends itself (query protocol; its body carries :func:`api_version`)."""
        if operation not in STS_OPERATIONS:
            return None
        return self._decided("sts", region, {"Content-Type": QUERY_CONTENT_TYPE})

    def url(self, service: str, region: str) -> str | None:
        """Where ``service``'s calls in ``region`` go (the same for each of its operations: no rule set of the plugin's
        services reads an operation's parameters)."""
        decided = self._decided(service, region, {}) if service in SERVICES else None
        return None if decided is None else decided.url

    def ca_bundle(self) -> str | None:
        """The CA certificates botocore verifies AWS with (a file or a directory), or None when its config may say."""
        try:
            self._settings_apply()
            configured = self.environ.get("AWS_CA_BUNDLE") or self.environ.get("REQUESTS_CA_BUNDLE")
            if configured:
                return configured
            if importlib.util.find_spec("certifi") is not None:
                import certifi  # as botocore.httpsession: certifi's bundle when certifi is installed

                return str(certifi.where())
            return os.path.join(self._botocore_dir(), "cacert.pem")
        except Undecided as exc:
            self._tell(str(exc))
            return None

    def warm_up(self) -> bool:
        """Read the data files every decision needs; False when the settings leave the decisions to botocore."""
        try:
            self._settings_apply()
            self._load("partitions.json")
            for service in SERVICES:
                self._load(_rule_set(service))
        except Undecided as exc:
            self._tell(str(exc))
            return False
        return True

    def _decided(self, service: str, region: str, headers: dict[str, str]) -> Decided | None:
        model = SERVICES[service]
        try:
            endpoint = resolve(self._load(_rule_set(service)), self._load("partitions.json"), self._built_ins(service, region))
            url = _request_url(endpoint.url)
        except Undecided as exc:
            self._tell(f"{service} in {region}: {exc}")
            return None
        return Decided(url, {**headers, "User-Agent": OWN_USER_AGENT}, endpoint.signing_name or model.signing_name, endpoint.signing_region or region)

    def _built_ins(self, service: str, region: str) -> dict[str, Any]:
        """What botocore gives the rule set (``ClientArgsCreator.compute_endpoint_resolver_builtin_defaults``)."""
        self._settings_apply()
        env = self.environ
        if not REGION.fullmatch(region):
            raise Undecided(f"{region!r} is not a plain region name")
        if not matches_a_pattern(self._load("partitions.json"), region):
            raise Undecided(f"{region} is not a region of a partition's pattern (aws-global, fips-…: botocore's older data may sign elsewhere)")
        if service == "sts" and env.get("AWS_STS_REGIONAL_ENDPOINTS", "") not in ("", "regional"):
            raise Undecided("AWS_STS_REGIONAL_ENDPOINTS is not regional")
        endpoint = self._configured_endpoint(SERVICES[service].env_name)
        if endpoint is not None and not ENDPOINT_URL.fullmatch(endpoint):
            raise Undecided("the configured endpoint URL is not a plain http(s)://host[:port][/path]")
        fips = self.use_fips_endpoint or _true(env.get("AWS_USE_FIPS_ENDPOINT"))
        dualstack = _true(env.get("AWS_USE_DUALSTACK_ENDPOINT"))
        variant = frozenset(name for name, on in (("fips", fips), ("dualstack", dualstack)) if on)
        if variant:  # botocore's client builder looks the variant up in its older data, with or without an endpoint URL
            partition = partition_of(self._load("partitions.json"), region)["name"]
            if variant not in LEGACY_VARIANTS.get(partition, frozenset()):
                raise Undecided(f"{' and '.join(sorted(variant))} in the {partition} partition")
        return {
            "AWS::Region": region,
            "AWS::UseFIPS": endpoint is None and fips,
            "AWS::UseDualStack": endpoint is None and dualstack,
            "SDK::Endpoint": endpoint,
            "AWS::STS::UseGlobalEndpoint": False,
        }

    def _configured_endpoint(self, env_name: str) -> str | None:
        """botocore's configured endpoint URL without a config file: the service's variable, else the global one."""
        env = self.environ
        if _true(env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")):
            return None
        return env.get(f"AWS_ENDPOINT_URL_{env_name}") or env.get("AWS_ENDPOINT_URL") or None

    def _settings_apply(self) -> None:
        """Raise :class:`Undecided` when a setting only botocore reads is present."""
        env = self.environ
        for name in BOTOCORE_ONLY:
            if name in env:
                raise Undecided(f"{name} is set")
        for name, default in SHARED_FILES:
            path = os.path.expanduser(os.path.expandvars(env.get(name, default)))
            if path and os.path.exists(path):
                raise Undecided(f"the shared AWS file {path} exists ({name})")
        if os.path.exists(os.path.join(os.path.expanduser("~"), ".aws", "models")):
            raise Undecided("~/.aws/models exists")

    def _load(self, name: str) -> Any:
        return _data_file(self._botocore_dir(), name)

    def _botocore_dir(self) -> str:
        if self.data_dir is None:
            spec = importlib.util.find_spec("botocore")  # finds the package without importing it
            locations = list(spec.submodule_search_locations or ()) if spec is not None else []
            if not locations:
                raise Undecided("botocore is not installed")
            self.data_dir = locations[0]
        return self.data_dir

    def _tell(self, reason: str) -> None:
        """Log once per reason why botocore decides."""
        if reason not in self._told:
            self._told.add(reason)
            log.info("AWS endpoints: asking botocore (%s)", reason)


@functools.cache
def _data_file(package: str, name: str) -> Any:
    """One of botocore's data files, decoded (once per process; an unreadable one raises :class:`Undecided` each time)."""
    path = os.path.join(package, "data", name)
    try:
        with (gzip.open if name.endswith(".gz") else open)(path, "rb") as file:
            return json.loads(file.read())
    except (OSError, ValueError, EOFError) as exc:
        raise Undecided(f"botocore's data file {name} is not readable ({type(exc).__name__})") from None


def _rule_set(service: str) -> str:
    return f"{service}/{SERVICES[service].api_version}/endpoint-rule-set-1.json.gz"


def invalid_parameters(service: str, operation: str, params: Mapping[str, Any]) -> str | None:
    """botocore's report on ``params`` when their lengths are below its model's minimum (None when they are not)."""
    limits = MIN_LENGTHS.get((service, operation), {})
    found: list[str] = []
    for name, value in params.items():
        if isinstance(value, str | list) and len(value) < limits.get(name, 0):
            found.append(f"Invalid length for parameter {name}, value: {len(value)}, valid min length: {limits[name]}")
        if isinstance(value, list) and f"{name}[]" in limits:
            least = limits[f"{name}[]"]
            found += [f"Invalid length for parameter {name}[{index}], value: {len(item)}, valid min length: {least}"
                      for index, item in enumerate(value) if isinstance(item, str) and len(item) < least]  # fmt: skip
    return "Parameter validation failed:\n" + "\n".join(found) if found else None


def api_version(service: str) -> str:
    return SERVICES[service].api_version


def _request_url(endpoint: str) -> str:
    """The URL botocore's request has for ``endpoint`` and the path ``/`` (``botocore.awsrequest._urljoin``)."""
    if not ENDPOINT_URL.fullmatch(endpoint):
        raise Undecided("the rule set's URL is not a plain http(s)://host[:port][/path]")
    return endpoint if "/" in endpoint.partition("://")[2] else endpoint + "/"


def _true(value: str | None) -> bool:
    """botocore's ``ensure_boolean`` of an environment variable."""
    return value is not None and value.lower() == "true"

