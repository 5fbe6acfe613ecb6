"""Errors: RFC 6749-style JSON at the API, a plain page in the browser, never a trace."""

from __future__ import annotations

import logging

from authlib.integrations.flask_oauth2.errors import _HTTPException as AuthlibHTTPException
from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..store import StoreUnavailable

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
        # Revocation state is unknown: refuse rather than answer "active" (fail closed).
        log.error("short-lived store unavailable on %s: %s", request.path, exc)
        if wants_json():
            return api_error(
                "temporarily_unavailable", "The server cannot check revocation right now.", 503
            )
        return error_page("The service is briefly unavailable. Please try again shortly.", 503)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return api_error("server_error", "The server could not complete the request.", 500)
        return error_page("Something went wrong on our side. Please try again.", 500)
