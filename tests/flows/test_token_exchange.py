"""RFC 8693 token exchange: a backend that authenticated a user itself gets idp tokens for
that user, only as far as its registration allows, and every attempt is audited."""

from __future__ import annotations

import secrets
import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from idp.extensions import db
from idp.models import AuditEvent, User
from idp.services import users
from idp.services.clients import ClientError

from ..conftest import REDIRECT_URI, TEST_ISSUER, USER_EMAIL, make_client
from ..helpers import verify_jwt
from .tokens import introspect, login_tokens

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
API = "https://api.example.org"


def _signed(key, claims):
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def _claims(client_id, exp_in=60, **claims):
    now = int(time.time())
    return {
        "iss": client_id,
        "aud": TEST_ISSUER,
        "iat": now,
        "exp": now + exp_in,
        "jti": secrets.token_urlsafe(12),
        **claims,
    }


class Backend:
    """A backend registered for private_key_jwt and token exchange, holding its private key."""

    def __init__(self, app, **allowance):
        self.key = RSAKey.generate_key(2048, parameters={"kid": "backend-1"}, private=True)
        registered = make_client(
            app,
            "Legacy login",
            [],
            grant_types=[EXCHANGE],
            scope="openid email orders:read orders:write",
            auth_method="private_key_jwt",
            jwks=KeySet([self.key]).as_dict(private=False),
            **{
                "exchange_audiences": [API],
                "exchange_scopes": ["openid", "email", "orders:read"],
                **allowance,
            },
        )
        self.client_id = registered.client_id

    def subject(self, **claims):
        """An assertion "I authenticated this user", signed with the registered key."""
        return _signed(self.key, _claims(self.client_id, **claims))

    def exchange(self, client, subject_token, subject_token_type=JWT_TYPE, **params):
        client_assertion = _signed(
            self.key, _claims(self.client_id, sub=self.client_id, aud=f"{TEST_ISSUER}/token")
        )
        return client.post(
            "/token",
            data={
                "grant_type": EXCHANGE,
                "subject_token": subject_token,
                "subject_token_type": subject_token_type,
                "client_id": self.client_id,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion,
                **params,
            },
        )


def _events(app, event_type):
    with app.app_context():
        return (
            db.session.execute(
                db.select(AuditEvent).filter_by(event_type=event_type).order_by(AuditEvent.id)
            )
            .scalars()
            .all()
        )


def test_backend_exchanges_its_assertion_for_an_access_token_of_the_user(app, client, user):
    backend = Backend(app)
    response = backend.exchange(
        client, backend.subject(sub=str(user.id)), audience=API, scope="orders:read"
    )
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "orders:read"
    assert "refresh_token" not in body and "id_token" not in body
    token = verify_jwt(body["access_token"], client.get("/jwks.json").get_json())
    assert token.header["typ"] == "at+jwt"
    assert token.claims["sub"] == str(user.id)
    assert token.claims["aud"] == API
    assert token.claims["client_id"] == backend.client_id
    assert token.claims["roles"] == ["user"]
    assert "act" not in token.claims

    (event,) = _events(app, "token_exchanged")
    assert event.user_id == user.id and event.client_id == backend.client_id
    assert event.details["audience"] == [API] and event.details["scope"] == "orders:read"
    assert body["access_token"] not in str(event.details)


def test_without_audience_or_scope_the_token_is_for_the_backend_with_its_whole_allowance(
    app, client, user
):
    backend = Backend(app)
    body = backend.exchange(client, backend.subject(email=USER_EMAIL.upper())).get_json()
    assert body["scope"] == "openid email orders:read"
    claims = verify_jwt(body["access_token"], client.get("/jwks.json").get_json()).claims
    assert claims["aud"] == backend.client_id and claims["sub"] == str(user.id)
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.get_json() == {"sub": str(user.id), "email": USER_EMAIL, "email_verified": True}


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"audience": "https://other.example.org"}, "invalid_target"),
        ({"resource": "https://other.example.org"}, "invalid_target"),
        ({"scope": "orders:read orders:write"}, "invalid_scope"),
        ({"scope": "profile"}, "invalid_scope"),
        (
            {"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
            "invalid_request",
        ),
        ({"actor_token": "x", "actor_token_type": ACCESS_TOKEN_TYPE}, "invalid_request"),
    ],
)
def test_exchange_is_refused_beyond_the_registered_allowance(app, client, user, params, error):
    backend = Backend(app)
    response = backend.exchange(client, backend.subject(sub=str(user.id)), **params)
    assert response.status_code == 400
    assert response.get_json()["error"] == error
    (event,) = _events(app, "token_exchange_refused")
    assert event.details["error"] == error and event.client_id == backend.client_id
    assert _events(app, "token_exchanged") == []


