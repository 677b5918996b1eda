"""Remembered label children of prometheus_client metrics, for the paths every mount takes."""

from __future__ import annotations

from typing import Any


class Children:
    """``metric.labels(*values)``, remembered: label sets are few (labels never carry names) and looked
    up on every mount, and prometheus_client's own lookup is slow. Values in the metric's label order."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:  # two threads may both look it up: labels() returns the same child to both
            child = self._children[values] = self.metric.labels(*values)
        return child
