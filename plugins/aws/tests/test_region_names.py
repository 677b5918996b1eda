"""A region that botocore would refuse is an InvalidArgument naming it, before any client is made."""

from __future__ import annotations

import pytest
from botocore import exceptions as boto

from gateway.plugin import InvalidArgument
from gateway_aws.errors import classify
from gateway_aws.regionnames import check_region_names


@pytest.mark.parametrize("regions", [pytest.param(("us-east-1",), id="one"), pytest.param(("eu-west-1", "us-gov-west-1"), id="failover")])
def test_region_names_pass(regions: tuple[str, ...]) -> None:
    assert check_region_names(regions) == regions


@pytest.mark.parametrize(
    "region",
    [
        pytest.param("not a region!", id="spaces"),
        pytest.param("us-east-1/../x", id="path"),
        pytest.param("a" * 64, id="too-long"),
        pytest.param("-us-east-1", id="leading-dash"),
        pytest.param("us-east-1\n", id="newline"),
    ],
)
def test_invalid_region_names_are_invalid_argument(region: str) -> None:
    with pytest.raises(InvalidArgument, match="is not an AWS region name such as us-east-1"):
        check_region_names(("us-east-1", region))


def test_the_sdk_refusing_a_region_is_invalid_argument_not_internal() -> None:
    error = classify(boto.InvalidRegionError(region_name="bad region"), "GetSecretValue")
    assert isinstance(error, InvalidArgument)
