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


def _authorize(browser, confidential_client):
    from ..helpers import AuthorizationRequest

    request = AuthorizationRequest(
        confidential_client.client_id, confidential_client.redirect_uris[0]
    )
    return request, browser.follow(browser.get(request.url()), request.redirect_uri)


def test_cancel_on_the_sign_in_page_returns_access_denied_to_the_app(
    browser, user, confidential_client
):
    from urllib.parse import parse_qs, urlsplit

    request, login = _authorize(browser, confidential_client)
    assert "Cancel and go back to the application" in _html(login)
    ix = re.search(r'name="ix" value="([^"]+)"', _html(login)).group(1)
    answer = browser.follow(
        browser.submit(login, "/authorize/cancel", {"ix": ix}), request.redirect_uri
    )
    location = answer.headers["Location"]
    assert location.startswith(request.redirect_uri)
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == ["access_denied"] and query["state"] == [request.state]


def test_cancel_of_an_unknown_request_is_a_page_not_a_redirect(browser):
    page = browser.get("/login")
    response = browser.submit(page, "/authorize/cancel", {"ix": "not-mine"})
    assert response.status_code == 400
    assert "This sign-in request has expired" in _html(response)


def test_consent_says_who_is_signed_in_and_not_you_switches_account(
    browser, user, confidential_client
):
    from ..conftest import make_user

    request, login = _authorize(browser, confidential_client)
    consent = browser.follow(
        browser.submit(login, "/login", {"email": USER_EMAIL, "password": USER_PASSWORD}),
        request.redirect_uri,
    )
    html = _html(consent)
    assert f"Signed in as <strong>{USER_EMAIL}</strong>" in html
    ix = re.search(r'name="ix" value="([^"]+)"', html).group(1)
    switched = browser.submit(consent, "/consent/switch-account", {"ix": ix})
    assert switched.status_code == 303 and switched.headers["Location"].startswith("/login?ix=")
    other = make_user(browser.client.application, "grace@example.com", USER_PASSWORD)
    login_again = browser.follow(switched)
    assert "not signed in" in _html(browser.get("/"))  # the old session ended
    consent_again = browser.follow(
        browser.submit(login_again, "/login", {"email": other.email, "password": USER_PASSWORD}),
        request.redirect_uri,
    )
    assert "Signed in as <strong>grace@example.com</strong>" in _html(consent_again)


def test_the_sign_in_delay_says_1_second_not_1_seconds(app, user):
    from idp import clock

    from ..helpers import Browser

    browser = Browser(app.test_client())
    for _ in range(4):
        browser.sign_in(USER_EMAIL, "wrong password")
    held = browser.sign_in(USER_EMAIL, USER_PASSWORD)
    assert held.status_code == 429 and held.headers["Retry-After"] == "1"
    assert "Try again in 1 second." in _html(held)
    clock.advance(1)
    browser.sign_in(USER_EMAIL, "wrong password")
    assert "Try again in 2 seconds." in _html(browser.sign_in(USER_EMAIL, USER_PASSWORD))


def test_the_per_account_limit_page_leads_back_to_sign_in_and_to_a_reset(make_app):
    from ..conftest import make_user
    from ..helpers import Browser

    app = make_app(rate_limit_login_account="2/minute")
    make_user(app, USER_EMAIL, USER_PASSWORD)
    browser = Browser(app.test_client())
    for _ in range(2):
        browser.sign_in(USER_EMAIL, "wrong password")
    limited = browser.sign_in(USER_EMAIL, "wrong password")
    assert limited.status_code == 429
    html = _html(limited)
    assert 'href="/login">Back to sign in</a>' in html
    assert 'href="/password/forgot">Forgot your password?</a>' in html


def test_a_bare_authorize_says_what_it_is_for(client):
    response = client.get("/authorize")
    assert response.status_code == 400
    html = _html(response)
    assert "opened on its own it has nothing to do" in html
    assert "is not supported by the server. is not supported" not in html
