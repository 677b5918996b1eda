"""secrets-gateway plugin 'vault'."""

__version__ = "0.1.0"
