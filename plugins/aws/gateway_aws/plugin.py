"""Hook implementations of the 'aws' plugin: its ``--aws-*`` options, the two backends and the ASCP dialect.

Both backends share one :class:`~gateway_aws.runtime.AwsRuntime` (threads, Kubernetes
lookups, credentials, clients), so a pod's credentials are obtained once for both; it is built
when a class first uses AWS (:class:`~gateway_aws.backend.SharedRuntime`).
"""

from __future__ import annotations

import logging

from gateway.plugin import BackendRegistry, Metrics, OptionRegistry, Settings, hookimpl
from gateway_aws.ascp import gateway_register_dialects
from gateway_aws.backend import SharedRuntime
from gateway_aws.budget import check_fits_backend_timeout
from gateway_aws.options import OPTIONS, AwsOptions
from gateway_aws.secretsmanager import SecretsManagerBackend
from gateway_aws.ssm import SsmParameterBackend

GATEWAY_PLUGIN_API = 1  # the plugin API this plugin is written for (gateway.plugin)

log = logging.getLogger("gateway_aws")
__all__ = [  # the dialect's hook is ascp's
    "gateway_add_options", "gateway_register_backends", "gateway_register_dialects", "gateway_server_started",
]


@hookimpl
def gateway_add_options(options: OptionRegistry) -> None:
    for option in OPTIONS:
        options.add(option)


@hookimpl
def gateway_register_backends(registry: BackendRegistry, settings: Settings, metrics: Metrics) -> None:
    options = AwsOptions.from_settings(settings)
    check_fits_backend_timeout(options, settings.backend_timeout)
    if options.allow_ambient_credentials:
        log.warning(
            "--aws-allow-ambient-credentials is on: every mount uses this process's own AWS credentials, "
            "not the pod's identity. Use this for local development only."
        )
    runtime = SharedRuntime(options, metrics)
    registry.add(SecretsManagerBackend(runtime, batch=options.secretsmanager_batch))
    registry.add(SsmParameterBackend(runtime))


@hookimpl
def gateway_server_started() -> None:
    """Warm-up (``serve --warm-up``, on the core's warm-up thread), so the first mount does not do it: where the
    plugin's calls are decided without botocore (the defaults), import the runtime's modules (which a gateway
    imports when a class first uses AWS), read botocore's endpoint data files and load the CA certificates of https
    endpoints (~30 ms of CPU); where botocore decides (:mod:`gateway_aws.endpoints`), import its session and client
    machinery (~8 MiB) as well."""
    import gateway_aws.runtime  # noqa: F401
    from gateway_aws.clients import tls_context
    from gateway_aws.endpoints import StaticEndpoints

    static = StaticEndpoints(use_fips_endpoint=False)
    bundle = static.ca_bundle() if static.warm_up() else None
    if bundle is None:
        import botocore.client
        import botocore.session  # noqa: F401

        return
    tls_context(bundle)
