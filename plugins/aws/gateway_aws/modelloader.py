"""botocore's data loader as the plugin needs it: the same files from the same places, read for less CPU and memory.

Where botocore's clients are built (the ``assumeRoleArn`` hop, ambient credentials, and the settings
:mod:`gateway_aws.endpoints` leaves to botocore), two steps of botocore's own loader were most of their cost: it lists
every one of its ~440 service directories (some 2,700 ``stat`` calls) to check that the one service asked for is
known, once per kind of file; and it reads every JSON file into ``OrderedDict`` objects through a Python hook,
which makes ``endpoints.json`` (1.2 MB) cost 2.5 times what the plain ``dict`` of ``json.loads`` does (and more
memory), when plain dicts keep their order too. This loader knows only the services the plugin builds clients
for (:data:`SERVICES`) and reads plain dicts; search paths (``AWS_DATA_PATH`` / ``data_path``), the versions
found and the files read are botocore's.

``endpoints.json`` (botocore's endpoint data for every partition and service, which its endpoint resolver keeps for
the life of the process) is read for :data:`SERVICES` only: decoding all of it was half the CPU of the first client
and 4 MiB of memory for the entries of ~1,200 other services. The file botocore ships is pretty-printed (a
partition's keys 4 spaces in, its services' names 6), so the plugin's services are cut out of its text and only
they are decoded; a file laid out otherwise (an ``AWS_DATA_PATH`` copy, another botocore) is decoded whole and trimmed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, Loader

#: the services the plugin builds botocore clients for
SERVICES = ("secretsmanager", "ssm", "sts")


ENDPOINTS_FILES = frozenset({"endpoints.json", "endpoints.json.gz"})
SERVICES_OPEN = '\n    "services" : {\n'  # a partition's services, as botocore's endpoints.json is laid out
SERVICES_CLOSE = "\n    }"
SERVICE_CLOSE = "\n      }"


class PlainJsonFileLoader(JSONFileLoader):  # type: ignore[misc]  # botocore is untyped
    """botocore's JSON file loader, reading plain dicts instead of ``OrderedDict`` objects (and of the endpoint
    data, only the plugin's services)."""

    def _load_file(self, full_path: str, open_method: Callable[..., Any]) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as file:
            text = file.read().decode("utf-8")
        return endpoints_of(text, SERVICES) if os.path.basename(full_path) in ENDPOINTS_FILES else json.loads(text)


def endpoints_of(text: str, services: tuple[str, ...]) -> Any:
    """botocore's endpoint data with each partition's ``services`` narrowed to ``services``."""
    cut = _cut_services(text, services)
    if cut is not None:
        try:
            return json.loads(cut)
        except ValueError:
            pass
    data = json.loads(text)
    for partition in data.get("partitions", ()):
        partition["services"] = {name: entry for name, entry in partition.get("services", {}).items() if name in services}
    return data


def _cut_services(text: str, services: tuple[str, ...]) -> str | None:
    """The text with each partition's services object holding only ``services``' entries; None when the text is
    not laid out as botocore's file is."""
    pieces, done = [], 0
    while (start := text.find(SERVICES_OPEN, done)) != -1:
        body = start + len(SERVICES_OPEN) - 1  # from the newline before the first service's name
        end = text.find(SERVICES_CLOSE, body)  # every line inside is indented further
        if end == -1:
            return None
        kept = [_entry(text, body, end, name) for name in services]
        pieces += [text[done:body], ",".join(entry for entry in kept if entry)]
        done = end
    if not pieces:
        return None
    return "".join(pieces) + text[done:]


def _entry(text: str, start: int, end: int, name: str) -> str:
    """``"name" : {...}`` of one service between ``start`` and ``end`` of a services object ("" when absent)."""
    opener = f'\n      "{name}" : {{\n'
    found = text.find(opener, start, end)
    if found == -1:
        return ""
    close = text.find(SERVICE_CLOSE, found + len(opener) - 1, end)
    return "" if close == -1 else text[found : close + len(SERVICE_CLOSE)]


class PluginLoader(Loader):  # type: ignore[misc]  # botocore is untyped
    """botocore's loader, knowing only :data:`SERVICES` (so it need not list all of botocore's)."""

    FILE_LOADER_CLASS = PlainJsonFileLoader

    def list_available_services(self, type_name: str) -> list[str]:
        return [service for service in SERVICES if self._has(service, type_name)]

    def _has(self, service: str, type_name: str) -> bool:
        try:
            self.list_api_versions(service, type_name)
        except DataNotFoundError:
            return False
        return True


def plugin_loader(data_path: str | None) -> PluginLoader:
    """The loader for botocore's ``data_path`` setting (``AWS_DATA_PATH``: directories joined by ``os.pathsep``),
    searched before botocore's own data as by botocore's ``create_loader``."""
    extra = [os.path.expanduser(os.path.expandvars(path)) for path in data_path.split(os.pathsep)] if data_path else None
    return PluginLoader(extra_search_paths=extra)
