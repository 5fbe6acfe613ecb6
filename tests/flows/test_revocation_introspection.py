"""RFC 7009 revocation and RFC 7662 introspection of every token kind and state."""

from __future__ import annotations

from idp import clock

from ..conftest import REDIRECT_URI, TEST_ISSUER, make_client
from ..helpers import verify_jwt
from .test_authorization_code_flow import exchange, sign_in_and_get_code
from .tokens import introspect, login_tokens, refresh, revoke


def test_active_access_token_introspects_with_its_claims(
    browser, client, confidential_client, user
):
    tokens = login_tokens(browser, client, confidential_client)
    answer = introspect(client, confidential_client, tokens["access_token"])
    claims = verify_jwt(tokens["access_token"], client.get("/jwks.json").get_json()).claims
    assert answer["active"] is True
    assert answer["scope"] == "openid profile email"
    assert answer["client_id"] == confidential_client.client_id
    assert answer["sub"] == str(user.id)
    assert answer["iss"] == TEST_ISSUER
    assert answer["token_type"] == "Bearer"
    assert answer["roles"] == ["user"]
    assert (answer["exp"], answer["iat"]) == (claims["exp"], claims["iat"])


def test_active_refresh_token_introspects_and_goes_inactive_once_used(
    browser, client, confidential_client, user
):
    tokens = login_tokens(browser, client, confidential_client)
    answer = introspect(
        client, confidential_client, tokens["refresh_token"], token_type_hint="refresh_token"
    )
    assert answer["active"] is True
    assert answer["token_type"] == "refresh_token"
    assert answer["sub"] == str(user.id)
    assert answer["roles"] == ["user"]
    refresh(client, confidential_client, tokens["refresh_token"])
    assert introspect(client, confidential_client, tokens["refresh_token"]) == {"active": False}


def test_expired_access_token_is_inactive(browser, client, confidential_client, user):
    tokens = login_tokens(browser, client, confidential_client)
    clock.advance(15 * 60 + 1)
    assert introspect(client, confidential_client, tokens["access_token"]) == {"active": False}


def test_foreign_and_unknown_tokens_are_inactive(app, browser, client, confidential_client, user):
    tokens = login_tokens(browser, client, confidential_client)
    other = make_client(app, "Other", [REDIRECT_URI])
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert introspect(client, other, token) == {"active": False}
    assert introspect(client, confidential_client, "garbage") == {"active": False}
    # An ID token is signed by idp but is not an access token.
    assert introspect(client, confidential_client, tokens["id_token"]) == {"active": False}


def test_introspection_needs_an_authenticated_confidential_client(
    client, public_client, confidential_client
):
    anonymous = client.post("/introspect", data={"token": "x"})
    assert anonymous.status_code == 401
    public = client.post("/introspect", data={"token": "x", "client_id": public_client.client_id})
    assert public.status_code == 401


def test_revoking_an_access_token_blocklists_it(browser, client, confidential_client, user):
    tokens = login_tokens(browser, client, confidential_client)
    response = revoke(
        client, confidential_client, tokens["access_token"], token_type_hint="access_token"
    )
    assert response.status_code == 200
    assert introspect(client, confidential_client, tokens["access_token"]) == {"active": False}
    userinfo = client.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401
    # The refresh token is a separate credential and still works.
    assert refresh(client, confidential_client, tokens["refresh_token"]).status_code == 200


def test_revoking_a_refresh_token_ends_its_family(browser, client, confidential_client, user):
    first = login_tokens(browser, client, confidential_client)
    second = refresh(client, confidential_client, first["refresh_token"]).get_json()
    assert revoke(client, confidential_client, second["refresh_token"]).status_code == 200
    assert refresh(client, confidential_client, second["refresh_token"]).status_code == 400
    assert introspect(client, confidential_client, second["access_token"]) == {"active": False}


def test_unknown_or_already_revoked_tokens_answer_200(browser, client, confidential_client, user):
    assert revoke(client, confidential_client, "never-issued").status_code == 200
    tokens = login_tokens(browser, client, confidential_client)
    assert revoke(client, confidential_client, tokens["refresh_token"]).status_code == 200
    assert revoke(client, confidential_client, tokens["refresh_token"]).status_code == 200


