"""The example relying party and notes API, next to a real idp, driven like a browser.

idp, the API (examples/api_service.py) and the app (examples/rp_app.py) each run on a
loopback port; a requests.Session plays the person: sign in, read the ID-token claims,
call the API, refresh, sign out. After sign-out the access token no longer opens the API
(the API checks revocation) and the refresh token no longer refreshes.
"""

from __future__ import annotations

import html
import importlib.util
import re
import secrets
import threading
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from werkzeug.serving import make_server

from ..conftest import USER_EMAIL, USER_PASSWORD, make_client, make_user

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"idp_examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Served:
    """A WSGI app on a random loopback port (the app is set once the port is known)."""

    def __init__(self):
        self.server = make_server("127.0.0.1", 0, None, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def start(self, app):
        self.server.app = app
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return app

    def close(self):
        if hasattr(self, "thread"):
            self.server.shutdown()
            self.thread.join(timeout=5)
        self.server.server_close()


@pytest.fixture
def servers():
    api, rp = Served(), Served()
    yield api, rp
    rp.close()
    api.close()


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _sign_in_at_idp(browser: requests.Session, url: str, stop: str) -> str:
    """Fill idp's sign-in and consent pages; return the redirect that reaches `stop`."""
    for _ in range(12):
        response = browser.get(url, allow_redirects=False, timeout=10)
        if response.status_code == 200:
            page = response.text
            form = {
                "csrf_token": _csrf(page),
                "ix": re.search(r'name="ix" value="([^"]+)"', page).group(1),
            }
            if 'autocomplete="current-password"' in page:
                action, fields = "/login", {"email": USER_EMAIL, "password": USER_PASSWORD}
            else:
                assert "notes:read" in page  # the consent page names the API's scope
                action, fields = "/consent", {"decision": "allow"}
            response = browser.post(
                urljoin(url, action), data={**form, **fields}, allow_redirects=False, timeout=10
            )
        assert response.status_code in (302, 303), response.text[:500]
        location = urljoin(url, response.headers["Location"])
        if location.startswith(stop):
            return location
        url = location
    raise AssertionError("the sign-in never came back to the app")


def _claims(page: str) -> dict[str, str]:
    table = re.search(r'<table id="claims">(.*?)</table>', page, re.S).group(1)
    return {
        html.unescape(k): html.unescape(v)
        for k, v in re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", table)
    }


def test_sign_in_call_the_api_refresh_and_sign_out(live_server, servers):
    idp_app, issuer = live_server
    api, rp = servers
    person = make_user(idp_app, USER_EMAIL, USER_PASSWORD, name="Ada Lovelace")
    registered = make_client(
        idp_app,
        "Notes",
        [f"{rp.url}/callback"],
        post_logout_redirect_uris=[f"{rp.url}/signed-out"],
        scope="openid profile email notes:read",
    )
    api.start(
        _load("api_service").create_app(
            {
                "issuer": issuer,
                "audience": registered.client_id,
                # The token names the app as its audience, so the app's credentials may
                # introspect it; 0 s: logout shows on the very next request.
                "introspection_client_id": registered.client_id,
                "introspection_client_secret": registered.plain_secret,
                "introspection_cache_seconds": 0,
            }
        )
    )
    rp_app = rp.start(
        _load("rp_app").create_app(
            {
                "issuer": issuer,
                "client_id": registered.client_id,
                "client_secret": registered.plain_secret,
                "api_url": api.url,
                "secret_key": secrets.token_urlsafe(32),
            }
        )
    )
    tokens = rp_app.extensions["notes_rp.tokens"]
    browser = requests.Session()

    # Sign in: code flow with PKCE through idp's pages, back to the app's callback.
    assert "Sign in with idp" in browser.get(f"{rp.url}/", timeout=10).text
    to_idp = browser.get(f"{rp.url}/login", allow_redirects=False, timeout=10)
    authorize = to_idp.headers["Location"]
    params = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(f"{issuer}/authorize?")
    assert params["code_challenge_method"] == ["S256"] and params["nonce"]
    callback = _sign_in_at_idp(browser, authorize, f"{rp.url}/callback")
    home = browser.get(callback, timeout=10)
    assert home.status_code == 200 and home.url == f"{rp.url}/"

    claims = _claims(home.text)
    assert claims["sub"] == str(person.id)
    assert claims["email"] == USER_EMAIL and claims["name"] == "Ada Lovelace"
    assert claims["iss"] == issuer and claims["aud"] == registered.client_id
    assert claims["nonce"] == params["nonce"][0]
    (entry,) = tokens._items.values()
    first_access_token = entry["token"]["access_token"]

    # Call the API with the access token.
    page = browser.post(
        f"{rp.url}/call-api", data={"csrf_token": _csrf(home.text)}, timeout=10
    ).text
    assert "API answer (200)" in page
    answer = html.unescape(re.search(r'<pre id="api">(.*?)</pre>', page, re.S).group(1))
    assert f'"owner":"{person.id}"' in answer.replace(" ", "")
    assert "notes:read" in answer and "Analytical Engine" in answer

    # Refresh: new tokens from the refresh token (rotated), and the API still answers.
    page = browser.post(f"{rp.url}/refresh", data={"csrf_token": _csrf(page)}, timeout=10).text
    assert "Tokens refreshed." in page
    (entry,) = tokens._items.values()
    access_token, refresh_token = entry["token"]["access_token"], entry["token"]["refresh_token"]
    assert access_token != first_access_token
    page = browser.post(f"{rp.url}/call-api", data={"csrf_token": _csrf(page)}, timeout=10).text
    assert "API answer (200)" in page

    # The app's CSRF check holds.
    assert (
        browser.post(f"{rp.url}/refresh", data={"csrf_token": "x"}, timeout=10).status_code == 400
    )

    # Sign out: RP-initiated logout at idp, back to the app with its state.
    to_end = browser.post(
        f"{rp.url}/logout", data={"csrf_token": _csrf(page)}, allow_redirects=False, timeout=10
    )
    end_session = to_end.headers["Location"]
    assert end_session.startswith(f"{issuer}/session/end?")
    assert parse_qs(urlsplit(end_session).query)["post_logout_redirect_uri"] == [
        f"{rp.url}/signed-out"
    ]
    back = browser.get(end_session, timeout=10)
    assert back.status_code == 200 and back.url.startswith(f"{rp.url}/signed-out?state=")
    assert "You are signed out of Notes and of idp." in back.text
    assert "Sign in with idp" in back.text
    assert not tokens._items

    # Logout takes effect on the next request: the API refuses the token idp revoked...
    refused = requests.get(
        f"{api.url}/notes", headers={"Authorization": f"Bearer {access_token}"}, timeout=10
    )
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == (
        'Bearer realm="notes", error="invalid_token", '
        'error_description="The access token was revoked."'
    )
    # ...and the refresh token of that session is gone too.
    again = requests.post(
        f"{issuer}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(registered.client_id, registered.plain_secret),
        timeout=10,
    )
    assert again.json()["error"] == "invalid_grant"
    # And idp's session is over: signing in again asks for the password.
    relogin = browser.get(f"{rp.url}/login", allow_redirects=False, timeout=10)
    page = browser.get(relogin.headers["Location"], timeout=10).text
    assert 'autocomplete="current-password"' in page


def test_api_answers_rfc6750_errors_without_a_valid_token(live_server, servers):
    idp_app, issuer = live_server
    api, _ = servers
    service = make_client(
        idp_app, "Batch", [], grant_types=["client_credentials"], scope="notes:read"
    )
    api.start(_load("api_service").create_app({"issuer": issuer, "audience": service.client_id}))
    token = requests.post(
        f"{issuer}/token",
        data={"grant_type": "client_credentials"},
        auth=(service.client_id, service.plain_secret),
        timeout=10,
    ).json()["access_token"]

    assert requests.get(f"{api.url}/health", timeout=10).json() == {"status": "ok"}
    missing = requests.get(f"{api.url}/notes", timeout=10)
    assert (missing.status_code, missing.headers["WWW-Authenticate"]) == (
        401,
        'Bearer realm="notes"',
    )
    ok = requests.get(f"{api.url}/notes", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert ok.status_code == 200 and ok.json()["owner"] == service.client_id
    admin = requests.get(
        f"{api.url}/admin/notes", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert admin.status_code == 403
    assert 'error="insufficient_scope"' in admin.headers["WWW-Authenticate"]
