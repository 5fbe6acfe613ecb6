"""`idp serve` without --production: Werkzeug's development server, logging once per request.

idp already logs every request itself (idp.access: method, route, status, latency; never the
query string, which can hold a code or a token). Werkzeug's own access line would repeat
it, with the full query string and ANSI colour codes inside the JSON log, so its request
handler stays quiet about requests; errors it meets before the app (a broken connection, a
malformed request line) are still logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.serving import WSGIRequestHandler

if TYPE_CHECKING:
    from flask import Flask


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler minus the per-request access line."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def run(app: Flask, host: str, port: int) -> None:
    """Serve `app` for development, one log line per request (idp's own)."""
    app.run(host=host, port=port, debug=False, request_handler=QuietRequestHandler)