def test_exchange_refuses_subject_tokens_the_backend_cannot_vouch_for(app, client, user):
    backend = Backend(app)
    other = Backend(app)
    intruder = RSAKey.generate_key(2048, parameters={"kid": "backend-1"}, private=True)
    replayed = backend.subject(sub=str(user.id))
    assert backend.exchange(client, replayed).status_code == 200
    with app.app_context():
        unverified = users.create_user("eve@example.com", "long enough password")
    refusals = {
        "replayed jti": replayed,
        "another key": _signed(intruder, _claims(backend.client_id, sub=str(user.id))),
        "another issuer": other.subject(sub=str(user.id)),
        "another audience": backend.subject(sub=str(user.id), aud="https://elsewhere.example"),
        "expired": backend.subject(sub=str(user.id), exp_in=-120),
        "long-lived": backend.subject(sub=str(user.id), exp_in=3600),
        "unknown user": backend.subject(sub="00000000-0000-0000-0000-000000000000"),
        "unverified email": backend.subject(email=unverified.email),
        "nobody named": backend.subject(),
        "not a JWT": "not-a-jwt",
    }
    for reason, subject_token in refusals.items():
        response = backend.exchange(client, subject_token)
        assert response.status_code == 400, reason
        assert response.get_json()["error"] == "invalid_request", reason
    unsupported = backend.exchange(client, replayed, subject_token_type="urn:example:saml")
    assert unsupported.get_json()["error"] == "invalid_request"
    assert len(_events(app, "token_exchange_refused")) == len(refusals) + 1

    with app.app_context():
        db.session.get(User, user.id).disabled = True
        db.session.commit()
    disabled = backend.exchange(client, backend.subject(sub=str(user.id)))
    assert disabled.get_json()["error"] == "invalid_grant"
    assert _events(app, "token_exchange_refused")[-1].user_id == user.id


def test_only_clients_registered_for_the_exchange_may_use_it(
    app, client, confidential_client, public_client, user
):
    not_allowed = client.post(
        "/token",
        data={
            "grant_type": EXCHANGE,
            "subject_token": "x",
            "subject_token_type": ACCESS_TOKEN_TYPE,
        },
        auth=(confidential_client.client_id, confidential_client.plain_secret),
    )
    assert not_allowed.get_json()["error"] == "unauthorized_client"
    public = client.post(
        "/token",
        data={
            "grant_type": EXCHANGE,
            "client_id": public_client.client_id,
            "subject_token": "x",
            "subject_token_type": ACCESS_TOKEN_TYPE,
        },
    )
    assert public.status_code == 401
    assert public.get_json()["error"] == "invalid_client"
    refused = _events(app, "token_exchange_refused")
    assert [e.details["error"] for e in refused] == ["unauthorized_client", "invalid_client"]
    assert refused[0].client_id == confidential_client.client_id and refused[1].client_id is None

    with pytest.raises(ClientError):
        make_client(app, "Spa", ["http://127.0.0.1:7000/cb"], public=True, grant_types=[EXCHANGE])
    with pytest.raises(ClientError):
        make_client(app, "Too wide", [], grant_types=[EXCHANGE], exchange_scopes=["admin"])


def test_a_backend_exchanges_a_users_access_token_for_another_audience(
    app, browser, client, confidential_client, user
):
    backend = make_client(
        app,
        "Gateway",
        [REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token", EXCHANGE],
        scope="openid email orders:read",
        exchange_audiences=[API],
    )

    def exchange(subject_token, **params):
        return client.post(
            "/token",
            data={
                "grant_type": EXCHANGE,
                "subject_token": subject_token,
                "subject_token_type": ACCESS_TOKEN_TYPE,
                **params,
            },
            auth=(backend.client_id, backend.plain_secret),
        )

    own = login_tokens(browser, client, backend, scope="openid email")
    response = exchange(own["access_token"], audience=API)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["scope"] == "openid email"  # never wider than the presented token
    claims = verify_jwt(body["access_token"], client.get("/jwks.json").get_json()).claims
    assert claims["sub"] == str(user.id) and claims["aud"] == API
    assert claims["act"] == {"sub": backend.client_id}
    assert introspect(client, backend, body["access_token"])["active"] is True

    assert exchange(own["access_token"], scope="orders:read").get_json()["error"] == "invalid_scope"
    foreign = login_tokens(browser, client, confidential_client)
    assert exchange(foreign["access_token"]).get_json()["error"] == "invalid_request"
    jwt_without_keys = exchange(own["access_token"], subject_token_type=JWT_TYPE)
    assert jwt_without_keys.get_json()["error"] == "invalid_request"
    assert len(_events(app, "token_exchange_refused")) == 3
