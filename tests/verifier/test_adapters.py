"""Flask decorator, WSGI middleware and FastAPI dependency: RFC 6750 answers over HTTP."""

from __future__ import annotations

import pytest
from flask import Flask
from idp_verifier import Introspection, Verifier, VerifierMiddleware
from idp_verifier.flask import current_token, require_token
from werkzeug.test import Client
from werkzeug.wrappers import Response

REALM = "reports"


class ASGIClient:
    """A synchronous face on httpx's ASGI transport (Starlette's TestClient now wants
    httpx2; httpx alone drives the app in-process just as well)."""

    def __init__(self, app):
        self.app = app

    def get(self, path, headers=None):
        import asyncio

        import httpx

        async def fetch():
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                return await client.get(path, headers=headers or {})

        return asyncio.run(fetch())


@pytest.fixture
def verifier(idp, service):
    return Verifier(idp.issuer, audience=service.client_id, realm=REALM)


@pytest.fixture
def tokens(service):
    """A token with the required scope, and one with another scope only."""
    return {"read": service.mint("reports:read"), "write_only": service.mint("reports:write")}


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _check_refusals(get, tokens):
    """The four answers every adapter must give; `get(headers)` returns (status, headers)."""
    status, headers = get({})
    assert status == 401
    assert headers["WWW-Authenticate"] == f'Bearer realm="{REALM}"'  # RFC 6750 §3.1

    status, headers = get(_bearer(tokens["read"][:-6] + "AAAAAA"))
    assert status == 401
    assert headers["WWW-Authenticate"] == (
        f'Bearer realm="{REALM}", error="invalid_token", '
        'error_description="The access token signature is not valid."'
    )

    status, headers = get(_bearer(tokens["write_only"]))
    assert status == 403
    assert headers["WWW-Authenticate"] == (
        f'Bearer realm="{REALM}", error="insufficient_scope", '
        'error_description="The access token lacks a required scope.", scope="reports:read"'
    )

    status, headers = get({"Authorization": "Bearer two tokens"})
    assert status == 400
    assert 'error="invalid_request"' in headers["WWW-Authenticate"]


def test_flask_decorator_guards_the_view_and_puts_the_token_on_g(verifier, tokens, service):
    app = Flask(__name__)

    @app.get("/reports")
    @require_token(verifier, scopes=["reports:read"])
    def reports():
        return {"sub": current_token().sub, "scope": sorted(current_token().scope)}

    @app.get("/admin")
    @require_token(verifier, scopes="reports:read", roles=["admin"])
    def admin():  # pragma: no cover - never reached without the role
        return {"ok": True}

    client = app.test_client()

    def get(headers, path="/reports"):
        response = client.get(path, headers=headers)
        return response.status_code, response.headers

    _check_refusals(get, tokens)
    response = client.get("/reports", headers=_bearer(tokens["read"]))
    assert response.status_code == 200
    assert response.get_json() == {"sub": service.client_id, "scope": ["reports:read"]}
    refused = client.get("/admin", headers=_bearer(tokens["read"]))
    assert refused.status_code == 403
    assert refused.get_json() == {
        "error": "insufficient_scope",
        "error_description": "The access token lacks a required role.",
    }
    assert refused.headers["Cache-Control"] == "no-store"


def test_flask_decorator_answers_503_when_revocation_cannot_be_checked(idp, service, tokens):
    down = Verifier(
        idp.issuer,
        audience=service.client_id,
        revocation=Introspection("c", "s", endpoint="http://127.0.0.1:9/introspect"),
    )
    app = Flask(__name__)

    @app.get("/reports")
    @require_token(down)
    def reports():  # pragma: no cover - fails closed
        return "served"

    response = app.test_client().get("/reports", headers=_bearer(tokens["read"]))
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.get_json()["error"] == "temporarily_unavailable"


def test_wsgi_middleware_guards_every_path_but_public_ones(verifier, tokens, service):
    seen = []

    def application(environ, start_response):
        seen.append(environ.get("idp.token"))
        token = environ.get("idp.token")
        return Response(token.sub if token else "public")(environ, start_response)

    client = Client(
        VerifierMiddleware(
            application, verifier, scopes=["reports:read"], public_paths=["/health", "/static/"]
        )
    )

    def get(headers):
        response = client.get("/reports", headers=headers)
        assert response.headers["Content-Type"] == "application/json"
        return response.status_code, response.headers

    _check_refusals(get, tokens)
    assert seen == []  # refused requests never reach the app

    response = client.get("/reports", headers=_bearer(tokens["read"]))
    assert (response.status_code, response.get_data(as_text=True)) == (200, service.client_id)
    assert seen[-1].scope == {"reports:read"}
    for public in ("/health", "/static/app.css"):
        assert client.get(public).get_data(as_text=True) == "public"
    assert client.get("/healthz").status_code == 401  # exact paths are exact


def test_fastapi_dependency_returns_the_token_or_raises_rfc6750_errors(verifier, tokens, service):
    from fastapi import Depends, FastAPI
    from idp_verifier import VerifiedToken
    from idp_verifier.starlette import RequireToken

    api = FastAPI()
    read_reports = RequireToken(verifier, scopes=["reports:read"])

    @api.get("/reports")
    def reports(token: VerifiedToken = Depends(read_reports)):  # noqa: B008 - FastAPI idiom
        return {"sub": token.sub, "roles": sorted(token.roles)}

    @api.get("/async-reports")
    async def async_reports(token: VerifiedToken = Depends(read_reports)):  # noqa: B008
        return {"sub": token.sub}

    client = ASGIClient(api)
    for path in ("/reports", "/async-reports"):

        def get(headers, path=path):
            response = client.get(path, headers=headers)
            return response.status_code, response.headers

        _check_refusals(get, tokens)
        response = client.get(path, headers=_bearer(tokens["read"]))
        assert response.status_code == 200
        assert response.json()["sub"] == service.client_id
    refused = client.get("/reports", headers=_bearer(tokens["write_only"]))
    assert refused.json() == {"detail": "The access token lacks a required scope."}


def test_fastapi_dependency_checks_revocation_off_the_event_loop(idp, service, tokens):
    from fastapi import Depends, FastAPI
    from idp_verifier import VerifiedToken
    from idp_verifier.starlette import RequireToken

    from .conftest import revoke

    checked = Verifier(
        idp.issuer,
        audience=service.client_id,
        revocation=Introspection(service.client_id, service.plain_secret, cache_seconds=0),
    )
    assert checked.may_block
    api = FastAPI()

    @api.get("/reports")
    async def reports(token: VerifiedToken = Depends(RequireToken(checked))):  # noqa: B008
        return {"jti": token.jti}

    client = ASGIClient(api)
    assert client.get("/reports", headers=_bearer(tokens["read"])).status_code == 200
    revoke(idp.issuer, service, tokens["read"])
    refused = client.get("/reports", headers=_bearer(tokens["read"]))
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
