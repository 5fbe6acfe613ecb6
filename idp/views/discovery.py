"""Discovery and JWKS: public documents, answered in front of Flask.

Relying parties and resource servers fetch these more than anything else, and everyone gets
the same bytes. They are built once per key or configuration change and answered by a small
WSGI layer ahead of Flask's request handling (no request context, session, rate-limit pass
or access-log line): a fifth of the cost of the same answer through Flask. They keep ETag and
304, Cache-Control, CORS, the security headers, X-Request-ID and the request metrics. Other
methods fall through to Flask, which answers 405.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterable

from flask import Blueprint, Flask, current_app
from werkzeug.http import parse_etags

from ..oauth.metadata import metadata
from ..observability import REQUEST_ID, observe_request
from .security import security_headers

bp = Blueprint("discovery", __name__)

METADATA_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
JWKS_PATH = "/jwks.json"


class PublicDocuments:
    """WSGI middleware answering GET and HEAD for the discovery documents and JWKS."""

    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        keys = app.extensions["idp.keys"]
        config = app.config["IDP"]

        def build_metadata() -> dict:
            return metadata(config, keys)

        self.builders: dict[str, Callable[[], dict]] = {
            **dict.fromkeys(METADATA_PATHS, build_metadata),
            JWKS_PATH: keys.public_jwks,
        }
        self._cache: dict[str, tuple[int, bytes, str]] = {}
        self._static_headers = [
            ("Cache-Control", f"public, max-age={config.metadata_max_age}"),
            # Browser apps read these cross-origin; they hold nothing secret.
            ("Access-Control-Allow-Origin", "*"),
            *security_headers(config.https),
        ]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if path not in self.builders or method not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        body, etag = self.document(path)
        headers = [
            ("ETag", f'"{etag}"'),
            *self._static_headers,
            ("X-Request-ID", _request_id(environ)),
        ]
        if parse_etags(environ.get("HTTP_IF_NONE_MATCH")).contains(etag):
            status, body = "304 NOT MODIFIED", b""
        else:
            status = "200 OK"
            headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        start_response(status, headers)
        observe_request(path, method, status[:3], time.perf_counter() - started)
        return [b"" if method == "HEAD" else body]

    def document(self, path: str) -> tuple[bytes, str]:
        """The document's bytes and ETag, rebuilt when the keys change."""
        keys = self.app.extensions["idp.keys"]
        keys.refresh()
        entry = self._cache.get(path)
        if entry is None or entry[0] != keys.version:
            body = json.dumps(self.builders[path](), separators=(",", ":")).encode()
            entry = (keys.version, body, hashlib.sha256(body).hexdigest()[:32])
            self._cache[path] = entry
        return entry[1], entry[2]


def _request_id(environ: dict) -> str:
    supplied = environ.get("HTTP_X_REQUEST_ID", "")
    return supplied if REQUEST_ID.match(supplied) else secrets.token_hex(8)


def _document():
    """Reached only when something calls the Flask app without the middleware in front
    (Flask calls a returned WSGI app); other methods get Flask's 405."""
    return current_app.extensions["idp.public_documents"]


bp.add_url_rule(METADATA_PATHS[0], "openid_configuration", _document)
bp.add_url_rule(METADATA_PATHS[1], "oauth_authorization_server", _document)
bp.add_url_rule(JWKS_PATH, "jwks", _document)


def init_app(app: Flask) -> None:
    documents = PublicDocuments(app, app.wsgi_app)
    app.extensions["idp.public_documents"] = documents
    app.wsgi_app = documents
