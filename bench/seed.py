"""Seed a benchmark database: one user, two clients, a pool of unused refresh tokens.

Run with the same environment as the server under test (DATABASE_URL, REDIS_URL,
IDP_ISSUER, IDP_KEYS_DIR, ...) after `idp db upgrade`:

    python bench/seed.py --out DIR --refresh-tokens 30000

Writes into DIR:
    refresh_tokens.txt  one never-used refresh token per line, each its own family
    bench.env           shell-sourceable credentials and access tokens for the wrk scripts

Refresh tokens are inserted directly (as `stage_code_exchange` would store them: only the
SHA-256 of the value, a new family each), because minting 30k of them through the code
flow would cost 30k argon2 sign-ins and page round-trips for nothing the benchmark measures.
"""

from __future__ import annotations

import argparse
import base64
import shlex
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from idp import create_app
from idp.extensions import db
from idp.models import RefreshToken
from idp.models.base import utcnow
from idp.services import clients, tokens, users

USER_EMAIL = "bench-user@example.com"
REDIRECT_URI = "https://rp.bench.example/callback"
WEB_SCOPE = "openid profile email offline_access"
SERVICE_SCOPE = "orders:read orders:write"
INSERT_BATCH = 5000


def basic_credentials(client_id: str, secret: str) -> str:
    # token_urlsafe() ids and secrets need no form-encoding before base64 (RFC 6749 §2.3.1).
    return base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def refresh_token_rows(values: list[str], client_id: str, user_id: uuid.UUID) -> list[dict]:
    """Rows shaped like a fresh code exchange's refresh token: new family, not used."""
    config = current_app.config["IDP"]
    now = utcnow()
    return [
        {
            "token_hash": tokens.hash_token(value),
            "family_id": uuid.uuid4(),
            "client_id": client_id,
            "user_id": user_id,
            "session_id": None,
            "offline": True,
            "scope": WEB_SCOPE,
            "auth_time": int(now.timestamp()),
            "amr": ["pwd"],
            "issued_at": now,
            "expires_at": now + timedelta(seconds=config.refresh_token_idle_ttl),
            "family_expires_at": now + timedelta(seconds=config.refresh_token_absolute_ttl),
        }
        for value in values
    ]


def insert_refresh_tokens(count: int, client_id: str, user_id: uuid.UUID) -> list[str]:
    """Insert `count` unused refresh tokens in batches; return their plain values."""
    values = [tokens.new_refresh_token() for _ in range(count)]
    for start in range(0, count, INSERT_BATCH):
        batch = values[start : start + INSERT_BATCH]
        db.session.execute(sa.insert(RefreshToken), refresh_token_rows(batch, client_id, user_id))
    db.session.commit()
    return values


def token_response(test_client, data: dict, client_id: str, secret: str) -> dict:
    response = test_client.post("/token", data=data, auth=(client_id, secret))
    body = response.get_json(silent=True) or {}
    if response.status_code != 200 or "access_token" not in body:
        sys.exit(f"seed: {data['grant_type']} grant failed: {response.status_code} {body}")
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--refresh-tokens", type=int, default=30_000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    app = create_app()
    with app.app_context():
        # No password: nothing here signs in, so no argon2 work at seed time either.
        user = users.create_user(USER_EMAIL, None, name="Bench User", email_verified=True)
        web, web_secret = clients.create_client(
            "Bench web app",
            [REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            scope=WEB_SCOPE,
        )
        service, service_secret = clients.create_client(
            "Bench service", [], grant_types=["client_credentials"], scope=SERVICE_SCOPE
        )
        pool = insert_refresh_tokens(args.refresh_tokens, web.client_id, user.id)
        # One more family, spent right away below to get a user access token for /userinfo.
        (userinfo_refresh,) = insert_refresh_tokens(1, web.client_id, user.id)
        web_id, service_id = web.client_id, service.client_id

    # Through the app (not by hand) so the tokens are exactly what the server would issue.
    test_client = app.test_client()
    user_tokens = token_response(
        test_client,
        {"grant_type": "refresh_token", "refresh_token": userinfo_refresh},
        web_id,
        web_secret,
    )
    service_tokens = token_response(
        test_client, {"grant_type": "client_credentials"}, service_id, service_secret
    )
    if "id_token" not in user_tokens or "refresh_token" not in user_tokens:
        sys.exit("seed: the refresh grant did not rotate or issue an ID token")

    (args.out / "refresh_tokens.txt").write_text("\n".join(pool) + "\n")
    env = {
        "BENCH_WEB_BASIC": basic_credentials(web_id, web_secret),
        "BENCH_SERVICE_BASIC": basic_credentials(service_id, service_secret),
        "BENCH_SERVICE_ACCESS_TOKEN": service_tokens["access_token"],
        "BENCH_USER_ACCESS_TOKEN": user_tokens["access_token"],
    }
    (args.out / "bench.env").write_text(
        "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    )
    print(f"seed: user, 2 clients, {len(pool)} refresh tokens -> {args.out}")


if __name__ == "__main__":
    main()
