"""Sign-in through upstream providers: another idp as a generic OIDC provider and as
"Google" (a locally served discovery document), and a local fake of GitHub's API."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask import Flask, jsonify, redirect, request
from flask_migrate import upgrade

from idp.config import provider

from ..conftest import REDIRECT_URI, USER_PASSWORD, make_client, make_user
from .federation_helpers import Browser, redeem, start

UPSTREAM_EMAIL = "fed@example.com"
UPSTREAM_PASSWORD = "upstream passphrase 42"


@pytest.fixture
def upstream(make_app, serve, tmp_path):
    """A second idp on its own SQLite database, with a user, acting as the upstream OP."""

    def build(issuer):
        app = make_app(
            issuer=issuer, database_url=f"sqlite:///{tmp_path / 'upstream.db'}", redis_url=""
        )
        with app.app_context():
            upgrade()
        return app

    app, issuer = serve(build)
    make_user(app, UPSTREAM_EMAIL, UPSTREAM_PASSWORD, name="Fed Erated")
    return app, issuer


def downstream(make_app, serve, providers_for):
    """idp under test, configured with the providers `providers_for(issuer)` returns."""
    return serve(lambda issuer: make_app(issuer=issuer, providers=providers_for(issuer)))


@pytest.fixture
def corp(upstream, make_app, serve):
    """Downstream idp with the upstream idp registered as the generic OIDC provider 'corp'."""
    up_app, up_issuer = upstream
    registered = {}

    def providers_for(issuer):
        registered["client"] = make_client(
            up_app, "Downstream idp", [f"{issuer}/login/with/corp/callback"]
        )
        client = registered["client"]
        return (
            provider(
                "corp",
                "oidc",
                client.client_id,
                client.plain_secret,
                issuer=up_issuer,
                display_name="Corp SSO",
            ),
        )

    app, issuer = downstream(make_app, serve, providers_for)
    rp = make_client(app, "Notes", [REDIRECT_URI], first_party=True)
    return app, issuer, rp


def test_login_page_shows_a_button_per_provider(corp):
    _, issuer, _ = corp
    html = requests.get(f"{issuer}/login", timeout=20).text
    assert "Sign in with Corp SSO" in html


def test_sign_in_through_an_oidc_upstream_creates_a_local_user(corp):
    app, issuer, rp = corp
    browser = Browser()
    request_, url = start(issuer, rp)
    callback = browser.run(
        url,
        REDIRECT_URI,
        credentials=[(UPSTREAM_EMAIL, UPSTREAM_PASSWORD)],
        choose="Sign in with Corp SSO",
    )
    claims = redeem(issuer, rp, request_, callback)
    assert claims["email"] == UPSTREAM_EMAIL and claims["email_verified"] is True
    assert claims["amr"] == ["fed"]
    assert claims["idp"] == "corp"

    again = Browser()
    request_, url = start(issuer, rp)
    callback = again.run(
        url,
        REDIRECT_URI,
        credentials=[(UPSTREAM_EMAIL, UPSTREAM_PASSWORD)],
        choose="Sign in with Corp SSO",
    )
    assert redeem(issuer, rp, request_, callback)["sub"] == claims["sub"]


def test_an_existing_account_with_that_email_is_linked_only_after_signing_in_to_it(corp):
    app, issuer, rp = corp
    local = make_user(app, UPSTREAM_EMAIL, USER_PASSWORD)
    browser = Browser()
    request_, url = start(issuer, rp)
    page = browser.run(
        url,
        REDIRECT_URI,
        credentials=[(UPSTREAM_EMAIL, UPSTREAM_PASSWORD)],
        choose="Sign in with Corp SSO",
    )
    assert isinstance(page, requests.Response)
    assert "already exists here" in page.text  # not signed in, not linked
    assert "not signed in" in browser.get(f"{issuer}/").text

    linked = browser.post_form(
        page.url, page.text, "/login", {"email": UPSTREAM_EMAIL, "password": USER_PASSWORD}
    )
    assert linked.status_code == 303
    account = browser.session.get(f"{issuer}/account", timeout=20).text
    assert "Corp SSO" in account and "Unlink" in account

    fresh = Browser()
    request_, url = start(issuer, rp)
    callback = fresh.run(
        url,
        REDIRECT_URI,
        credentials=[(UPSTREAM_EMAIL, UPSTREAM_PASSWORD)],
        choose="Sign in with Corp SSO",
    )
    assert redeem(issuer, rp, request_, callback)["sub"] == str(local.id)


def test_upstream_denial_reaches_the_relying_party_as_access_denied(upstream, make_app, serve):
    up_app, up_issuer = upstream

    def providers_for(issuer):
        client = make_client(up_app, "Downstream", [f"{issuer}/login/with/corp/callback"])
        return (provider("corp", "oidc", client.client_id, client.plain_secret, issuer=up_issuer),)

    app, issuer = downstream(make_app, serve, providers_for)
    rp = make_client(app, "Notes", [REDIRECT_URI], first_party=True)
    browser = Browser()
    _, url = start(issuer, rp)
    callback = browser.run(
        url,
        REDIRECT_URI,
        credentials=[(UPSTREAM_EMAIL, UPSTREAM_PASSWORD)],
        consent="deny",
        choose="Sign in with Corp",
    )
    query = parse_qs(urlsplit(callback).query)
    assert query["error"] == ["access_denied"]


def test_a_callback_with_a_forged_state_ends_on_a_clear_page(corp):
    _, issuer, _ = corp
    response = requests.get(f"{issuer}/login/with/corp/callback?code=x&state=forged", timeout=20)
    assert response.status_code == 400
    assert "did not work" in response.text


def test_unknown_provider_is_404(corp):
    _, issuer, _ = corp
    assert requests.get(f"{issuer}/login/with/nobody", timeout=20).status_code == 404


def test_google_kind_works_through_a_locally_served_discovery_document(upstream, make_app, serve):
    up_app, up_issuer = upstream

    def providers_for(issuer):
        client = make_client(
            up_app, "Downstream", [f"{issuer}/login/with/google/callback"], first_party=True
        )
        return (
            provider("google", "google", client.client_id, client.plain_secret, issuer=up_issuer),
        )

    app, issuer = downstream(make_app, serve, providers_for)
    rp = make_client(app, "Notes", [REDIRECT_URI], first_party=True)
    request_, url = start(issuer, rp)
    callback = Browser().run(
        url,
        REDIRECT_URI,
        credentials=[(UPSTREAM_EMAIL, UPSTREAM_PASSWORD)],
        choose="Sign in with Google",
    )
    claims = redeem(issuer, rp, request_, callback)
    assert claims["idp"] == "google"


def fake_github(emails):
    """GitHub's authorize, token, user and emails endpoints, as far as idp uses them."""
    app = Flask("fake_github")

    @app.get("/login/oauth/authorize")
    def authorize():
        query = urlencode({"code": "gh-code", "state": request.args["state"]})
        return redirect(f"{request.args['redirect_uri']}?{query}")

    @app.post("/login/oauth/access_token")
    def token():
        if request.form.get("code") != "gh-code" or not request.form.get("code_verifier"):
            return jsonify(error="bad_verification_code"), 400
        return jsonify(access_token="gho_fake", token_type="bearer", scope="read:user,user:email")

    @app.get("/api/user")
    def user():
        assert request.headers["Authorization"] == "Bearer gho_fake"
        return jsonify(id=4242, login="octocat", name="The Octocat")

    @app.get("/api/user/emails")
    def user_emails():
        return jsonify(emails)

    return app


