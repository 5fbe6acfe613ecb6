"""Forms over https, posted the way a browser does under idp's referrer policy.

Browsers send `Origin` (and `Sec-Fetch-Site`) on every form post and, under
`Referrer-Policy: same-origin`, a `Referer` only to idp itself; scripts send none of them.
Every CSRF-protected POST route is tried, directly and behind a TLS proxy.
"""

from __future__ import annotations

import re

import pytest

from ..conftest import REDIRECT_URI, USER_EMAIL, USER_PASSWORD, make_client
from ..helpers import AuthorizationRequest, Browser, csrf_token, query

ISSUER = "https://idp.example.org"
CSRF_REFUSAL = "The form expired or was sent from another site"


class HttpsClient:
    """A test client that reaches idp at `base_url` with `headers` on every request."""

    def __init__(self, app, base_url: str = ISSUER, headers: dict | None = None):
        self.client = app.test_client()
        self.base_url = base_url
        self.headers = headers or {}

    def get(self, url, **kwargs):
        return self.client.get(url, base_url=self.base_url, headers=self.headers, **kwargs)

    def post(self, url, headers=None, **kwargs):
        headers = {"Origin": ISSUER, **self.headers, **(headers or {})}
        return self.client.post(url, base_url=self.base_url, headers=headers, **kwargs)


BEHIND_PROXY = {
    # deploy/nginx.conf: Host passed through, the scheme in X-Forwarded-Proto.
    "nginx": ("http://idp.example.org", {"X-Forwarded-Proto": "https"}),
    # a proxy that sends its upstream address as Host and the public one aside
    "upstream-host": (
        "http://127.0.0.1:8000",
        {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "idp.example.org"},
    ),
}


@pytest.fixture(params=["direct", *BEHIND_PROXY])
def https(request, make_app):
    """idp at an https issuer, reached directly or through a TLS proxy (IDP_PROXY_HOPS=1)."""
    if request.param == "direct":
        app = make_app(issuer=ISSUER)
        return app, HttpsClient(app)
    app = make_app(issuer=ISSUER, proxy_hops=1)
    base_url, headers = BEHIND_PROXY[request.param]
    return app, HttpsClient(app, base_url, {**headers, "X-Forwarded-For": "203.0.113.9"})


def _protected_form_routes(app) -> list[str]:
    """Every POST route that Flask-WTF protects, with placeholder path values."""
    csrf = app.extensions["csrf"]
    paths = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", "placeholder", rule.rule)
        with app.test_request_context(path, method="POST"):
            if not csrf._is_exempt():
                paths.append(path)
    return sorted(paths)


def test_the_form_routes_under_test_include_every_hosted_form(app):
    routes = _protected_form_routes(app)
    for path in (
        "/login",
        "/login/mfa",
        "/consent",
        "/register",
        "/password/forgot",
        "/password/reset",
        "/account/password",
        "/logout",
        "/session/end/confirm",
        "/admin/users",
        "/admin/clients",
    ):
        assert path in routes


def test_every_form_posted_like_a_browser_over_https_passes_the_csrf_check(https):
    app, client = https
    token = csrf_token(client.get("/login").get_data(as_text=True))
    for path in _protected_form_routes(app):
        for extra in ({}, {"Sec-Fetch-Site": "same-origin"}, {"Referer": f"{ISSUER}/login"}):
            response = client.post(path, data={"csrf_token": token}, headers=extra)
            assert CSRF_REFUSAL not in response.get_data(as_text=True), (path, extra)
            assert response.status_code < 500, path


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://idp.example.org"},  # downgraded scheme is another origin
        {"Origin": "https://idp.example.org.evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "", "Referer": "https://evil.example/page"},
    ],
)
def test_a_cross_site_post_is_refused_even_with_a_valid_token(https, headers):
    app, client = https
    token = csrf_token(client.get("/login").get_data(as_text=True))
    for path in _protected_form_routes(app):
        response = client.post(path, data={"csrf_token": token}, headers=headers)
        assert response.status_code == 400, path
        assert CSRF_REFUSAL in response.get_data(as_text=True), path


def test_a_same_origin_post_without_the_token_is_still_refused(https):
    app, client = https
    client.get("/login")
    for path in _protected_form_routes(app):
        response = client.post(path, data={}, headers={"Sec-Fetch-Site": "same-origin"})
        assert response.status_code == 400, path
        assert CSRF_REFUSAL in response.get_data(as_text=True), path


def test_sign_in_and_consent_over_https_end_at_the_client_with_a_code(https, user):
    app, client = https
    rp = make_client(app, "RP", [REDIRECT_URI])
    request = AuthorizationRequest(rp.client_id, REDIRECT_URI)
    response = Browser(client).authorize(request, USER_EMAIL, USER_PASSWORD)
    assert response.status_code in (302, 303)
    assert response.headers["Location"].startswith(REDIRECT_URI)
    answer = query(response.headers["Location"])
    assert answer["state"] == request.state and answer["code"]
    assert answer["iss"] == ISSUER


def test_pages_ask_browsers_for_a_same_origin_referrer_policy(https):
    _, client = https
    page = client.get("/login")
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert '<meta name="referrer" content="same-origin">' in page.get_data(as_text=True)
