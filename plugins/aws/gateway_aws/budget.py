"""How long one AWS step can take at worst, and the start-time check that it fits ``--backend-timeout``.

A slow or unreachable AWS must be answered by the plugin's own typed error (``DeadlineExceeded``
"no answer from AWS in time", ``Unavailable``), which names the operation and lets failover try
the next region — not cut short by the core's backend timeout at an arbitrary point while a
worker thread keeps waiting. So every step's worst case must fit inside the backend timeout:

- an AWS API call (STS, Secrets Manager, SSM): every attempt may spend the connect timeout and
  then the read timeout, and botocore sleeps between attempts (standard and adaptive modes: up to
  1 s x 2^i for throttling, 20 s at most; legacy: the same bound). ``adaptive`` may also wait for
  its client-side rate limiter, which no timeout bounds. The calls the plugin sends itself (IRSA's
  STS call, :mod:`gateway_aws.webidentity`; Secrets Manager and SSM, :mod:`gateway_aws.jsoncalls`)
  give each attempt one deadline of both timeouts and sleep the same bounded backoff;
- the Pod Identity agent: every attempt within its total timeout, the jittered backoff between,
  on each endpoint tried (two with ``preferredAddressType: auto``, the default).

The defaults fit: 3 x (1 + 1.25) + 3 = 9.75 s and 2 x (3 x 1 + 0.6) = 7.2 s, within 10 s.
Settings that cannot fit stop the server with one line naming the flags and the arithmetic.
"""

from __future__ import annotations

from gateway.plugin import Backoff, StartupError
from gateway_aws.options import AwsOptions

BOTOCORE_THROTTLE_BACKOFF = 1.0  # botocore's base for throttling retries (seconds), doubled per attempt
BOTOCORE_MAX_BACKOFF = 20.0
POD_IDENTITY_ENDPOINTS = 2  # auto: IPv4, then IPv6
POD_IDENTITY_BACKOFF_BASE, POD_IDENTITY_BACKOFF_CAP = 0.2, 2.0  # the agent's jittered backoff (seconds), doubled per retry


def botocore_backoff(attempts: int) -> float:
    """The longest total sleep between ``attempts`` botocore attempts."""
    return sum(min(BOTOCORE_THROTTLE_BACKOFF * 2**i, BOTOCORE_MAX_BACKOFF) for i in range(attempts - 1))


def pod_identity_backoff(attempts: int) -> float:
    """The longest total sleep between ``attempts`` agent requests (:class:`~gateway.plugin.Backoff`'s bound)."""
    return sum(min(POD_IDENTITY_BACKOFF_CAP, POD_IDENTITY_BACKOFF_BASE * 2**i) for i in range(attempts - 1))


def aws_backoff(options: AwsOptions) -> Backoff:
    """The backoff of the plugin's own AWS requests: botocore's bound (:func:`botocore_backoff`), jittered."""
    return Backoff(attempts=options.max_attempts, base=BOTOCORE_THROTTLE_BACKOFF, cap=BOTOCORE_MAX_BACKOFF)


def aws_call_worst_case(options: AwsOptions) -> float:
    per_attempt = options.connect_timeout + options.read_timeout
    return options.max_attempts * per_attempt + botocore_backoff(options.max_attempts)


def pod_identity_worst_case(options: AwsOptions) -> float:
    per_endpoint = options.pod_identity_attempts * options.pod_identity_timeout + pod_identity_backoff(options.pod_identity_attempts)
    return POD_IDENTITY_ENDPOINTS * per_endpoint


def check_fits_backend_timeout(options: AwsOptions, backend_timeout: float) -> None:
    """Refuse to start when an AWS step's worst case is longer than ``--backend-timeout``."""
    call = aws_call_worst_case(options)
    if call > backend_timeout:
        raise StartupError(
            f"--aws-max-attempts {options.max_attempts} x (--aws-connect-timeout {options.connect_timeout:g} + "
            f"--aws-read-timeout {options.read_timeout:g}) + {botocore_backoff(options.max_attempts):g}s of retry backoff "
            f"= {call:g}s, longer than --backend-timeout {backend_timeout:g}: a slow AWS would be cut off by the backend "
            "timeout instead of answered with its own error; lower these or raise --backend-timeout"
        )
    agent = pod_identity_worst_case(options)
    if agent > backend_timeout:
        raise StartupError(
            f"{POD_IDENTITY_ENDPOINTS} endpoints x (--aws-pod-identity-attempts {options.pod_identity_attempts} x "
            f"--aws-pod-identity-timeout {options.pod_identity_timeout:g} + {pod_identity_backoff(options.pod_identity_attempts):g}s "
            f"of retry backoff) = {agent:g}s, longer than --backend-timeout {backend_timeout:g}: a slow Pod Identity agent "
            "would be cut off by the backend timeout instead of answered with its own error; lower these or raise --backend-timeout"
        )