def test_a_client_cannot_revoke_another_clients_token(
    app, browser, client, confidential_client, user
):
    tokens = login_tokens(browser, client, confidential_client)
    other = make_client(app, "Other", [REDIRECT_URI])
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert revoke(client, other, token).status_code == 400
    assert introspect(client, confidential_client, tokens["access_token"])["active"] is True
    assert refresh(client, confidential_client, tokens["refresh_token"]).status_code == 200


def test_public_clients_can_revoke_their_own_refresh_tokens(app, browser, client, user):
    mobile = make_client(app, "Mobile", ["http://127.0.0.1:7000/cb"], public=True)
    from ..conftest import USER_EMAIL, USER_PASSWORD
    from ..helpers import AuthorizationRequest, query

    request = AuthorizationRequest(mobile.client_id, "http://127.0.0.1:7000/cb")
    answer = query(browser.authorize(request, USER_EMAIL, USER_PASSWORD).headers["Location"])
    tokens = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "client_id": mobile.client_id,
            "redirect_uri": "http://127.0.0.1:7000/cb",
            "code_verifier": request.verifier,
        },
    ).get_json()
    response = client.post(
        "/revoke", data={"token": tokens["refresh_token"], "client_id": mobile.client_id}
    )
    assert response.status_code == 200
    again = client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "client_id": mobile.client_id,
            "refresh_token": tokens["refresh_token"],
        },
    )
    assert again.get_json()["error"] == "invalid_grant"


def test_code_replay_revokes_the_tokens_of_the_first_exchange(
    browser, client, confidential_client, user
):
    request, answer = sign_in_and_get_code(browser, confidential_client, user)
    first = exchange(client, confidential_client, answer["code"], request.verifier).get_json()
    assert introspect(client, confidential_client, first["access_token"])["active"] is True
    replay = exchange(client, confidential_client, answer["code"], request.verifier)
    assert replay.get_json()["error"] == "invalid_grant"
    assert introspect(client, confidential_client, first["access_token"]) == {"active": False}
    assert refresh(client, confidential_client, first["refresh_token"]).status_code == 400


def test_revocation_checks_ask_the_database_when_redis_is_down(make_app, settings):
    """The database records revocations; Redis only caches them, so an unreachable Redis
    never turns a revoked token active, and a live one keeps working."""
    from ..conftest import USER_EMAIL, USER_PASSWORD, make_user
    from ..helpers import Browser

    app = make_app()
    make_user(app, USER_EMAIL, USER_PASSWORD)
    registered = make_client(app, "Notes", [REDIRECT_URI])
    client = app.test_client()
    revoked = login_tokens(Browser(client), client, registered)
    live = login_tokens(Browser(client), client, registered)
    assert revoke(client, registered, revoked["access_token"]).status_code == 200

    broken = make_app(redis_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    broken_client = broken.test_client()

    def check(token):
        answer = introspect(broken_client, registered, token)["active"]
        userinfo = broken_client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
        return answer, userinfo.status_code

    assert check(revoked["access_token"]) == (False, 401)
    assert check(live["access_token"]) == (True, 200)


def test_revocation_records_are_kept_until_the_token_expires_then_purged(
    app, browser, client, confidential_client, user
):
    from idp.extensions import db
    from idp.models import RevokedAccessToken
    from idp.services import housekeeping

    tokens = login_tokens(browser, client, confidential_client)
    assert revoke(client, confidential_client, tokens["access_token"]).status_code == 200

    def recorded():
        with app.app_context():
            return db.session.scalar(db.select(db.func.count()).select_from(RevokedAccessToken))

    assert recorded() == 1
    with app.app_context():
        assert housekeeping.purge()["revoked_access_tokens"] == 0
    assert introspect(client, confidential_client, tokens["access_token"]) == {"active": False}
    clock.advance(15 * 60 + 1)
    with app.app_context():
        assert housekeeping.purge()["revoked_access_tokens"] == 1
    assert recorded() == 0
