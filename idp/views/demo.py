"""The `make run` demo's relying party, served by idp itself outside production.

/demo starts an authorization-code flow for the demo client (`idp demo`) with PKCE, state
and nonce kept in this browser's signed state cookie; /demo/callback redeems the code at
/token, calls /userinfo and shows the ID-token claims and the userinfo answer. So the
first five minutes end on a working page instead of a port where nothing listens.

It talks to the endpoints the way an app would, through HTTP semantics, but in-process
(Flask's test client): the development server may run one thread, and a request to itself
would wait for ever.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from urllib.parse import urlencode

from flask import Blueprint, Flask, current_app, redirect, render_template, request, session

from ..services import clients

bp = Blueprint("demo", __name__, url_prefix="/demo")
DEMO_CLIENT_NAME = "Demo app"  # `idp demo` creates it (public, PKCE)
SESSION_KEY = "demo"


def callback_uri() -> str:
    """The redirect URI `idp demo` registers for the demo client."""
    return f"{current_app.config['IDP'].issuer}/demo/callback"


def _demo_client():
    return next((c for c in clients.list_clients() if c.client_name == DEMO_CLIENT_NAME), None)


def _page(status: int = 200, **values):
    body = render_template("demo/result.html", **values)
    return body, status, {"Cache-Control": "no-store"}


@bp.get("")
def start():
    client = _demo_client()
    if client is None or callback_uri() not in client.redirect_uris:
        return _page(404, problem="no_client")
    verifier = secrets.token_urlsafe(48)
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    session[SESSION_KEY] = {"state": state, "nonce": nonce, "verifier": verifier}
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": callback_uri(),
            "scope": "openid profile email",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
    )
    return redirect(f"/authorize?{query}", 303)


@bp.get("/callback")
def callback():
    started = session.pop(SESSION_KEY, None)
    if request.args.get("error"):
        return _page(400, problem="error", error=request.args.get("error"))
    code = request.args.get("code", "")
    if not started or not hmac.compare_digest(started["state"], request.args.get("state", "")):
        # A flow started elsewhere (the URL `idp demo` prints): its verifier is not here.
        return _page(200, problem="by_hand", code=code)
    client = _demo_client()
    tester = current_app.test_client()
    answer = tester.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": callback_uri(),
            "client_id": client.client_id if client else "",
            "code_verifier": started["verifier"],
        },
    )
    tokens = answer.get_json(silent=True) or {}
    if answer.status_code != 200 or "id_token" not in tokens:
        return _page(400, problem="token", error=tokens.get("error", str(answer.status_code)))
    claims = _unverified_claims(tokens["id_token"])
    userinfo = tester.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).get_json(silent=True)
    return _page(
        claims=claims,
        nonce_ok=claims.get("nonce") == started["nonce"],
        userinfo=userinfo,
        token_type=tokens.get("token_type"),
        expires_in=tokens.get("expires_in"),
    )


def _unverified_claims(id_token: str) -> dict:
    """The payload of an ID token this process just issued over its own token endpoint (an
    app must verify the signature: see idp.verifier and examples/rp_app.py)."""
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def init_app(app: Flask) -> None:
    """Serve the demo outside production only."""
    if not app.config["IDP"].production:
        app.register_blueprint(bp)
