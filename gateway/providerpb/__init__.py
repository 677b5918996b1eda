"""Generated gRPC stubs for the driver's ``v1alpha1`` provider API.

Do not edit: regenerate with ``uv run python scripts/gen_proto.py`` after changing
``proto/v1alpha1/service.proto``. Only :mod:`gateway.server` and :mod:`gateway.testing`
import these modules; everything else works with the gateway's own types.
"""
