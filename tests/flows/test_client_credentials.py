"""Service-to-service tokens and RFC 7523 private_key_jwt client authentication."""

from __future__ import annotations

import secrets
import time

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from ..conftest import TEST_ISSUER, make_client
from ..helpers import verify_jwt

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def test_client_credentials_token_names_the_client_as_subject(app, client):
    service = make_client(
        app, "Billing", [], grant_types=["client_credentials"], scope="orders:read orders:write"
    )
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "orders:read"},
        auth=(service.client_id, service.plain_secret),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert "refresh_token" not in body and "id_token" not in body
    claims = verify_jwt(body["access_token"], client.get("/jwks.json").get_json()).claims
    assert claims["sub"] == claims["client_id"] == service.client_id
    assert claims["scope"] == "orders:read"
    everything = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(service.client_id, service.plain_secret),
    )
    assert everything.get_json()["scope"] == "orders:read orders:write"


def test_client_credentials_refuses_scopes_the_client_lacks(app, client):
    service = make_client(
        app, "Billing", [], grant_types=["client_credentials"], scope="orders:read"
    )
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "orders:read admin"},
        auth=(service.client_id, service.plain_secret),
    )
    assert response.get_json()["error"] == "invalid_scope"


def test_client_credentials_is_for_registered_confidential_clients_only(
    client, confidential_client, public_client
):
    not_allowed = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(confidential_client.client_id, confidential_client.plain_secret),
    )
    assert not_allowed.get_json()["error"] == "unauthorized_client"
    public = client.post(
        "/token", data={"grant_type": "client_credentials", "client_id": public_client.client_id}
    )
    assert public.status_code == 401
    assert public.get_json()["error"] == "invalid_client"


def _assertion(key, client_id, jti=None, audience=f"{TEST_ISSUER}/token", exp_in=60):
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + exp_in,
        "jti": jti or secrets.token_urlsafe(12),
    }
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def _private_key_client(app, key):
    jwks = KeySet([key]).as_dict(private=False)
    return make_client(
        app,
        "Signer",
        [],
        grant_types=["client_credentials"],
        scope="reports",
        auth_method="private_key_jwt",
        jwks=jwks,
    )


def _token_with(client, registered, assertion):
    return client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": registered.client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


def test_private_key_jwt_authenticates_with_the_registered_key(app, client):
    key = RSAKey.generate_key(2048, parameters={"kid": "signer-1"}, private=True)
    registered = _private_key_client(app, key)
    assert registered.plain_secret is None
    response = _token_with(client, registered, _assertion(key, registered.client_id))
    assert response.status_code == 200, response.get_json()
    issuer_audience = _token_with(
        client, registered, _assertion(key, registered.client_id, audience=TEST_ISSUER)
    )
    assert issuer_audience.status_code == 200


def test_private_key_jwt_refuses_a_wrong_key_a_replayed_jti_and_a_wrong_audience(app, client):
    key = RSAKey.generate_key(2048, parameters={"kid": "signer-1"}, private=True)
    intruder = RSAKey.generate_key(2048, parameters={"kid": "signer-1"}, private=True)
    registered = _private_key_client(app, key)

    wrong_key = _token_with(client, registered, _assertion(intruder, registered.client_id))
    assert wrong_key.get_json()["error"] == "invalid_client"

    assertion = _assertion(key, registered.client_id, jti="once")
    assert _token_with(client, registered, assertion).status_code == 200
    replayed = _token_with(client, registered, assertion)
    assert replayed.get_json()["error"] == "invalid_client"

    elsewhere = _assertion(key, registered.client_id, audience="https://other.example/token")
    assert _token_with(client, registered, elsewhere).get_json()["error"] == "invalid_client"
    expired = _assertion(key, registered.client_id, exp_in=-120)
    assert _token_with(client, registered, expired).get_json()["error"] == "invalid_client"


def test_private_key_jwt_refuses_assertions_that_live_too_long(app, client):
    key = RSAKey.generate_key(2048, parameters={"kid": "signer-1"}, private=True)
    registered = _private_key_client(app, key)
    year = _assertion(key, registered.client_id, exp_in=365 * 24 * 3600)
    assert _token_with(client, registered, year).get_json()["error"] == "invalid_client"
    six_minutes = _assertion(key, registered.client_id, exp_in=360)
    assert _token_with(client, registered, six_minutes).get_json()["error"] == "invalid_client"
    five_minutes = _assertion(key, registered.client_id, exp_in=300)
    assert _token_with(client, registered, five_minutes).status_code == 200


def test_private_key_jwt_jti_is_remembered_until_the_assertion_expires(make_app):
    from idp import clock

    app = make_app(client_assertion_max_lifetime=3600)
    client = app.test_client()
    key = RSAKey.generate_key(2048, parameters={"kid": "signer-1"}, private=True)
    registered = _private_key_client(app, key)
    assertion = _assertion(key, registered.client_id, exp_in=1800)
    assert _token_with(client, registered, assertion).status_code == 200
    clock.advance(900)  # well past the old fixed 600-second memory
    replayed = _token_with(client, registered, assertion)
    assert replayed.get_json()["error"] == "invalid_client"
