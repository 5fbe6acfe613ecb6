"""An example relying party: signs users in through idp with Authlib's Flask client.

Authorization code flow with PKCE (S256) and a nonce; the ID token is validated by Authlib
(signature from idp's JWKS, iss, aud, exp, nonce). The page shows the ID-token claims and
has three buttons: call the notes API with the access token, refresh the tokens, sign out
(RP-initiated logout at idp's end_session_endpoint, back to /signed-out).

Tokens stay on the server (an in-process dict keyed by a random id in the session cookie),
never in the browser: this is an example, so a restart signs everyone out.

    RP_CLIENT_ID=... RP_CLIENT_SECRET=... .venv/bin/python examples/rp_app.py

Environment (see examples/README.md):
    RP_ISSUER        idp's issuer URL (default http://127.0.0.1:5000)
    RP_CLIENT_ID, RP_CLIENT_SECRET   from `idp clients create`
    RP_API_URL       the notes API (default http://127.0.0.1:8001)
    RP_SECRET_KEY    signs this app's session cookie (default: random at each start)
    RP_PORT          default 8000
    RP_PROVIDER_NAME the provider's name on the button (default idp; match IDP_BRAND_NAME)
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
import time
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, abort, redirect, render_template_string, request, session, url_for

SCOPE = "openid profile email notes:read"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Notes ({{ provider }} example)</title>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
form{display:inline}pre{background:#f4f4f4;padding:.75rem;overflow:auto}</style></head>
<body>
<h1>Notes</h1>
{% if message %}<p id="message">{{ message }}</p>{% endif %}
{% if claims %}
  <p>Signed in as <strong>{{ claims.name or claims.email or claims.sub }}</strong>.</p>
  <h2>ID-token claims</h2>
  <table id="claims">
  {% for name, value in claims|dictsort -%}
  <tr><th>{{ name }}</th><td>{{ value }}</td></tr>
  {% endfor %}
  </table>
  <p>Access token expires in {{ expires_in }} s.</p>
  <form method="post" action="{{ url_for('call_api') }}">
    <input type="hidden" name="csrf_token" value="{{ csrf_token }}">
    <button>Call the notes API</button></form>
  <form method="post" action="{{ url_for('refresh') }}">
    <input type="hidden" name="csrf_token" value="{{ csrf_token }}">
    <button>Refresh the tokens</button></form>
  <form method="post" action="{{ url_for('logout') }}">
    <input type="hidden" name="csrf_token" value="{{ csrf_token }}">
    <button>Sign out</button></form>
  {% if api %}
  <h2>API answer ({{ api.status }})</h2>
  <pre id="api">{{ api.body }}</pre>
  {% endif %}
{% else %}
  <p><a href="{{ url_for('login') }}">Sign in with {{ provider }}</a></p>
{% endif %}
</body></html>
"""


def settings_from_env() -> dict[str, Any]:
    env = os.environ.get
    return {
        "issuer": env("RP_ISSUER", "http://127.0.0.1:5000").rstrip("/"),
        "client_id": env("RP_CLIENT_ID", ""),
        "client_secret": env("RP_CLIENT_SECRET", ""),
        "api_url": env("RP_API_URL", "http://127.0.0.1:8001").rstrip("/"),
        "secret_key": env("RP_SECRET_KEY") or secrets.token_urlsafe(32),
        "provider_name": env("RP_PROVIDER_NAME", "idp"),
    }


