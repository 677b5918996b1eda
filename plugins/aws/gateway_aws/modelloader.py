"""botocore's data loader as the plugin needs it: the same files from the same places, read for less CPU and memory.

The first AWS mount builds botocore's clients, and two steps of botocore's own loader were most of that: it lists
every one of its ~440 service directories (some 2,700 ``stat`` calls) to check that the one service asked for is
known, once per kind of file; and it reads every JSON file into ``OrderedDict`` objects through a Python hook,
which makes ``endpoints.json`` (1.2 MB) cost 2.5 times what the plain ``dict`` of ``json.loads`` does (and more
memory), when plain dicts keep their order too. This loader knows only the services the plugin builds clients
for (:data:`SERVICES`) and reads plain dicts; search paths (``AWS_DATA_PATH`` / ``data_path``), the versions
found and the files read are botocore's.
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


class PlainJsonFileLoader(JSONFileLoader):  # type: ignore[misc]  # botocore is untyped
    """botocore's JSON file loader, reading plain dicts instead of ``OrderedDict`` objects."""

    def _load_file(self, full_path: str, open_method: Callable[..., Any]) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as file:
            return json.loads(file.read().decode("utf-8"))


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