def github_downstream(make_app, serve, emails):
    _, fake = serve(lambda issuer: fake_github(emails))

    def providers_for(issuer):
        return (
            provider(
                "github",
                "github",
                "gh-client",
                "gh-secret",
                authorize_url=f"{fake}/login/oauth/authorize",
                token_url=f"{fake}/login/oauth/access_token",
                api_url=f"{fake}/api/",
            ),
        )

    app, issuer = downstream(make_app, serve, providers_for)
    return app, issuer, make_client(app, "Notes", [REDIRECT_URI], first_party=True)


def test_github_uses_only_a_verified_email(make_app, serve):
    app, issuer, rp = github_downstream(
        make_app,
        serve,
        [
            {"email": "unverified@example.com", "primary": True, "verified": False},
            {"email": "octo@example.com", "primary": False, "verified": True},
        ],
    )
    request_, url = start(issuer, rp)
    callback = Browser().run(url, REDIRECT_URI, choose="Sign in with GitHub")
    claims = redeem(issuer, rp, request_, callback)
    assert claims["email"] == "octo@example.com"
    assert claims["email_verified"] is True
    assert claims["idp"] == "github"


def test_github_without_a_verified_email_is_refused(make_app, serve):
    app, issuer, rp = github_downstream(
        make_app,
        serve,
        [
            {"email": "unverified@example.com", "primary": True, "verified": False},
        ],
    )
    _, url = start(issuer, rp)
    page = Browser().run(url, REDIRECT_URI, choose="Sign in with GitHub")
    assert page.status_code == 400
    assert "no verified email" in page.text


def test_the_last_way_to_sign_in_cannot_be_unlinked(make_app, serve):
    app, issuer, rp = github_downstream(
        make_app,
        serve,
        [
            {"email": "octo@example.com", "primary": True, "verified": True},
        ],
    )
    browser = Browser()
    _, url = start(issuer, rp)
    browser.run(url, REDIRECT_URI, choose="Sign in with GitHub")
    account = browser.session.get(f"{issuer}/account", timeout=20)
    response = browser.post_form(account.url, account.text, "/account/identities/unlink", {})
    assert response.status_code == 400
    assert "only way to sign in" in response.text


def test_mfa_policy_still_applies_after_an_upstream_sign_in(upstream, make_app, serve):
    up_app, up_issuer = upstream

    def providers_for(issuer):
        client = make_client(
            up_app, "Downstream", [f"{issuer}/login/with/corp/callback"], first_party=True
        )
        return (provider("corp", "oidc", client.client_id, client.plain_secret, issuer=up_issuer),)

    app, issuer = downstream(make_app, serve, providers_for)
    rp = make_client(app, "Bank", [REDIRECT_URI], first_party=True, require_mfa=True)
    _, url = start(issuer, rp)
    page = Browser().run(
        url,
        REDIRECT_URI,
        credentials=[(UPSTREAM_EMAIL, UPSTREAM_PASSWORD)],
        choose="Sign in with Corp",
    )
    assert "asks for two-step verification" in page.text
