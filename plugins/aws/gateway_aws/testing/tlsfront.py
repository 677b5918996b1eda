"""A TLS front for a plain local HTTP peer: TLS ends on a 127.0.0.1 port with a given certificate, and the bytes
inside are relayed both ways to the peer's own port, unchanged (streams such as a Kubernetes watch included).

For clients that speak only HTTPS to a peer our kit serves over plain HTTP — e.g. a Go program's in-cluster
Kubernetes configuration, always ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``, in front of
:class:`gateway.testing.kube.FakeKubernetes`. Use as a context manager; ``port`` is where clients connect.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from urllib.parse import urlsplit

from gateway.testing.local import LocalHTTPServer, QuietHandler


class TlsFront(LocalHTTPServer):
    thread_name = "tls-front"

    def __init__(self, upstream: str, certificate: str, key: str) -> None:
        target = urlsplit(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certificate, key)
        self.connections = 0  # TLS connections accepted so far
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _relay(self, client: socket.socket) -> None:
        """One connection: the handshake (in this connection's thread), then bytes both ways until either side ends."""
        try:
            tls = self.context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that does not trust the certificate, or went away
        with self._lock:
            self.connections += 1
        try:
            with tls, socket.create_connection(self.upstream) as plain:
                plain.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                while True:
                    # bytes TLS has decrypted already are not seen by select: read them first
                    readable = [tls] if tls.pending() else select.select([tls, plain], [], [])[0]
                    for source in readable:
                        data = source.recv(65536)
                        if not data:
                            return
                        (plain if source is tls else tls).sendall(data)
        except (ssl.SSLError, OSError):
            return


class _Relay(QuietHandler):
    """Not HTTP: the connection's bytes go to :meth:`TlsFront._relay` as they are."""

    owner: TlsFront

    def setup(self) -> None:
        return

    def handle(self) -> None:
        self.owner._relay(self.request)

    def finish(self) -> None:
        return


TlsFront.handler_class = _Relay
