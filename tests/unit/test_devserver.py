"""The development server logs each request once (idp's line), never its query string."""

from __future__ import annotations

import logging
import threading
import urllib.request

from werkzeug.serving import make_server

from idp.devserver import QuietRequestHandler


def test_the_development_server_logs_a_request_once_without_its_query(app, caplog):
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO):
            url = f"http://127.0.0.1:{server.server_port}/login?token=secret-value"
            with urllib.request.urlopen(url) as response:  # noqa: S310 - loopback test server
                assert response.status == 200
    finally:
        server.shutdown()
        thread.join(timeout=5)
    lines = [r for r in caplog.records if r.name in ("werkzeug", "idp.access")]
    assert [r.name for r in lines] == ["idp.access"]
    assert all("secret-value" not in r.getMessage() for r in caplog.records)
    assert all("\x1b[" not in r.getMessage() for r in caplog.records)
