"""Every way of revoking "everything for X" stops the access tokens it covers.

Resource servers see revocations through the blocklist (idp.verifier reads it), not through
refresh-token rows, so each path must blocklist the access tokens of what it revokes: those
issued by the code exchange (a client without refresh tokens has nothing else) and those
issued by refreshes. Another user's tokens at another app stay active.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from joserfc import jws

from idp.extensions import db
from idp.models import RevokedAccessToken

from ..conftest import REDIRECT_URI, USER_EMAIL, USER_PASSWORD, make_client, make_user
from ..helpers import AuthorizationRequest, Browser, query
from .tokens import refresh, revoke

OTHER_EMAIL = "grace@example.com"
OTHER_PASSWORD = "another long passphrase"
OTHER_REDIRECT = "https://calendar.example.org/cb"


@dataclass
class Signed:
    """A browser signed in at an app, and every access token it was given."""

    browser: Browser
    registered: object
    redirect_uri: str
    tokens: dict = field(default_factory=dict)
    access_tokens: list[str] = field(default_factory=list)
    code: str = ""
    verifier: str = ""


def _exchange(client, signed: Signed):
    return client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": signed.code,
            "redirect_uri": signed.redirect_uri,
            "code_verifier": signed.verifier,
        },
        auth=(signed.registered.client_id, signed.registered.plain_secret),
    )


def _sign_in(app, client, registered, redirect_uri, email, password) -> Signed:
    browser = Browser(app.test_client())
    request = AuthorizationRequest(registered.client_id, redirect_uri, scope="openid email")
    answer = query(browser.authorize(request, email, password).headers["Location"])
    signed = Signed(browser, registered, redirect_uri, code=answer["code"])
    signed.verifier = request.verifier
    response = _exchange(client, signed)
    assert response.status_code == 200, response.get_json()
    signed.tokens = response.get_json()
    signed.access_tokens.append(signed.tokens["access_token"])
    if "refresh_token" in signed.tokens:
        refreshed = refresh(client, registered, signed.tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.get_json()
        signed.tokens["first_refresh_token"] = signed.tokens["refresh_token"]
        signed.tokens.update(refreshed.get_json())
        signed.access_tokens.append(signed.tokens["access_token"])
    return signed


def _jti(access_token: str) -> str:
    return json.loads(jws.extract_compact(access_token.encode()).payload)["jti"]


def _blocklisted(app) -> set[str]:
    with app.app_context():
        return set(db.session.execute(db.select(RevokedAccessToken.jti)).scalars())


def _userinfo(client, access_token: str) -> int:
    return client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


@pytest.fixture
def admin(app, client):
    ops = make_client(app, "Ops", [], grant_types=["client_credentials"], scope="idp:admin")
    token = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "idp:admin"},
        auth=(ops.client_id, ops.plain_secret),
    ).get_json()["access_token"]

    def call(method, path, **kwargs):
        response = getattr(client, method)(
            f"/admin/api{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs
        )
        assert response.status_code < 300, response.get_data(as_text=True)
        return response

    return call


def _consent_revoked(app, client, admin, signed):
    account = signed.browser.get("/account")
    signed.browser.submit(
        account, "/account/apps/revoke", {"client_id": signed.registered.client_id}
    )


def _session_ended(app, client, admin, signed):
    account = signed.browser.get("/account")
    signed.browser.submit(account, "/account/sessions/end-all", {})


def _sessions_ended_by_admin(app, client, admin, signed):
    admin("delete", f"/users/{_user_id(app)}/sessions")


def _user_disabled(app, client, admin, signed):
    admin("post", f"/users/{_user_id(app)}/disable")


def _password_reset_forced(app, client, admin, signed):
    admin("post", f"/users/{_user_id(app)}/password-reset")


def _user_deleted(app, client, admin, signed):
    admin("delete", f"/users/{_user_id(app)}")


def _client_deleted(app, client, admin, signed):
    admin("delete", f"/clients/{signed.registered.client_id}")


def _code_replayed(app, client, admin, signed):
    assert _exchange(client, signed).status_code == 400


def _refresh_token_reused(app, client, admin, signed):
    assert (
        refresh(client, signed.registered, signed.tokens["first_refresh_token"]).status_code == 400
    )


def _refresh_token_revoked(app, client, admin, signed):
    response = revoke(client, signed.registered, signed.tokens["refresh_token"])
    assert response.status_code == 200


def _user_id(app) -> str:
    from idp.services import users

    with app.app_context():
        return str(users.find_by_email(USER_EMAIL).id)


PATHS = {
    "consent revoked": _consent_revoked,
    "session ended": _session_ended,
    "sessions ended by an admin": _sessions_ended_by_admin,
    "user disabled": _user_disabled,
    "password reset forced": _password_reset_forced,
    "user deleted": _user_deleted,
    "client deleted": _client_deleted,
    "code replayed": _code_replayed,
}
REFRESH_PATHS = {
    "refresh token reused": _refresh_token_reused,
    "refresh token revoked": _refresh_token_revoked,
}
CASES = [
    *[pytest.param(path, False, id=f"{name}, no refresh tokens") for name, path in PATHS.items()],
    *[pytest.param(path, True, id=f"{name}, refreshed") for name, path in PATHS.items()],
    *[pytest.param(path, True, id=name) for name, path in REFRESH_PATHS.items()],
]


@pytest.mark.parametrize(("path", "with_refresh"), CASES)
def test_every_revocation_path_blocklists_the_access_tokens_it_revokes(
    app, client, user, admin, path, with_refresh
):
    grant_types = (
        ["authorization_code", "refresh_token"] if with_refresh else ["authorization_code"]
    )
    notes = make_client(app, "Notes", [REDIRECT_URI], scope="openid email", grant_types=grant_types)
    calendar = make_client(app, "Calendar", [OTHER_REDIRECT], scope="openid email")
    make_user(app, OTHER_EMAIL, OTHER_PASSWORD)
    signed = _sign_in(app, client, notes, REDIRECT_URI, USER_EMAIL, USER_PASSWORD)
    bystander = _sign_in(app, client, calendar, OTHER_REDIRECT, OTHER_EMAIL, OTHER_PASSWORD)
    assert len(signed.access_tokens) == (2 if with_refresh else 1)

    path(app, client, admin, signed)

    blocklisted = _blocklisted(app)
    for access_token in signed.access_tokens:
        assert _jti(access_token) in blocklisted
        assert _userinfo(client, access_token) == 401
    for access_token in bystander.access_tokens:
        assert _jti(access_token) not in blocklisted
        assert _userinfo(client, access_token) == 200
