"""Bad input gets a 4xx (RFC 6749 §5.2 JSON at the API, a page in the browser), never a 5xx.

Run on PostgreSQL too: psycopg2 refuses NUL where SQLite stores it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ..conftest import REDIRECT_URI, TEST_ISSUER, USER_EMAIL, make_client
from ..helpers import AuthorizationRequest, csrf_token
from .test_admin_api import admin, admin_service  # noqa: F401 - fixtures
from .test_client_credentials import ASSERTION_TYPE, _assertion

# Lone surrogates cannot travel in a URL or a form (not UTF-8); JSON can carry them.
CONTROL = ["\x00", "\x01", "\x1b", "\x7f", "\x85"]


def assert_api_refusal(response, status=400, error="invalid_request"):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    assert response.get_json()["error"] == error
    assert response.headers["Cache-Control"] == "no-store"


def assert_page_refusal(response, status=400):
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/html"


@pytest.mark.parametrize("char", CONTROL)
def test_control_characters_at_the_protocol_endpoints_are_400_json(
    client, confidential_client, char
):
    bad = f"abc{char}def"
    for path, data in (
        ("/token", {"grant_type": "client_credentials", "client_id": bad, "client_secret": "x"}),
        ("/token", {"grant_type": "authorization_code", "code": bad}),
        ("/introspect", {"token": "t", "client_id": bad, "client_secret": "x"}),
        ("/revoke", {"token": bad}),
    ):
        assert_api_refusal(client.post(path, data=data))
    basic = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(bad, confidential_client.plain_secret),
    )
    assert_api_refusal(basic)
    assert_api_refusal(client.get("/userinfo", query_string={"access_token": bad}))


@pytest.mark.parametrize("char", CONTROL)
def test_control_characters_in_browser_requests_get_a_400_page(browser, confidential_client, char):
    bad = f"abc{char}def"
    assert_page_refusal(browser.get("/authorize", query_string={"client_id": bad}))
    request = AuthorizationRequest(confidential_client.client_id, REDIRECT_URI)
    assert_page_refusal(browser.get("/authorize", query_string={**request.params(), "state": bad}))
    assert_page_refusal(browser.get("/session/end", query_string={"client_id": bad}))
    token = csrf_token(browser.get("/login").get_data(as_text=True))
    for path in ("/login", "/password/forgot", "/register", "/verify-email/resend"):
        response = browser.client.post(
            path, data={"csrf_token": token, "email": f"a{char}@example.com", "password": "x" * 12}
        )
        assert_page_refusal(response)


def test_tab_and_newline_are_allowed_in_free_text(client, user):
    """Text areas send newlines; the sign-in form just says the password is wrong."""
    response = client.post("/login", data={"email": USER_EMAIL, "password": "a\tb\r\nc"})
    assert response.status_code < 500
    assert "control characters" not in response.get_data(as_text=True)


def test_a_lone_surrogate_in_a_json_body_is_400(admin):  # noqa: F811
    assert_api_refusal(admin("post", "/roles", json={"name": "x\ud800y"}))
    assert_api_refusal(admin("post", "/clients", json={"client_name": "\udfff"}))


@pytest.mark.parametrize("char", ["\x00", "\x08"])
def test_control_characters_in_admin_api_names_filters_and_paths_are_400(admin, char):  # noqa: F811
    bad = f"x{char}y"
    assert_api_refusal(admin("post", "/clients", json={"client_name": bad, "redirect_uris": []}))
    assert_api_refusal(admin("post", "/roles", json={"name": bad}))
    assert_api_refusal(admin("post", "/users", json={"email": f"a{char}@example.com"}))
    assert_api_refusal(admin("post", "/users", json={"email": "a@example.com", bad: 1}))
    assert_api_refusal(admin("get", "/users", query_string={"email": bad}))
    assert_api_refusal(admin("get", "/audit", query_string={"client": bad}))
    assert_api_refusal(admin("get", f"/clients/{bad}"))
    assert_api_refusal(admin("get", f"/users/{bad}"))
    listed = admin("get", "/clients").get_json()["clients"]
    assert all(char not in c["client_name"] for c in listed)


@pytest.mark.parametrize(
    "params",
    [
        {"response_type": "code\x00"},
        {"response_type": 'co"de'},
        {"response_type": "code\\"},
        {"redirect_uri": 'https://rp.example.org/callback"'},
        {"redirect_uri": "https://rp.example.org/\\callback"},
        {"scope": 'openid "profile'},
        {"response_mode": 'query"'},
        {"code_challenge_method": 'S256"'},
        {"prompt": 'none"'},
    ],
)
def test_quotes_and_garbage_at_authorize_are_4xx_never_500(browser, confidential_client, params):
    request = AuthorizationRequest(confidential_client.client_id, REDIRECT_URI, extra=params)
    response = browser.get(request.url())
    assert 300 <= response.status_code < 500, response.get_data(as_text=True)[:300]


def test_a_body_over_the_size_limit_is_413_json_at_the_api_and_a_page_elsewhere(client):
    big = {"grant_type": "client_credentials", "client_id": "x" * (70 * 1024)}
    for path in ("/token", "/introspect", "/revoke"):
        response = client.post(path, data=big)
        assert_api_refusal(response, 413)
    page = client.post("/login", data={"email": "x" * (70 * 1024)})
    assert_page_refusal(page, 413)


def test_missing_grant_type_is_invalid_request(client, confidential_client):
    auth = (confidential_client.client_id, confidential_client.plain_secret)
    assert_api_refusal(client.post("/token", data={}, auth=auth))
    assert_api_refusal(client.post("/token", data={"grant_type": ""}, auth=auth))
    assert_api_refusal(client.post("/token", json={"grant_type": "client_credentials"}))


@pytest.fixture
def jwks_server():
    """Serve whatever `body` holds at http://127.0.0.1:<port>/jwks.json."""
    state = {"body": b""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's hook name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(state["body"])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["uri"] = f"http://127.0.0.1:{server.server_port}/jwks.json"
    yield state
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "body",
    [
        {"keys": []},
        {"keys": [{"kty": "RSA"}]},
        {"keys": "nope"},
        {},
        [],
        "a string",
    ],
)
def test_a_private_key_jwt_client_with_a_broken_jwks_uri_gets_invalid_client(
    app, client, jwks_server, body
):
    from joserfc.jwk import RSAKey

    jwks_server["body"] = json.dumps(body).encode()
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    registered = make_client(
        app,
        "Signer",
        [],
        grant_types=["client_credentials"],
        scope="reports",
        auth_method="private_key_jwt",
        jwks_uri=jwks_server["uri"],
    )
    response = client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": registered.client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": _assertion(key, registered.client_id),
        },
    )
    assert response.status_code in (400, 401)  # Authlib answers assertion failures with 400
    assert_api_refusal(response, response.status_code, "invalid_client")


