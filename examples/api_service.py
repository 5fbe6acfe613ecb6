"""A tiny notes API that trusts idp access tokens: the resource server of the example.

It never sees a password or a session: each request carries an access token, checked
locally by idp-verifier (`idp_verifier`, verifier/ in idp's repository; it needs no idp
server: signature from idp's JWKS, issuer, audience, lifetime, type) and then for the
`notes:read` scope. With a revocation check configured, a token idp revoked
(logout, `/revoke`, refresh-token reuse) is refused on the very next request.

    API_AUDIENCE=<client_id of the app> .venv/bin/python examples/api_service.py

Environment (see examples/README.md):
    API_ISSUER                 idp's issuer URL (default http://127.0.0.1:5000)
    API_AUDIENCE               the `aud` to accept: today idp puts the app's client_id there
    API_PORT                   default 8001
    API_REDIS_URL, API_REDIS_PREFIX
                               check idp's Redis blocklist (idp's REDIS_URL and IDP_REDIS_PREFIX)
    API_INTROSPECTION_CLIENT_ID, API_INTROSPECTION_CLIENT_SECRET, API_INTROSPECTION_CACHE_SECONDS
                               or ask idp's /introspect (credentials of a client the token names)
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from idp_verifier import Introspection, RedisBlocklist, Verifier
from idp_verifier.flask import current_token, require_token

NOTES = [
    {"id": 1, "title": "Analytical Engine", "body": "It weaves algebraic patterns."},
    {"id": 2, "title": "Note G", "body": "Bernoulli numbers, step by step."},
]


def settings_from_env() -> dict[str, Any]:
    env = os.environ.get
    return {
        "issuer": env("API_ISSUER", "http://127.0.0.1:5000"),
        "audience": env("API_AUDIENCE", ""),
        "redis_url": env("API_REDIS_URL", ""),
        "redis_prefix": env("API_REDIS_PREFIX", "idp:"),
        "introspection_client_id": env("API_INTROSPECTION_CLIENT_ID", ""),
        "introspection_client_secret": env("API_INTROSPECTION_CLIENT_SECRET", ""),
        "introspection_cache_seconds": float(env("API_INTROSPECTION_CACHE_SECONDS", "5")),
    }


def make_verifier(settings: dict[str, Any]) -> Verifier:
    """The verifier for these settings, with the revocation check they ask for (if any)."""
    if not settings["audience"]:
        raise SystemExit("API_AUDIENCE is required: the client_id whose tokens this API accepts")
    revocation = None
    if settings["redis_url"]:
        revocation = RedisBlocklist(settings["redis_url"], prefix=settings["redis_prefix"])
    elif settings["introspection_client_id"]:
        revocation = Introspection(
            settings["introspection_client_id"],
            settings["introspection_client_secret"],
            cache_seconds=settings["introspection_cache_seconds"],
        )
    return Verifier(
        settings["issuer"], audience=settings["audience"], revocation=revocation, realm="notes"
    )


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    settings = {**settings_from_env(), **(overrides or {})}
    verifier = make_verifier(settings)
    app = Flask(__name__)
    app.extensions["notes_api.verifier"] = verifier

    @app.get("/notes")
    @require_token(verifier, scopes=["notes:read"])
    def list_notes():
        token = current_token()
        return {
            "owner": token.sub,
            "client_id": token.client_id,
            "scope": sorted(token.scope),
            "roles": sorted(token.roles),
            "notes": NOTES,
        }

    @app.get("/admin/notes")
    @require_token(verifier, scopes=["notes:read"], roles=["admin"])
    def admin_notes():
        return {"notes": NOTES, "all_users": True}

    @app.get("/health")
    def health():
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    port = int(os.environ.get("API_PORT", "8001"))
    create_app().run(host="127.0.0.1", port=port)
