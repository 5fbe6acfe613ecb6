"""Rotating refresh tokens: rotation, reuse detection, the retry window, scope and clients."""

from __future__ import annotations

import threading

import requests
from joserfc import jwt

from idp import clock
from idp.extensions import db
from idp.models import AuditEvent, RefreshToken
from idp.services.tokens import hash_token

from ..conftest import REDIRECT_URI, make_client
from ..helpers import verify_jwt
from .tokens import introspect, login_tokens, refresh

DAY = 24 * 3600


def test_code_exchange_issues_a_refresh_token_only_to_clients_allowed_it(
    app, browser, client, confidential_client, user
):
    tokens = login_tokens(browser, client, confidential_client)
    assert len(tokens["refresh_token"]) >= 43
    no_refresh = make_client(app, "No refresh", [REDIRECT_URI], grant_types=["authorization_code"])
    assert "refresh_token" not in login_tokens(browser, client, no_refresh)


def test_refresh_token_is_stored_only_as_its_hash(app, browser, client, confidential_client, user):
    tokens = login_tokens(browser, client, confidential_client)
    with app.app_context():
        stored = db.session.execute(db.select(RefreshToken.token_hash)).scalars().all()
    assert stored == [hash_token(tokens["refresh_token"])]


def test_rotation_returns_new_refresh_access_and_id_tokens(
    browser, client, confidential_client, user
):
    first = login_tokens(browser, client, confidential_client)
    response = refresh(client, confidential_client, first["refresh_token"])
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    second = response.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    jwks = client.get("/jwks.json").get_json()
    old_id, new_id = (verify_jwt(t["id_token"], jwks).claims for t in (first, second))
    assert new_id["sub"] == old_id["sub"]
    assert new_id["auth_time"] == old_id["auth_time"]
    assert new_id["sid"] == old_id["sid"]
    assert "nonce" not in new_id
    assert refresh(client, confidential_client, second["refresh_token"]).status_code == 200


