"""Errors: RFC 6749-style JSON at the API, a plain page in the browser, never a trace.

The one place idp's own errors (idp.errors.IdpError and its subclasses) become HTTP
answers: their `status`, `error` and `description` decide the response.
"""

from __future__ import annotations

import logging

from authlib.integrations.flask_oauth2.errors import _HTTPException as AuthlibHTTPException
from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from werkzeug.exceptions import HTTPException

from ..errors import IdpError, StoreUnavailable

log = logging.getLogger("idp")
API_PREFIXES = (
    "/connect/",
    "/token",
    "/userinfo",
    "/revoke",
    "/introspect",
    "/jwks.json",
    "/.well-known/",
    "/admin/api/",
)


def wants_json() -> bool:
    return request.path.startswith(API_PREFIXES)


def error_page(message: str, status: int, error_code: str | None = None):
    """A plain page that says what went wrong and what to do."""
    body = render_template(
        "errors/error.html", message=message, status=status, error_code=error_code
    )
    return body, status, {"Cache-Control": "no-store"}


def api_error(error: str, description: str, status: int):
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


RETRY_AFTER_SECONDS = 5


def database_unavailable(exc: Exception) -> bool:
    """A lost or refused connection, a server shutting down or starting, a full pool, a
    deadlock victim: worth retrying, not a bug (a constraint violation is a bug)."""
    return isinstance(exc, OperationalError | InterfaceError | SQLAlchemyTimeoutError) or bool(
        getattr(exc, "connection_invalidated", False)
    )


def unavailable():
    """503 temporarily_unavailable with Retry-After: JSON at the API, a page in the browser."""
    if wants_json():
        response = api_error(
            "temporarily_unavailable", "The service is briefly unavailable. Retry shortly.", 503
        )
    else:
        response = make_response(
            error_page("The service is briefly unavailable. Please try again shortly.", 503)
        )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError):
        return error_page(
            "The form expired or was sent from another site. "
            "Go back, reload the page and try again.",
            400,
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.response is not None:
            return exc.response
        if isinstance(exc, AuthlibHTTPException):
            # Authlib's resource protector: an RFC 6750 body and WWW-Authenticate.
            return exc.get_response()
        if wants_json():
            code = "invalid_request" if exc.code and exc.code < 500 else "server_error"
            response = api_error(code, exc.description or exc.name, exc.code or 500)
        else:
            response = make_response(error_page(exc.description or exc.name, exc.code or 500))
        # 405 names the allowed methods (RFC 9110 §15.5.6), 401 its challenge, and so on.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(StoreUnavailable)
    def store_down(exc: StoreUnavailable):
        # What the request needed from Redis is unknown: refuse rather than guess.
        log.error("short-lived store unavailable on %s: %s", request.path, exc)
        return unavailable()

    @app.errorhandler(IdpError)
    def idp_error(exc: IdpError):
        if exc.status >= 500:
            return unexpected(exc)
        if wants_json():
            response = api_error(exc.error, exc.description, exc.status)
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
            return response
        return error_page(exc.description, exc.status)

    @app.errorhandler(DBAPIError)
    @app.errorhandler(SQLAlchemyTimeoutError)
    def database_error(exc: Exception):
        if not database_unavailable(exc):
            return unexpected(exc)
        log.error("database unavailable on %s: %s", request.path, type(exc).__name__)
        return unavailable()

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return api_error("server_error", "The server could not complete the request.", 500)
        return error_page("Something went wrong on our side. Please try again.", 500)
