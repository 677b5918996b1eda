"""secrets-gateway backend ``fake``: a local secret store for demos, kind clusters and tests."""

__version__ = "0.1.0"
