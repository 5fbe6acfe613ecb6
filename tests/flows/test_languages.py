"""Pages and mail in the person's language: switcher, ui_locales, Accept-Language, English."""

from __future__ import annotations

import re

from ..conftest import USER_EMAIL, USER_PASSWORD, make_user
from ..helpers import AuthorizationRequest, Browser, csrf_token


def _html(response) -> str:
    return response.get_data(as_text=True)


def _lang(html: str) -> str:
    return re.search(r'<html lang="([^"]+)"', html).group(1)


def test_english_is_the_default(client):
    html = _html(client.get("/login"))
    assert _lang(html) == "en"
    assert "<h1>Sign in</h1>" in html


def test_accept_language_picks_a_supported_language(client):
    html = _html(client.get("/login", headers={"Accept-Language": "de-CH, de;q=0.9, en;q=0.5"}))
    assert _lang(html) == "de"
    assert "<h1>Anmelden</h1>" in html
    assert "Passwort vergessen?" in html
    unsupported = _html(client.get("/login", headers={"Accept-Language": "ja, fr;q=0.8"}))
    assert _lang(unsupported) == "fr"
    assert "<h1>Se connecter</h1>" in unsupported


def test_the_switcher_changes_the_language_and_a_cookie_keeps_it(client):
    english = _html(client.get("/login"))
    assert 'href="/login?lang=fr"' in english
    assert '<span aria-current="true" lang="en">English</span>' in english
    chosen = client.get("/login?lang=fr", headers={"Accept-Language": "de"})
    assert _lang(_html(chosen)) == "fr"
    assert "idp_lang=fr" in chosen.headers["Set-Cookie"]
    assert "HttpOnly" in chosen.headers["Set-Cookie"]
    later = client.get("/password/forgot", headers={"Accept-Language": "de"})
    assert _lang(_html(later)) == "fr"  # the person's choice beats the browser's
    assert "Mot de passe oublié ?" in _html(later)


def test_an_unknown_language_in_the_switcher_is_ignored(client):
    response = client.get("/login?lang=xx")
    assert _lang(_html(response)) == "en"
    assert "idp_lang" not in response.headers.get("Set-Cookie", "")


def test_ui_locales_of_the_authorization_request_picks_the_sign_in_language(
    browser, user, confidential_client
):
    request = AuthorizationRequest(
        confidential_client.client_id,
        confidential_client.redirect_uris[0],
        extra={"ui_locales": "es fr-CA de"},
    )
    browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"  # every request of this browser
    login = browser.follow(browser.get(request.url()))
    html = _html(login)
    assert _lang(html) == "fr"  # the first supported of ui_locales, before Accept-Language
    assert "<h1>Se connecter</h1>" in html
    # The language switcher keeps the pending request.
    assert re.search(r'href="/login\?ix=[^"&]+&amp;lang=de"', html)


def test_consent_scopes_and_errors_are_translated(browser, user, confidential_client):
    request = AuthorizationRequest(
        confidential_client.client_id, confidential_client.redirect_uris[0]
    )
    browser.client.set_cookie("idp_lang", "de")
    page = browser.follow(browser.get(request.url()))
    signed_in = browser.follow(
        browser.submit(page, "/login", {"email": USER_EMAIL, "password": USER_PASSWORD})
    )
    html = _html(signed_in)
    assert "Ihre E-Mail-Adresse sehen und ob sie bestätigt ist" in html
    assert ">Erlauben</button>" in html
    expired = _html(browser.get("/consent?ix=gone"))
    assert "Diese Zustimmungsanfrage ist abgelaufen." in expired


def test_account_page_dates_are_localized(browser, user):
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    browser.client.set_cookie("idp_lang", "de")
    html = _html(browser.get("/account"))
    assert "<h1>Ihr Konto</h1>" in html
    # Babel's German medium format: "29.11.2026, 21:14:00"
    assert re.search(r"angemeldet \d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}:\d{2}", html)


def test_mail_is_written_in_the_language_of_the_page_that_sent_it(make_app, mailbox):
    app = make_app(smtp_url=f"smtp://127.0.0.1:{mailbox.port}")
    make_user(app, USER_EMAIL, USER_PASSWORD, name="Ada")
    browser = Browser(app.test_client())
    page = browser.get("/password/forgot?lang=fr")
    answer = browser.submit(page, "/password/forgot", {"email": USER_EMAIL})
    assert "Consultez vos e-mails" in _html(answer)
    message = mailbox.wait_for(1)
    assert message["Subject"] == "Réinitialiser votre mot de passe"
    text = mailbox.text(message)
    assert text.startswith("Bonjour Ada,")
    assert "Le lien ne fonctionne qu’une fois" in text
    html = message.get_body(preferencelist=("html",)).get_content()
    assert '<html lang="fr">' in html


def test_password_policy_reasons_are_translated(client):
    page = client.get("/register", headers={"Accept-Language": "fr"})
    assert "Créer un compte" in _html(page)
    response = client.post(
        "/register",
        headers={"Accept-Language": "fr"},
        data={
            "csrf_token": csrf_token(_html(page)),
            "email": "new@example.com",
            "password": "short",
            "name": "",
        },
    )
    assert response.status_code == 400
    assert "Utilisez au moins 8 caractères." in _html(response)
