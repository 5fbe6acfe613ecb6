"""`python -m idp.healthcheck`: exit 0 when the server answers /healthz, else 1.

The container's HEALTHCHECK runs it. It probes the address the server binds (IDP_BIND, the
setting gunicorn.conf.py reads), so a container bound elsewhere does not turn unhealthy.
Standard library only: it runs every 30 s and must start fast.
"""

from __future__ import annotations

import http.client
import os
import socket
import sys

DEFAULT_BIND = "0.0.0.0:8000"
TIMEOUT_SECONDS = 2


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT_SECONDS)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT_SECONDS)
        self.sock.connect(self._path)


def connection_for(bind: str) -> http.client.HTTPConnection:
    """A connection to the first address of a gunicorn-style bind (`host:port`,
    `[v6]:port`, `unix:/path`); a wildcard host is probed on loopback."""
    first = bind.split(",")[0].strip() or DEFAULT_BIND
    if first.startswith("unix:"):
        return _UnixConnection(first[len("unix:") :])
    if first.startswith("["):
        host, _, port = first[1:].partition("]:")
    else:
        host, _, port = first.rpartition(":") if ":" in first else (first, "", "")
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    return http.client.HTTPConnection(host, int(port or 8000), timeout=TIMEOUT_SECONDS)


def main() -> int:
    connection = connection_for(os.environ.get("IDP_BIND", DEFAULT_BIND))
    try:
        connection.request("GET", "/healthz")
        status = connection.getresponse().status
    except OSError:
        return 1
    finally:
        connection.close()
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
