"""The limits of a tenant's YAML and jmesPath work, apart from the code that enforces them.

The settings (and so ``serve`` before its socket answers) need these values; the budgets that apply them
(:mod:`gateway.yamlbudget`, :mod:`gateway.jmesbudget`) need PyYAML and jmespath, which load behind the socket.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class YamlLimits:
    """What one YAML document may expand to; see docs/reliability.md."""

    max_nodes: int = 250_000  # after alias and merge-key expansion (--max-yaml-nodes)
    max_depth: int = 100  # after expansion: an alias chain nests without brackets
    max_chars: int = 16 * 1024 * 1024  # scalar characters after expansion (aliases repeat strings)
    max_number_chars: int = 64  # an int/float scalar longer than this is refused, not computed


@dataclass(frozen=True)
class JmesLimits:
    max_work: int = 16 * 1024 * 1024  # units (≈ bytes of JSON) visited and made by one evaluation (--max-jmespath-work)
    max_result: int = 4 * 1024 * 1024  # expanded size of any intermediate value (the per-value limit)
