"""Federation against a small OpenID Provider over HTTP (tests/flows/upstream_op.py): the
linking rule in a shared browser, each check of the upstream ID token (OIDC Core §3.1.3.7),
claims served only at UserInfo (§5.4), and what a user sees when the upstream is refused."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from urllib.parse import parse_qs, urljoin, urlsplit

import pyotp
import pytest
import requests

from idp import clock
from idp.config import provider
from idp.extensions import db
from idp.models import AuditEvent, FederatedIdentity
from idp.services import mfa, users
from idp.services.signin_flow import PENDING_LINK_SECONDS

from ..conftest import REDIRECT_URI, USER_PASSWORD, make_client, make_user
from .federation_helpers import Browser, redeem, start
from .upstream_op import CLIENT_ID, CLIENT_SECRET, UpstreamOP

FED_EMAIL = "fed@example.com"
CAROL_EMAIL = "carol@example.com"
CAROL_PASSWORD = "carol's own long passphrase"
REFUSED = "Signing in with Corp SSO did not work; try again or use another way."


@pytest.fixture
def corp(make_app, serve):
    """idp with the test OP registered as the generic OIDC provider 'corp'."""
    op = UpstreamOP()
    _, op_issuer = serve(op.app)
    configured = (
        provider(
            "corp", "oidc", CLIENT_ID, CLIENT_SECRET, issuer=op_issuer, display_name="Corp SSO"
        ),
    )
    app, issuer = serve(lambda issuer: make_app(issuer=issuer, providers=configured))
    rp = make_client(app, "Notes", [REDIRECT_URI], first_party=True)
    return SimpleNamespace(op=op, app=app, issuer=issuer, rp=rp)


def sign_in_upstream(corp, browser=None):
    """An app login through 'Sign in with Corp SSO'; (authorization request, outcome)."""
    request_, url = start(corp.issuer, corp.rp)
    outcome = (browser or Browser()).run(url, REDIRECT_URI, choose="Sign in with Corp SSO")
    return request_, outcome


def password_sign_in(browser, issuer, email, password, page=None):
    """Sign in on the page shown (the link page) or on a freshly opened /login."""
    page = browser.get(f"{issuer}/login") if page is None else page
    return browser.post_form(page.url, page.text, "/login", {"email": email, "password": password})


def identities(app):
    with app.app_context():
        return [
            (i.user_id, i.subject)
            for i in db.session.execute(db.select(FederatedIdentity)).scalars()
        ]


def audited(app, event_type):
    with app.app_context():
        rows = db.session.execute(db.select(AuditEvent).filter_by(event_type=event_type))
        return [row.details for row in rows.scalars()]


# --- sign-in and the linking rule -------------------------------------------------------


def test_a_new_upstream_user_gets_a_local_account_and_keeps_it(corp):
    request_, callback = sign_in_upstream(corp)
    claims = redeem(corp.issuer, corp.rp, request_, callback)
    assert claims["email"] == FED_EMAIL and claims["email_verified"] is True
    assert claims["amr"] == ["fed"] and claims["idp"] == "corp"

    request_, callback = sign_in_upstream(corp)
    assert redeem(corp.issuer, corp.rp, request_, callback)["sub"] == claims["sub"]
    assert len(identities(corp.app)) == 1


def test_an_unverified_upstream_email_is_not_trusted(corp):
    corp.op.account["email_verified"] = False
    request_, callback = sign_in_upstream(corp)
    assert redeem(corp.issuer, corp.rp, request_, callback)["email_verified"] is False


def test_an_unverified_upstream_email_never_reaches_an_existing_account(corp):
    """No link page either: its owner could be tricked into linking a stranger (kiosk)."""
    make_user(corp.app, FED_EMAIL, USER_PASSWORD)
    corp.op.account["email_verified"] = False
    browser = Browser()
    _, page = sign_in_upstream(corp, browser)
    assert page.status_code == 400 and REFUSED in page.text
    assert "has not verified your email address" in page.text
    assert "already exists" not in page.text
    password_sign_in(browser, corp.issuer, FED_EMAIL, USER_PASSWORD)
    assert identities(corp.app) == []
    assert audited(corp.app, "federation_failed")


def test_an_email_collision_links_once_the_owner_signs_in_on_the_link_page(corp):
    local = make_user(corp.app, FED_EMAIL, USER_PASSWORD)
    browser = Browser()
    _, page = sign_in_upstream(corp, browser)
    assert "already exists here" in page.text
    assert "not signed in" in browser.get(f"{corp.issuer}/").text

    answer = password_sign_in(browser, corp.issuer, FED_EMAIL, USER_PASSWORD, page=page)
    assert answer.status_code == 303
    assert identities(corp.app) == [(local.id, "corp-user-1")]

    request_, callback = sign_in_upstream(corp)  # another browser: upstream alone now works
    assert redeem(corp.issuer, corp.rp, request_, callback)["sub"] == str(local.id)


def test_walking_away_from_a_pending_link_hands_nothing_to_the_next_user(corp):
    """A shared computer: the upstream user leaves the link page; carol signs in next."""
    make_user(corp.app, FED_EMAIL, USER_PASSWORD)
    carol = make_user(corp.app, CAROL_EMAIL, CAROL_PASSWORD)
    browser = Browser()
    _, page = sign_in_upstream(corp, browser)
    assert "already exists here" in page.text

    answer = password_sign_in(browser, corp.issuer, CAROL_EMAIL, CAROL_PASSWORD)
    assert answer.status_code == 303
    assert identities(corp.app) == []
    account = browser.session.get(f"{corp.issuer}/account", timeout=20).text
    assert "Unlink" not in account

    _, outcome = sign_in_upstream(corp)  # the upstream login alone is not carol
    assert isinstance(outcome, requests.Response) and "already exists here" in outcome.text
    assert str(carol.id) not in outcome.text


def test_another_account_signing_in_on_the_link_page_itself_links_nothing(corp):
    make_user(corp.app, FED_EMAIL, USER_PASSWORD)
    make_user(corp.app, CAROL_EMAIL, CAROL_PASSWORD)
    browser = Browser()
    _, page = sign_in_upstream(corp, browser)
    answer = password_sign_in(browser, corp.issuer, CAROL_EMAIL, CAROL_PASSWORD, page=page)
    assert answer.status_code == 303
    assert identities(corp.app) == []


def test_a_pending_link_is_dropped_by_any_other_sign_in_even_if_the_owner_comes_back(corp):
    make_user(corp.app, FED_EMAIL, USER_PASSWORD)
    make_user(corp.app, CAROL_EMAIL, CAROL_PASSWORD)
    browser = Browser()
    _, page = sign_in_upstream(corp, browser)
    password_sign_in(browser, corp.issuer, CAROL_EMAIL, CAROL_PASSWORD)
    answer = password_sign_in(browser, corp.issuer, FED_EMAIL, USER_PASSWORD, page=page)
    assert answer.status_code == 303
    assert identities(corp.app) == []


def test_signing_out_drops_a_pending_link(corp):
    make_user(corp.app, FED_EMAIL, USER_PASSWORD)
    make_user(corp.app, CAROL_EMAIL, CAROL_PASSWORD)
    browser = Browser()
    password_sign_in(browser, corp.issuer, CAROL_EMAIL, CAROL_PASSWORD)
    # carol is signed in; someone presses "Sign in with Corp SSO" on the login page
    page = browser.run(f"{corp.issuer}/login/with/corp", REDIRECT_URI)
    assert "already exists here" in page.text
    home = browser.get(f"{corp.issuer}/")
    browser.post_form(home.url, home.text, "/logout", {})

    answer = password_sign_in(browser, corp.issuer, FED_EMAIL, USER_PASSWORD, page=page)
    assert answer.status_code == 303
    assert identities(corp.app) == []


def test_a_pending_link_times_out(corp):
    make_user(corp.app, FED_EMAIL, USER_PASSWORD)
    browser = Browser()
    _, page = sign_in_upstream(corp, browser)
    clock.advance(PENDING_LINK_SECONDS + 1)
    answer = password_sign_in(browser, corp.issuer, FED_EMAIL, USER_PASSWORD, page=page)
    assert answer.status_code == 303
    assert identities(corp.app) == []


def test_a_mistyped_password_on_the_link_page_keeps_the_link_pending(corp):
    local = make_user(corp.app, FED_EMAIL, USER_PASSWORD)
    browser = Browser()
    _, page = sign_in_upstream(corp, browser)
    wrong = password_sign_in(browser, corp.issuer, FED_EMAIL, "not the password", page=page)
    assert wrong.status_code == 401 and "Sign in to link your Corp SSO account" in wrong.text
    answer = password_sign_in(browser, corp.issuer, FED_EMAIL, USER_PASSWORD, page=wrong)
    assert answer.status_code == 303
    assert identities(corp.app) == [(local.id, "corp-user-1")]


def test_an_owner_with_two_step_verification_links_after_giving_the_code(corp):
    local = make_user(corp.app, FED_EMAIL, USER_PASSWORD)
    secret = pyotp.random_base32()
    with corp.app.app_context():
        mfa.enable(users.find_by_email(FED_EMAIL), secret)
    browser = Browser()
    _, page = sign_in_upstream(corp, browser)
    answer = password_sign_in(browser, corp.issuer, FED_EMAIL, USER_PASSWORD, page=page)
    assert identities(corp.app) == []  # not before the second step
    code_page = browser.get(urljoin(corp.issuer, answer.headers["Location"]))
    done = browser.post_form(
        code_page.url, code_page.text, "/login/mfa", {"code": pyotp.TOTP(secret).now()}
    )
    assert done.status_code == 303
    assert identities(corp.app) == [(local.id, "corp-user-1")]


def start_linking_from_the_account_page(browser, issuer):
    """Press "Link Corp SSO" on /account; return where the upstream sends the browser."""
    account = browser.session.get(f"{issuer}/account", timeout=20)
    started = browser.post_form(
        account.url, account.text, "/account/identities/link", {"provider": "corp"}
    )
    assert started.status_code in (302, 303), started.text
    return started.headers["Location"]


def test_a_signed_in_user_links_a_provider_from_the_account_page(corp):
    carol = make_user(corp.app, CAROL_EMAIL, CAROL_PASSWORD)
    browser = Browser()
    password_sign_in(browser, corp.issuer, CAROL_EMAIL, CAROL_PASSWORD)
    upstream_url = start_linking_from_the_account_page(browser, corp.issuer)
    assert browser.run(upstream_url, f"{corp.issuer}/account").endswith("linked=corp")
    assert identities(corp.app) == [(carol.id, "corp-user-1")]


def test_a_link_started_from_the_account_page_does_not_reach_the_next_user(corp):
    make_user(corp.app, CAROL_EMAIL, CAROL_PASSWORD)
    dave = make_user(corp.app, "dave@example.com", "dave's own long passphrase")
    browser = Browser()
    password_sign_in(browser, corp.issuer, CAROL_EMAIL, CAROL_PASSWORD)
    upstream_url = start_linking_from_the_account_page(browser, corp.issuer)
    home = browser.get(f"{corp.issuer}/")
    browser.post_form(home.url, home.text, "/logout", {})
    password_sign_in(browser, corp.issuer, "dave@example.com", "dave's own long passphrase")
    browser.run(upstream_url, REDIRECT_URI)
    assert dave.id not in [user_id for user_id, _ in identities(corp.app)]


def test_upstream_denial_reaches_the_relying_party_as_access_denied(corp):
    corp.op.deny = True
    _, callback = sign_in_upstream(corp)
    assert parse_qs(urlsplit(callback).query)["error"] == ["access_denied"]


# --- claims at UserInfo ---------------------------------------------------------------


def test_claims_served_only_at_userinfo_are_fetched_from_it(corp):
    corp.op.claims_only_at_userinfo = True
    request_, callback = sign_in_upstream(corp)
    claims = redeem(corp.issuer, corp.rp, request_, callback)
    assert claims["email"] == FED_EMAIL and claims["email_verified"] is True
    assert claims["name"] == "Fed Erated"
    assert corp.op.userinfo_calls == 1


def test_userinfo_is_not_called_when_the_id_token_has_the_claims(corp):
    request_, callback = sign_in_upstream(corp)
    assert redeem(corp.issuer, corp.rp, request_, callback)["email"] == FED_EMAIL
    assert corp.op.userinfo_calls == 0


def test_userinfo_about_another_subject_is_refused(corp):
    corp.op.claims_only_at_userinfo = True
    corp.op.userinfo_changes = {"sub": "someone-else"}
    _, page = sign_in_upstream(corp)
    assert page.status_code == 400 and REFUSED in page.text
    assert identities(corp.app) == []
    assert audited(corp.app, "federation_failed")


# --- the upstream ID token (OIDC Core §3.1.3.7) -------------------------------------------

NOW = int(time.time())
TAMPERED = {
    "iss-wrong": ({"iss": "https://evil.example.com"}, "good"),
    "iss-missing": ({"iss": None}, "good"),
    "aud-another-client": ({"aud": "another-client", "azp": None}, "good"),
    "aud-another-client-azp-ours": ({"aud": "another-client", "azp": CLIENT_ID}, "good"),
    "aud-missing": ({"aud": None}, "good"),
    "aud-several-without-azp": ({"aud": [CLIENT_ID, "another-client"], "azp": None}, "good"),
    "aud-several-azp-not-ours": (
        {"aud": [CLIENT_ID, "another-client"], "azp": "another-client"},
        "good",
    ),
    "azp-not-ours": ({"azp": "another-client"}, "good"),
    "at-hash-wrong": ({"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}, "good"),
    "exp-past": ({"exp": NOW - 3600, "iat": NOW - 4000}, "good"),
    "exp-missing": ({"exp": None}, "good"),
    "iat-future": ({"iat": NOW + 3600, "exp": NOW + 4000}, "good"),
    "iat-long-ago": ({"iat": NOW - 86400, "exp": NOW + 3600}, "good"),
    "iat-missing": ({"iat": None}, "good"),
    "nonce-wrong": ({"nonce": "not-the-nonce"}, "good"),
    "nonce-missing": ({"nonce": None}, "good"),
    "sub-missing": ({"sub": None}, "good"),
    "bad-signature": ({}, "bad_signature"),
    "alg-none": ({}, "none"),
    "unknown-key": ({}, "unknown_key"),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_a_tampered_upstream_id_token_ends_on_the_clear_page(corp, case, caplog):
    corp.op.id_token_changes, corp.op.signing = TAMPERED[case]
    with caplog.at_level(logging.INFO, logger="idp.security"):
        _, page = sign_in_upstream(corp)
    assert isinstance(page, requests.Response), page  # no code reached the app
    assert page.status_code == 400
    assert REFUSED in page.text
    assert identities(corp.app) == []
    failures = audited(corp.app, "federation_failed")
    assert len(failures) == 1 and failures[0]["provider"] == "corp" and failures[0]["reason"]
    refused = [r for r in caplog.records if r.getMessage() == "upstream sign-in refused"]
    assert refused and refused[0].reason == failures[0]["reason"]


@pytest.mark.parametrize(
    "answer",
    [
        {"metadata_changes": {"issuer": "https://login.example.com"}},
        {"metadata_changes": {"jwks_uri": None}},
        # the metadata may list `none`: idp's algorithms are its own (RFC 8725 §3.1)
        {
            "metadata_changes": {"id_token_signing_alg_values_supported": ["none"]},
            "signing": "none",
        },
        {"jwks": {"keys": "not a list"}},
        {"jwks": {"keys": [{"kty": "RSA"}]}},
        {"token_response_changes": {"id_token": None}},
        {"token_response_changes": {"id_token": "not.a.jwt"}},
        {"claims_only_at_userinfo": True, "userinfo_body": ["not", "an", "object"]},
    ],
    ids=[
        "metadata-issuer-not-the-configured-one",
        "metadata-without-jwks-uri",
        "metadata-offers-alg-none",
        "jwks-wrong-shape",
        "jwks-key-without-members",
        "no-id-token",
        "id-token-garbage",
        "userinfo-not-an-object",
    ],
)
def test_an_unusable_upstream_answer_ends_on_the_clear_page(corp, answer):
    for name, value in answer.items():
        setattr(corp.op, name, value)
    _, page = sign_in_upstream(corp)
    assert page.status_code == 400 and REFUSED in page.text
    assert len(audited(corp.app, "federation_failed")) == 1


def test_an_id_token_without_azp_or_at_hash_is_accepted(corp):
    corp.op.id_token_changes = {"azp": None, "at_hash": None}
    request_, callback = sign_in_upstream(corp)
    assert redeem(corp.issuer, corp.rp, request_, callback)["email"] == FED_EMAIL


def test_several_audiences_with_our_azp_are_accepted(corp):
    corp.op.id_token_changes = {"aud": [CLIENT_ID, "another-client"], "azp": CLIENT_ID}
    request_, callback = sign_in_upstream(corp)
    assert redeem(corp.issuer, corp.rp, request_, callback)["email"] == FED_EMAIL


def test_the_google_kind_accepts_googles_id_token_shape(make_app, serve):
    """Google's documented ID token: aud and azp our client id, at_hash, email claims."""
    op = UpstreamOP()
    _, op_issuer = serve(op.app)
    google = (provider("google", "google", CLIENT_ID, CLIENT_SECRET, issuer=op_issuer),)
    app, issuer = serve(lambda issuer: make_app(issuer=issuer, providers=google))
    rp = make_client(app, "Notes", [REDIRECT_URI], first_party=True)
    request_, url = start(issuer, rp)
    callback = Browser().run(url, REDIRECT_URI, choose="Sign in with Google")
    claims = redeem(issuer, rp, request_, callback)
    assert claims["idp"] == "google" and claims["email"] == FED_EMAIL
