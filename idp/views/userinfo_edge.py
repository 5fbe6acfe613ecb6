"""GET /userinfo with a good bearer token, answered ahead of Flask, like discovery and JWKS.

A /userinfo request is cheap work (one signature check, the revocation check, the user's
row, a few claims), but Flask's request handling and Authlib's request wrapping around it
cost several times that work again (docs/benchmarks.md, "Where the time goes"). This layer
runs the same checks with the same objects: the app's ResourceProtector and its
AccessTokenValidator (signature, `typ`, issuer and time claims, the `openid` scope,
revocation and the user's "not before"), the token's client and user, and the claims
function the Flask view uses; it answers the same bytes with the same headers, request id,
metrics and access-log line.

It answers only the plain success: a GET with `Authorization: Bearer` and nothing else to
read (no query string), for a client that does not want signed userinfo, and an enabled
user. Anything else, and any error on the way (an invalid, expired or revoked token, a store
or database that cannot answer), goes to the Flask app unchanged, which then produces the
answer, error or not, exactly as before: the work this layer did is spent twice on those
requests only.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable

from authlib.consts import default_json_headers
from flask import Flask

from ..oauth.claims import user_info
from ..observability import REQUEST_ID, observe_request
from .edge import FORBIDDEN
from .security import app_security_headers

PATH = "/userinfo"
log = logging.getLogger("idp.views.userinfo_edge")
access_log = logging.getLogger("idp.access")


class _BearerRequest:
    """What Authlib's ResourceProtector reads from a request: its headers."""

    __slots__ = ("headers",)

    def __init__(self, authorization: str) -> None:
        self.headers = {"Authorization": authorization}


class UserinfoEdge:
    """WSGI middleware in front of the Flask app (see the module docstring)."""

    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self._headers = [*default_json_headers, *app_security_headers(app)]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if (
            environ.get("PATH_INFO") != PATH
            or environ.get("REQUEST_METHOD") != "GET"
            or environ.get("QUERY_STRING")
        ):
            return self.wsgi_app(environ, start_response)
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token or FORBIDDEN.search(authorization):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        body = self.claims(authorization)
        if body is None:
            return self.wsgi_app(environ, start_response)
        supplied = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = supplied if REQUEST_ID.match(supplied) else secrets.token_hex(8)
        start_response(
            "200 OK",
            [
                *self._headers[:3],
                ("Content-Length", str(len(body))),
                *self._headers[3:],
                ("X-Request-ID", request_id),
            ],
        )
        elapsed = time.perf_counter() - started
        observe_request(PATH, "GET", "200", elapsed)
        access_log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": "GET",
                "route": PATH,
                "status": 200,
                "latency_ms": round(elapsed * 1000, 2),
                "client_id": None,
                "user_id": None,
            },
        )
        return [body]

    def claims(self, authorization: str) -> bytes | None:
        """The response body for this token, or None to let the Flask app answer."""
        try:
            with self.app.app_context():
                protector = self.app.extensions["idp.resource_protector"]
                token = protector.validate_request(["openid"], _BearerRequest(authorization))
                client = token.get_client()
                if client is None or client.client_metadata.get("userinfo_signed_response_alg"):
                    return None
                user = token.get_user()
                # Flask's JSON, as Authlib's Flask integration writes it (sorted keys).
                return self.app.json.dumps(user_info(user, token.scope)).encode()
        except Exception:  # noqa: BLE001 - every failure is the Flask app's to answer
            log.debug("userinfo answered by the app", exc_info=True)
            return None


def init_app(app: Flask) -> None:
    app.wsgi_app = UserinfoEdge(app, app.wsgi_app)
