"""What an AWS region name is: checked on every mount's regions before anything is sent (no I/O)."""

from __future__ import annotations

import re

from gateway.plugin import InvalidArgument, preview

#: what botocore accepts as a region name (a DNS label); anything else would fail in the SDK, untyped
REGION_NAME = re.compile(r"(?!-)[a-zA-Z0-9-]{1,63}(?<!-)")


def check_region_names(regions: tuple[str, ...]) -> tuple[str, ...]:
    """``regions``, or InvalidArgument naming the first that is not a region name (e.g. ``us-east-1``)."""
    for region in regions:
        if not REGION_NAME.fullmatch(region):
            raise InvalidArgument(f'"{preview(region, 64)}" is not an AWS region name such as us-east-1 (parameters region, failoverRegion)')
    return regions