def test_reuse_revokes_the_whole_family_and_its_access_tokens(
    app, browser, client, confidential_client, user
):
    first = login_tokens(browser, client, confidential_client)
    second = refresh(client, confidential_client, first["refresh_token"]).get_json()
    assert introspect(client, confidential_client, second["access_token"])["active"] is True

    reused = refresh(client, confidential_client, first["refresh_token"])
    assert reused.status_code == 400
    assert reused.get_json()["error"] == "invalid_grant"
    newest = refresh(client, confidential_client, second["refresh_token"])
    assert newest.get_json()["error"] == "invalid_grant"
    for token in (first["access_token"], second["access_token"], second["refresh_token"]):
        assert introspect(client, confidential_client, token) == {"active": False}
    userinfo = client.get(
        "/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert userinfo.status_code == 401

    with app.app_context():
        events = (
            db.session.execute(
                db.select(AuditEvent)
                .filter_by(event_type="refresh_token_reuse")
                .order_by(AuditEvent.id)
            )
            .scalars()
            .all()
        )
    assert len(events) == 2  # the reused token, then the revoked newest one
    assert events[0].client_id == confidential_client.client_id
    assert events[0].user_id == user.id
    assert events[0].ip == "127.0.0.1"
    assert events[0].user_agent.startswith("Werkzeug")


def test_scope_can_narrow_on_refresh_but_never_widen(browser, client, confidential_client, user):
    tokens = login_tokens(browser, client, confidential_client, scope="openid email")
    wider = refresh(client, confidential_client, tokens["refresh_token"], scope="openid profile")
    assert wider.get_json()["error"] == "invalid_scope"
    narrower = refresh(client, confidential_client, tokens["refresh_token"], scope="openid")
    assert narrower.status_code == 200
    assert narrower.get_json()["scope"] == "openid"
    claims = jwt.decode(narrower.get_json()["access_token"], _keys(client)).claims
    assert claims["scope"] == "openid"


def _keys(client):
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(client.get("/jwks.json").get_json())


def test_refresh_token_only_works_for_its_own_client(
    app, browser, client, confidential_client, user
):
    tokens = login_tokens(browser, client, confidential_client)
    other = make_client(app, "Other", [REDIRECT_URI])
    stolen = refresh(client, other, tokens["refresh_token"])
    assert stolen.get_json()["error"] == "invalid_grant"
    assert refresh(client, confidential_client, tokens["refresh_token"]).status_code == 200


def test_unknown_and_missing_refresh_tokens_are_invalid_grant_or_request(
    client, confidential_client
):
    assert refresh(client, confidential_client, "made-up").get_json()["error"] == "invalid_grant"
    missing = client.post(
        "/token",
        data={"grant_type": "refresh_token"},
        auth=(confidential_client.client_id, confidential_client.plain_secret),
    )
    assert missing.get_json()["error"] == "invalid_request"


def test_idle_lifetime_expires_and_rotation_extends_it(browser, client, confidential_client, user):
    tokens = login_tokens(browser, client, confidential_client)
    clock.advance(6 * DAY)
    rotated = refresh(client, confidential_client, tokens["refresh_token"]).get_json()
    clock.advance(6 * DAY)  # 12 days after login, 6 after the rotation
    rotated = refresh(client, confidential_client, rotated["refresh_token"]).get_json()
    assert "refresh_token" in rotated
    clock.advance(7 * DAY + 1)
    expired = refresh(client, confidential_client, rotated["refresh_token"])
    assert expired.get_json()["error"] == "invalid_grant"


def test_absolute_family_lifetime_ends_the_family(browser, client, confidential_client, user):
    tokens = login_tokens(browser, client, confidential_client)
    for _ in range(5):
        clock.advance(6 * DAY)
        response = refresh(client, confidential_client, tokens["refresh_token"])
        if response.status_code != 200:
            break
        tokens = response.get_json()
    assert response.get_json()["error"] == "invalid_grant"  # day 30 passed


def _refresh_concurrently(issuer, registered, refresh_token, count=6):
    results = []
    barrier = threading.Barrier(count)

    def worker():
        barrier.wait()
        response = requests.post(
            f"{issuer}/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(registered.client_id, registered.plain_secret),
            timeout=30,
        )
        results.append((response.status_code, response.json()))

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_refreshes_without_window_have_exactly_one_winner(live_server, user):
    app, issuer = live_server
    registered = make_client(app, "Racer", [REDIRECT_URI])
    browser_client = app.test_client()
    from ..helpers import Browser

    tokens = login_tokens(Browser(browser_client), browser_client, registered)
    results = _refresh_concurrently(issuer, registered, tokens["refresh_token"])
    winners = [body for status, body in results if status == 200]
    assert len(winners) == 1
    assert all(body["error"] == "invalid_grant" for status, body in results if status != 200)


def test_concurrent_refreshes_within_window_all_get_the_same_successor(live_server, user):
    app, issuer = live_server
    registered = make_client(app, "Tabs", [REDIRECT_URI], refresh_retry_window=10)
    browser_client = app.test_client()
    from ..helpers import Browser

    tokens = login_tokens(Browser(browser_client), browser_client, registered)
    results = _refresh_concurrently(issuer, registered, tokens["refresh_token"])
    assert {status for status, _ in results} == {200}
    assert len({body["refresh_token"] for _, body in results}) == 1
    assert len({body["access_token"] for _, body in results}) == 1
    successor = results[0][1]["refresh_token"]
    follow_up = requests.post(
        f"{issuer}/token",
        data={"grant_type": "refresh_token", "refresh_token": successor},
        auth=(registered.client_id, registered.plain_secret),
        timeout=10,
    )
    assert follow_up.status_code == 200


def test_retry_after_a_lost_response_gets_the_same_answer_within_the_window(
    app, browser, client, user
):
    registered = make_client(app, "Mobile", [REDIRECT_URI], refresh_retry_window=10)
    tokens = login_tokens(browser, client, registered)
    lost = refresh(client, registered, tokens["refresh_token"]).get_json()
    clock.advance(5)
    retried = refresh(client, registered, tokens["refresh_token"])
    assert retried.status_code == 200
    assert retried.get_json() == lost
    assert refresh(client, registered, lost["refresh_token"]).status_code == 200


def test_retry_with_other_parameters_or_after_the_window_is_reuse(app, browser, client, user):
    registered = make_client(app, "Mobile", [REDIRECT_URI], refresh_retry_window=10)
    tokens = login_tokens(browser, client, registered)
    successor = refresh(client, registered, tokens["refresh_token"]).get_json()
    clock.advance(11)
    late = refresh(client, registered, tokens["refresh_token"])
    assert late.get_json()["error"] == "invalid_grant"
    assert refresh(client, registered, successor["refresh_token"]).status_code == 400

    tokens = login_tokens(browser, client, registered)
    refresh(client, registered, tokens["refresh_token"])
    other_scope = refresh(client, registered, tokens["refresh_token"], scope="openid")
    assert other_scope.get_json()["error"] == "invalid_grant"


def test_global_retry_window_applies_to_clients_without_their_own(make_app, settings):
    app = make_app(refresh_retry_window=10)
    from ..conftest import USER_EMAIL, USER_PASSWORD, make_user
    from ..helpers import Browser

    make_user(app, USER_EMAIL, USER_PASSWORD)
    registered = make_client(app, "Default", [REDIRECT_URI])
    client = app.test_client()
    tokens = login_tokens(Browser(client), client, registered)
    first = refresh(client, registered, tokens["refresh_token"]).get_json()
    assert refresh(client, registered, tokens["refresh_token"]).get_json() == first