@pytest.mark.parametrize("since", ["-1", "2026-13-01T00:00Z", "yesterday"])
def test_malformed_audit_dates_are_400(admin, since):  # noqa: F811
    assert_api_refusal(admin("get", "/audit", query_string={"since": since}))
    assert_api_refusal(admin("get", "/audit", query_string={"until": since}))


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_audit_dates_at_the_edge_of_the_calendar_are_clamped_not_500(admin, since):  # noqa: F811
    for name in ("since", "until"):
        response = admin("get", "/audit", query_string={name: since})
        assert response.status_code == 200, response.get_data(as_text=True)


def test_admin_api_refuses_null_unknown_fields_and_parameters_and_says_409_when_taken(
    admin,  # noqa: F811
):
    created = admin("post", "/users", json={"email": "grace@example.com"})
    user_id = created.get_json()["id"]
    assert_api_refusal(admin("patch", f"/users/{user_id}", json={"roles": None}))
    assert_api_refusal(admin("put", f"/users/{user_id}/roles", json={"roles": None}))
    assert_api_refusal(admin("post", "/users", json={"email": "x@example.com", "nick": "x"}))
    assert_api_refusal(admin("post", "/roles", json={"name": "auditor", "colour": "red"}))
    assert_api_refusal(admin("get", "/users", query_string={"emial": "grace"}))
    assert_api_refusal(admin("post", "/clients", json={"client_name": None}))
    assert admin("post", "/roles", json={"name": "auditor"}).status_code == 201
    assert_api_refusal(admin("post", "/roles", json={"name": "auditor"}), 409, "conflict")
    again = admin("post", "/users", json={"email": "grace@example.com"})
    assert_api_refusal(again, 409, "conflict")


def test_unsupported_methods_are_405_with_an_allow_header(client, admin):  # noqa: F811
    for method, path in (("TRACE", "/admin/api/users"), ("TRACE", "/token"), ("PUT", "/token")):
        response = client.open(path, method=method)
        assert response.status_code == 405
        assert response.headers.get("Allow"), (method, path)
        assert response.is_json


def test_a_symmetric_key_served_at_jwks_uri_cannot_sign_assertions(app, client, jwks_server):
    """A key set is public: an `oct` key served at a jwks_uri would let anyone who reads it
    sign an HS256 assertion, so private_key_jwt accepts asymmetric keys only (RFC 7523 §2.2)."""
    import secrets
    import time

    from joserfc import jwt
    from joserfc.jwk import KeySet, OctKey

    shared = OctKey.generate_key(256, parameters={"kid": "shared"}, private=True)
    jwks_server["body"] = json.dumps(KeySet([shared]).as_dict(private=True)).encode()
    registered = make_client(
        app,
        "Signer",
        [],
        grant_types=["client_credentials"],
        scope="reports",
        auth_method="private_key_jwt",
        jwks_uri=jwks_server["uri"],
    )
    now = int(time.time())
    claims = {
        "iss": registered.client_id,
        "sub": registered.client_id,
        "aud": f"{TEST_ISSUER}/token",
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(12),
    }
    response = client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": registered.client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": jwt.encode({"alg": "HS256", "kid": "shared"}, claims, shared),
        },
    )
    assert_api_refusal(response, response.status_code, "invalid_client")
