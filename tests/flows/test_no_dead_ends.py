"""Every page offers a way forward: error pages, home, account navigation, TOTP setup."""

from __future__ import annotations

import re

from ..conftest import USER_EMAIL, USER_PASSWORD


def _html(response) -> str:
    return response.get_data(as_text=True)


def test_an_error_page_says_what_happened_and_links_to_the_start_page(client):
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    html = _html(missing)
    assert "<h1>Page not found</h1>" in html
    assert "Something is not right" not in html
    assert 'href="/">Go to the start page</a>' in html
    expired = _html(client.get("/consent?ix=gone"))
    assert "<h1>This request cannot be completed</h1>" in expired
    assert "This consent request has expired." in expired


def test_error_pages_speak_the_persons_language(client):
    html = _html(client.get("/no-such-page", headers={"Accept-Language": "fr"}))
    assert "<h1>Page introuvable</h1>" in html
    assert "Aller à la page d’accueil" in html


def test_the_signed_in_home_page_links_to_the_account(browser, user):
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    html = _html(browser.get("/"))
    assert 'href="/account">Your account</a>' in html


def test_account_pages_link_to_each_other_and_sign_out(browser, user):
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    for path in ("/account", "/account/password", "/account/mfa"):
        html = _html(browser.get(path))
        nav = re.search(r'<nav class="account-nav".*?</nav>', html, re.S).group(0)
        for target in ("/account", "/account/password", "/account/mfa"):
            assert f'href="{target}"' in nav, (path, target)
        assert 'action="/logout"' in nav
        assert f'href="{path}" aria-current="page"' in nav


def test_password_fields_get_a_show_toggle_from_a_same_origin_script(client):
    html = _html(client.get("/login"))
    assert '<script src="/static/show_password.js" defer></script>' in html
    assert 'data-show-password="Show password"' in html
    with client.get("/static/show_password.js") as script:
        assert script.status_code == 200
        assert "aria-pressed" in script.get_data(as_text=True)
    # Without scripts the field is an ordinary password field that works.
    assert 'type="password" autocomplete="current-password"' in html


def test_a_wrong_code_at_totp_setup_does_not_mention_recovery_codes(browser, user):
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    setup = browser.submit(browser.get("/account/mfa"), "/account/mfa/setup", {})
    wrong = browser.submit(setup, "/account/mfa/confirm", {"code": "000000"})
    assert wrong.status_code == 400
    message = re.search(r'role="alert">([^<]*)<', _html(wrong)).group(1)
    assert "recovery" not in message
    assert "authenticator app shows now" in message
