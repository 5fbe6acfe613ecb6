"""The admin console pages: who may enter, and the operations through CSRF-protected forms."""

from __future__ import annotations

import re

import pyotp

from idp import clock

from ..conftest import USER_EMAIL, USER_PASSWORD, make_user
from ..helpers import Browser

ADMIN_EMAIL = "root@example.com"


def admin_browser(app):
    make_user(app, ADMIN_EMAIL, USER_PASSWORD, roles=["admin"])
    browser = Browser(app.test_client())
    browser.sign_in(ADMIN_EMAIL, USER_PASSWORD)
    return browser


def test_only_admins_enter(app, user):
    anonymous = Browser(app.test_client())
    assert anonymous.get("/admin/").headers["Location"].startswith("/login")
    plain = Browser(app.test_client())
    plain.sign_in(USER_EMAIL, USER_PASSWORD)
    assert plain.get("/admin/").status_code == 403
    assert admin_browser(app).get("/admin/").status_code == 200


def test_admin_manages_users_from_the_console(app, user):
    browser = admin_browser(app)
    listing = browser.get("/admin/users?email=ada")
    assert USER_EMAIL in listing.get_data(as_text=True)
    page = browser.get(f"/admin/users/{user.id}")
    browser.submit(page, f"/admin/users/{user.id}/roles", {"roles": ["user", "moderator"]})
    assert 'moderator" checked' in browser.get(f"/admin/users/{user.id}").get_data(as_text=True)
    victim = Browser(app.test_client())
    victim.sign_in(USER_EMAIL, USER_PASSWORD)
    confirm = browser.submit(page, f"/admin/users/{user.id}/disable", {})
    assert f"Disable {USER_EMAIL}?" in confirm.get_data(as_text=True)  # asked first
    assert "You are signed in" in victim.get("/").get_data(as_text=True)
    done = browser.submit(confirm, f"/admin/users/{user.id}/disable", {})
    assert done.status_code == 303
    assert "was disabled" in browser.follow(done).get_data(as_text=True)
    assert "not signed in" in victim.get("/").get_data(as_text=True)
    assert victim.sign_in(USER_EMAIL, USER_PASSWORD).status_code == 401
    created = browser.submit(
        browser.get("/admin/users"), "/admin/users", {"email": "new@example.com", "roles": ["user"]}
    )
    assert created.status_code == 303
    bad = browser.submit(browser.get("/admin/users"), "/admin/users", {"email": "bad"})
    assert bad.status_code == 400


def test_admin_creates_and_deletes_clients(app):
    browser = admin_browser(app)
    page = browser.get("/admin/clients")
    created = browser.submit(
        page,
        "/admin/clients",
        {
            "name": "Wiki",
            "redirect_uris": "https://wiki.example.org/cb",
            "scope": "openid email",
            "grant_types": ["authorization_code"],
        },
    )
    assert created.status_code == 201
    html = created.get_data(as_text=True)
    client_id = re.search(r'"client_id": "([^"]+)"', html).group(1)
    assert '"client_secret"' in html
    assert browser.get(f"/admin/clients/{client_id}").status_code == 200
    refused = browser.submit(
        page, "/admin/clients", {"name": "Bad", "redirect_uris": "http://evil.example/cb"}
    )
    assert refused.status_code == 400
    confirm = browser.submit(page, f"/admin/clients/{client_id}/delete", {})
    assert 'class="danger">Delete the client</button>' in confirm.get_data(as_text=True)
    assert browser.get(f"/admin/clients/{client_id}").status_code == 200  # not yet
    browser.submit(confirm, f"/admin/clients/{client_id}/delete", {})
    assert browser.get(f"/admin/clients/{client_id}").status_code == 404


def test_admin_console_shows_recent_audit_events(app):
    browser = admin_browser(app)
    html = browser.get("/admin/audit?type=login_success").get_data(as_text=True)
    assert "login_success" in html


def test_forms_need_csrf(app, user):
    browser = admin_browser(app)
    assert browser.client.post(f"/admin/users/{user.id}/disable").status_code == 400


def test_mfa_can_be_made_mandatory_for_the_console(make_app):
    app = make_app(admin_require_mfa=True)
    browser = admin_browser(app)
    assert browser.get("/admin/").headers["Location"].startswith("/account/mfa")
    # Enroll, then the console opens (the enrollment upgraded the session to MFA).
    setup = browser.submit(browser.get("/account/mfa"), "/account/mfa/setup", {})
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', setup.get_data(as_text=True)).group(
        1
    )
    browser.submit(setup, "/account/mfa/confirm", {"code": pyotp.TOTP(secret).at(clock.now())})
    assert browser.get("/admin/").status_code == 200
    # A fresh password sign-in of an enrolled admin asks for the code before the console.
    again = Browser(app.test_client())
    response = again.sign_in(ADMIN_EMAIL, USER_PASSWORD)
    assert response.headers["Location"].startswith("/login/mfa")


def test_admin_sees_and_sets_a_clients_refresh_retry_window(make_app):
    app = make_app(refresh_retry_window=5)
    browser = admin_browser(app)
    created = browser.submit(
        browser.get("/admin/clients"),
        "/admin/clients",
        {"name": "Tabs", "redirect_uris": "https://tabs.example.org/cb", "scope": "openid"},
    )
    client_id = re.search(r'"client_id": "([^"]+)"', created.get_data(as_text=True)).group(1)
    page = browser.get(f"/admin/clients/{client_id}")
    assert "Now: 5 s (the server's default)" in page.get_data(as_text=True)
    action = f"/admin/clients/{client_id}/refresh-retry-window"
    assert browser.submit(page, action, {"refresh_retry_window": "10"}).status_code == 303
    assert "Now: 10 s (this client)" in browser.get(action.rsplit("/", 1)[0]).get_data(as_text=True)
    for bad in ("61", "soon", ""):
        assert browser.submit(page, action, {"refresh_retry_window": bad}).status_code == 400
    strict = browser.submit(
        browser.get("/admin/clients"),
        "/admin/clients",
        {
            "name": "Strict",
            "redirect_uris": "https://strict.example.org/cb",
            "refresh_retry_window": "0",
        },
    )
    assert '"refresh_retry_window": 0' in strict.get_data(as_text=True)
