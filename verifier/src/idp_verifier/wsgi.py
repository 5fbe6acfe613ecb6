"""WSGI middleware: every request needs a valid access token, except public paths.

    application = VerifierMiddleware(application, verifier, scopes=["reports:read"],
                                     public_paths=["/health"])

The verified token is in `environ["idp.token"]`; requests without one get the RFC 6750
answer (401 or 403 with `WWW-Authenticate` and a JSON body) and never reach the app.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from .core import Verifier, _names
from .errors import TokenError, VerifierUnavailable

ENVIRON_KEY = "idp.token"
log = logging.getLogger("idp.verifier")


class VerifierMiddleware:
    """Wrap a WSGI app so it only sees requests with a verified token.

    `public_paths`: exact paths, or prefixes when they end with "/", that need no token.
    """

    def __init__(
        self,
        app: Callable[..., Any],
        verifier: Verifier,
        scopes: str | Iterable[str] = (),
        roles: str | Iterable[str] = (),
        public_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.scopes = _names(scopes)
        self.roles = _names(roles)
        paths = tuple(public_paths)
        self._public_exact = frozenset(p for p in paths if not p.endswith("/"))
        self._public_prefixes = tuple(p for p in paths if p.endswith("/"))

    def _is_public(self, path: str) -> bool:
        return path in self._public_exact or (
            bool(self._public_prefixes) and path.startswith(self._public_prefixes)
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        if self._is_public(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        try:
            environ[ENVIRON_KEY] = self.verifier.verify_header(
                environ.get("HTTP_AUTHORIZATION"), self.scopes, self.roles
            )
        except TokenError as error:
            if isinstance(error, VerifierUnavailable):
                log.error("cannot check access tokens: %s", error)
            body = json.dumps(error.as_dict()).encode()
            headers = [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                *error.headers.items(),
            ]
            start_response(f"{error.status} {HTTPStatus(error.status).phrase}", headers)
            return [body]
        return self.app(environ, start_response)
