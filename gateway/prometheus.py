"""prometheus_client's metrics and registry, without its exposition until something asks for it.

Importing ``prometheus_client`` runs the package's ``__init__``, which imports its exposition module and with it
``http.server``, ``wsgiref`` and ``urllib.request`` (with ``http.client`` and ``email``): about 3 MiB resident in a
server that no one scrapes. This module loads the registry, metric and collector modules under their own names
without running that ``__init__`` first; the first use of any other name of the package (``prometheus_client.X``,
``from prometheus_client import X``) runs the package's own ``__init__`` once, so every other importer sees the whole
package as usual. ``/metrics`` imports the exposition on its first scrape. When ``prometheus_client`` was imported
before this module, it is simply used.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types


def _package_without_init() -> None:
    """Put ``prometheus_client`` in ``sys.modules`` as a package whose ``__init__`` runs on the first use of a name
    that is not one of its modules (those are imported alone, as ``from . import values`` in its metrics module asks)."""
    spec = importlib.util.find_spec("prometheus_client")
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # not a plain package here: the ordinary import below does
    loader = spec.loader
    package = importlib.util.module_from_spec(spec)
    lock = threading.Lock()

    def attribute(name: str) -> object:
        if importlib.util.find_spec(f"{spec.name}.{name}") is not None:
            return importlib.import_module(f"{spec.name}.{name}")
        with lock:
            if package.__dict__.get("__getattr__") is attribute:
                del package.__dict__["__getattr__"]
                loader.exec_module(package)  # the package's own __init__, once
        try:
            return package.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {spec.name!r} has no attribute {name!r}") from None

    package.__dict__["__getattr__"] = attribute
    sys.modules[spec.name] = package


if "prometheus_client" not in sys.modules:
    _package_without_init()

from prometheus_client.gc_collector import GCCollector  # noqa: E402
from prometheus_client.metrics import Counter, Gauge, Histogram, Info  # noqa: E402
from prometheus_client.platform_collector import PlatformCollector  # noqa: E402
from prometheus_client.process_collector import ProcessCollector  # noqa: E402
from prometheus_client.registry import CollectorRegistry  # noqa: E402

__all__ = ["CollectorRegistry", "Counter", "GCCollector", "Gauge", "Histogram", "Info", "PlatformCollector",
           "ProcessCollector", "exposition"]


def exposition() -> types.ModuleType:
    """prometheus_client's exposition module (``generate_latest``, ``CONTENT_TYPE_LATEST``), imported on first use."""
    from prometheus_client import exposition as module

    return module
