"""Which Vault addresses tenants may name: ``--vault-allowed-addresses``.

Entries are ``scheme://host[:port]``; a host ``*.example.com`` allows every name below
example.com (not example.com itself). A missing port means the scheme's default. An empty
list allows any address (the default). Addresses are compared case-insensitively, after the
same parsing the connection uses, so ``https://Vault:443`` matches ``https://vault``.
"""

from __future__ import annotations

import urllib.parse

DEFAULT_PORTS = {"http": 80, "https": 443}


def pattern_problem(entry: str) -> str | None:
    """Why ``entry`` cannot be an allow-list entry, or None."""
    try:
        parts = urllib.parse.urlsplit(entry.replace("*.", "wildcard.", 1))
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a URL"
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/") or parts.query or parts.username:
        return "must be http(s)://host[:port], the host optionally starting with *."
    if "*" in entry.replace("*.", "", 1):
        return "may hold * only as the first label of the host (*.example.com)"
    return None


def allows(patterns: tuple[str, ...], address: str) -> bool:
    """Whether ``address`` (already a valid ``http(s)://host[:port]``) matches an entry."""
    if not patterns:
        return True
    scheme, host, port = _origin(address)
    for pattern in patterns:
        wildcard = "://*." in pattern
        p_scheme, p_host, p_port = _origin(pattern.replace("://*.", "://wildcard.", 1))
        if (p_scheme, p_port) != (scheme, port):
            continue
        if host == p_host if not wildcard else host.endswith("." + p_host.removeprefix("wildcard.")):
            return True
    return False


def _origin(address: str) -> tuple[str, str, int]:
    parts = urllib.parse.urlsplit(address.lower())
    return parts.scheme, parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