class TokenStore:
    """Tokens per signed-in browser, on the server. A real app would use its database."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, sid: str | None) -> dict[str, Any] | None:
        with self._lock:
            return self._items.get(sid) if sid else None

    def put(self, sid: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._items[sid] = value

    def pop(self, sid: str | None) -> dict[str, Any] | None:
        with self._lock:
            return self._items.pop(sid, None) if sid else None


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    settings = {**settings_from_env(), **(overrides or {})}
    if not settings["client_id"] or not settings["client_secret"]:
        raise SystemExit("RP_CLIENT_ID and RP_CLIENT_SECRET are required (idp clients create)")

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings["secret_key"],
        # Cookies ignore ports: idp on 127.0.0.1:5000 must not see or clobber this one.
        SESSION_COOKIE_NAME="notes_rp_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    oauth = OAuth(app)
    oauth.register(
        "idp",
        client_id=settings["client_id"],
        client_secret=settings["client_secret"],
        server_metadata_url=f"{settings['issuer']}/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"},
    )
    store = TokenStore()
    app.extensions["notes_rp.tokens"] = store

    def csrf_token() -> str:
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(32)
        return session["csrf"]

    def check_csrf() -> None:
        sent = request.form.get("csrf_token", "")
        if not hmac.compare_digest(sent.encode(), session.get("csrf", "").encode()) or not sent:
            abort(400, "missing or wrong CSRF token")

    def signed_in() -> dict[str, Any] | None:
        return store.get(session.get("sid"))

    def render(message: str = "", status: int = 200):
        entry = signed_in()
        expires_in = 0
        if entry:
            expires_in = max(0, int(entry["token"].get("expires_at", 0) - time.time()))
        claims = None
        if entry:
            claims = {
                name: ", ".join(map(str, value)) if isinstance(value, list) else value
                for name, value in entry["claims"].items()
            }
        html = render_template_string(
            PAGE,
            claims=claims,
            api=entry.get("api") if entry else None,
            expires_in=expires_in,
            csrf_token=csrf_token(),
            message=message or session.pop("message", ""),
            provider=settings["provider_name"],
        )
        return html, status, {"Cache-Control": "no-store"}

    @app.get("/")
    def home():
        return render()

    @app.get("/login")
    def login():
        return oauth.idp.authorize_redirect(url_for("callback", _external=True))

    @app.get("/callback")
    def callback():
        try:
            # Checks state, redeems the code with the PKCE verifier, validates the ID token.
            token = oauth.idp.authorize_access_token()
        except OAuthError as error:
            return render(f"Sign-in failed: {error.error}", 400)
        store.pop(session.get("sid"))
        session.clear()
        session["sid"] = secrets.token_urlsafe(32)
        store.put(session["sid"], {"token": token, "claims": dict(token["userinfo"])})
        return redirect(url_for("home"))

    @app.post("/call-api")
    def call_api():
        check_csrf()
        entry = signed_in()
        if entry is None:
            return redirect(url_for("home"))
        response = requests.get(
            f"{settings['api_url']}/notes",
            headers={"Authorization": f"Bearer {entry['token']['access_token']}"},
            timeout=10,
        )
        try:
            body = json.dumps(response.json(), indent=2)
        except ValueError:
            body = response.text
        if response.status_code != 200:
            body += "\nWWW-Authenticate: " + response.headers.get("WWW-Authenticate", "")
        entry["api"] = {"status": response.status_code, "body": body}
        return redirect(url_for("home"))

    @app.post("/refresh")
    def refresh():
        check_csrf()
        entry = signed_in()
        if entry is None:
            return redirect(url_for("home"))
        try:
            fresh = oauth.idp.fetch_access_token(
                grant_type="refresh_token", refresh_token=entry["token"]["refresh_token"]
            )
        except OAuthError as error:
            # invalid_grant: the session at idp ended or the token was revoked.
            store.pop(session.get("sid"))
            session.clear()
            return render(f"Could not refresh ({error.error}); please sign in again.", 401)
        # A refresh answer may omit the ID token: keep the one we have for the logout hint.
        entry["token"] = {**entry["token"], **fresh}
        entry.pop("api", None)
        session["message"] = "Tokens refreshed."
        return redirect(url_for("home"))

    @app.post("/logout")
    def logout():
        check_csrf()
        entry = store.pop(session.get("sid"))
        session.clear()
        if entry is None:
            return redirect(url_for("home"))
        # RP-initiated logout: idp ends its session (and the tokens issued in it), then
        # comes back to /signed-out with our state.
        return oauth.idp.logout_redirect(
            post_logout_redirect_uri=url_for("signed_out", _external=True),
            id_token_hint=entry["token"]["id_token"],
        )

    @app.get("/signed-out")
    def signed_out():
        try:
            oauth.idp.validate_logout_response()
        except OAuthError:
            return render("That sign-out answer was not for this browser.", 400)
        return render(f"You are signed out of Notes and of {settings['provider_name']}.")

    return app


if __name__ == "__main__":
    port = int(os.environ.get("RP_PORT", "8000"))
    create_app().run(host="127.0.0.1", port=port)
