"""Refuse control characters where input enters, before any view, service or query sees it.

PostgreSQL refuses NUL in text (psycopg2 raises, a 500) and a lone surrogate cannot be
encoded as UTF-8; other control characters have no business in an OAuth parameter, an
email address or a name, and end up in logs and pages. One rule for every parameter in
the query string, form body, JSON body (keys and values), URL path and Basic credentials:
C0 controls except tab, line feed and carriage return (text areas send those), DEL, C1
controls and surrogates are refused with 400: RFC 6749 `invalid_request` JSON at the API,
a plain page in the browser.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Flask, request

FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
MESSAGE = "The request contains control characters; remove them and try again."


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _multidict(values) -> Iterator[str]:
    for key, items in values.lists():
        yield key
        yield from items


def _basic_credentials() -> Iterator[str]:
    header = request.headers.get("Authorization", "")
    yield header
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() == "basic":
        # Malformed credentials are left to client authentication (invalid_client).
        with contextlib.suppress(binascii.Error, ValueError):
            yield base64.b64decode(encoded.strip(), validate=True).decode("utf-8")


def request_strings() -> Iterable[str]:
    """The strings of the current request that may reach a query, a log line or a page."""
    yield from _multidict(request.args)
    yield from (v for v in (request.view_args or {}).values() if isinstance(v, str))
    yield from _basic_credentials()
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.is_json:
            yield from _strings(request.get_json(silent=True))
        else:
            yield from _multidict(request.form)  # 413 when over MAX_CONTENT_LENGTH


def has_control_characters() -> bool:
    return any(FORBIDDEN.search(value) for value in request_strings())


def init_app(app: Flask) -> None:
    """Register first, so the check runs before CSRF, rate limits and every view."""
    from .errors import api_error, error_page, wants_json

    @app.before_request
    def refuse_control_characters():
        if not has_control_characters():
            return None
        if wants_json():
            return api_error("invalid_request", MESSAGE, 400)
        return error_page(MESSAGE, 400)
