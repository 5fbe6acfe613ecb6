"""Flask adapter: `@require_token(verifier, scopes=..., roles=...)` on a view.

    from idp_verifier import Verifier
    from idp_verifier.flask import current_token, require_token

    verifier = Verifier("https://id.example.com", audience="notes-app")

    @app.get("/notes")
    @require_token(verifier, scopes=["notes:read"])
    def notes():
        return {"owner": current_token().sub}

A request without a valid token gets the RFC 6750 answer (401 or 403 with
`WWW-Authenticate`, a JSON body); the view runs only with a verified token on `g.idp_token`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from flask import Response, g, jsonify, request

from .core import VerifiedToken, Verifier, _names
from .errors import TokenError, VerifierUnavailable

log = logging.getLogger("idp.verifier")


def error_response(error: TokenError) -> Response:
    """The RFC 6750 §3 response for `error`."""
    response = jsonify(error.as_dict())
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def require_token(
    verifier: Verifier,
    scopes: str | Iterable[str] = (),
    roles: str | Iterable[str] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a view so it runs only for a valid access token with `scopes` and `roles`."""
    required_scopes, required_roles = _names(scopes), _names(roles)

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                g.idp_token = verifier.verify_header(
                    request.headers.get("Authorization"), required_scopes, required_roles
                )
            except VerifierUnavailable as error:
                log.error("cannot check access tokens: %s", error)
                return error_response(error)
            except TokenError as error:
                return error_response(error)
            return view(*args, **kwargs)

        return guarded

    return decorator


def current_token() -> VerifiedToken:
    """The verified token of this request (inside a view decorated with require_token)."""
    return g.idp_token
