"""secrets-gateway plugin 'aws'."""

__version__ = "0.1.0"
