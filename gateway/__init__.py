"""secrets-gateway: a plugin-based, multi-backend provider for the Secrets Store CSI Driver."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    """``gateway.hookimpl`` without importing the plugin machinery on ``import gateway``."""
    if name == "hookimpl":
        from gateway.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(name)
