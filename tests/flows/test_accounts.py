"""Registration, email verification, password reset and change, through the pages and a
real SMTP server on loopback."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from idp import clock

from ..conftest import REDIRECT_URI, USER_EMAIL, USER_PASSWORD, make_client, make_user
from ..helpers import Browser, csrf_token
from .tokens import introspect, login_tokens, refresh

NEW_EMAIL = "grace@example.com"
NEW_PASSWORD = "a long and unusual passphrase"


def _path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def register(browser, email=NEW_EMAIL, password=NEW_PASSWORD, name="Grace Hopper"):
    page = browser.get("/register")
    return browser.submit(page, "/register", {"email": email, "password": password, "name": name})


def confirm(browser, link):
    page = browser.get(_path(link))
    return browser.submit(page, "/verify-email", {"token": _token(link)})


def test_registration_mails_a_link_that_verifies_the_address_once(mail_app, mailbox):
    browser = Browser(mail_app.test_client())
    response = register(browser)
    assert response.status_code == 200
    assert "If an account exists for that address" in response.get_data(as_text=True)
    message = mailbox.wait_for(1)
    assert message["To"] == NEW_EMAIL
    link = mailbox.link(message)
    assert link.startswith("http://127.0.0.1:5000/verify-email?token=")

    # Opening the link changes nothing (mail scanners fetch links); the button does.
    assert "Confirm my email address" in browser.get(_path(link)).get_data(as_text=True)
    assert confirm(browser, link).status_code == 200
    assert confirm(browser, link).status_code == 400  # single use


def test_email_verified_is_false_in_tokens_until_verified(mail_app, mailbox):
    browser = Browser(mail_app.test_client())
    client = browser.client
    register(browser)
    rp = make_client(mail_app, "Notes", [REDIRECT_URI], first_party=True)
    from ..conftest import USER_EMAIL as _  # noqa: F401

    def userinfo_verified():
        from ..helpers import AuthorizationRequest, query

        request = AuthorizationRequest(rp.client_id, REDIRECT_URI)
        answer = query(browser.authorize(request, NEW_EMAIL, NEW_PASSWORD).headers["Location"])
        tokens = client.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": answer["code"],
                "redirect_uri": REDIRECT_URI,
                "code_verifier": request.verifier,
            },
            auth=(rp.client_id, rp.plain_secret),
        ).get_json()
        info = client.get(
            "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        return info.get_json()["email_verified"]

    assert userinfo_verified() is False
    confirm(browser, mailbox.link(mailbox.wait_for(1)))
    assert userinfo_verified() is True


def test_verification_link_expires_after_24_hours(mail_app, mailbox):
    browser = Browser(mail_app.test_client())
    register(browser)
    link = mailbox.link(mailbox.wait_for(1))
    clock.advance(24 * 3600 + 1)
    assert confirm(browser, link).status_code == 400


def test_registration_does_not_reveal_existing_accounts(mail_app, mailbox):
    make_user(mail_app, USER_EMAIL, USER_PASSWORD)
    browser = Browser(mail_app.test_client())
    known = register(browser, email=USER_EMAIL)
    unknown = register(browser, email=NEW_EMAIL)
    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    notices = [mailbox.wait_for(1), mailbox.wait_for(2)]
    subjects = {m["To"]: m["Subject"] for m in notices}
    assert subjects[USER_EMAIL] == "Someone tried to register with your email"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 8"),
        ("x" * 129, "at most 128"),
        ("password1", "common"),
        (NEW_EMAIL, "email"),
    ],
)
def test_registration_applies_the_password_policy(mail_app, mailbox, password, reason):
    browser = Browser(mail_app.test_client())
    response = register(browser, password=password)
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True).lower()


def test_registration_can_be_switched_off(make_app):
    app = make_app(registration_enabled=False)
    assert app.test_client().get("/register").status_code == 404


def test_resend_and_forgot_answer_the_same_for_known_and_unknown_emails(mail_app, mailbox):
    make_user(mail_app, USER_EMAIL, USER_PASSWORD)
    browser = Browser(mail_app.test_client())
    for path in ("/password/forgot",):
        page = browser.get(path)
        known = browser.submit(page, path, {"email": USER_EMAIL})
        unknown = browser.submit(page, path, {"email": "nobody@example.com"})
        assert known.status_code == unknown.status_code == 200
        assert known.get_data() == unknown.get_data()
    token = csrf_token(browser.get("/register").get_data(as_text=True))
    known = browser.client.post(
        "/verify-email/resend", data={"csrf_token": token, "email": USER_EMAIL}
    )
    unknown = browser.client.post(
        "/verify-email/resend", data={"csrf_token": token, "email": "nobody@example.com"}
    )
    assert known.get_data() == unknown.get_data()


def forgot(browser, email):
    page = browser.get("/password/forgot")
    return browser.submit(page, "/password/forgot", {"email": email})


def reset(browser, link, password):
    page = browser.get(_path(link))
    return browser.submit(page, "/password/reset", {"token": _token(link), "password": password})


def test_password_reset_signs_out_everywhere_and_revokes_tokens(mail_app, mailbox):
    user = make_user(mail_app, USER_EMAIL, USER_PASSWORD)
    rp = make_client(mail_app, "Notes", [REDIRECT_URI])
    victim = Browser(mail_app.test_client())
    tokens = login_tokens(victim, victim.client, rp)
    assert introspect(victim.client, rp, tokens["access_token"])["active"] is True

    other = Browser(mail_app.test_client())
    forgot(other, USER_EMAIL)
    link = mailbox.link(mailbox.wait_for(1))
    assert reset(other, link, "a brand new passphrase").status_code == 200
    notice = mailbox.wait_for(2)
    assert notice["Subject"] == "Your password was changed"

    assert "not signed in" in victim.get("/").get_data(as_text=True)
    assert refresh(victim.client, rp, tokens["refresh_token"]).status_code == 400
    assert introspect(victim.client, rp, tokens["access_token"]) == {"active": False}
    assert victim.sign_in(USER_EMAIL, USER_PASSWORD).status_code == 401
    assert victim.sign_in(USER_EMAIL, "a brand new passphrase").status_code == 303
    assert reset(other, link, "yet another passphrase").status_code == 400  # single use
    assert user.email == USER_EMAIL


def test_reset_link_expires_after_30_minutes(mail_app, mailbox):
    make_user(mail_app, USER_EMAIL, USER_PASSWORD)
    browser = Browser(mail_app.test_client())
    forgot(browser, USER_EMAIL)
    link = mailbox.link(mailbox.wait_for(1))
    clock.advance(30 * 60 + 1)
    assert reset(browser, link, "a brand new passphrase").status_code == 400


def test_reset_refuses_a_weak_password_and_keeps_the_link_usable(mail_app, mailbox):
    make_user(mail_app, USER_EMAIL, USER_PASSWORD)
    browser = Browser(mail_app.test_client())
    forgot(browser, USER_EMAIL)
    link = mailbox.link(mailbox.wait_for(1))
    assert reset(browser, link, "qwerty123").status_code == 400
    assert reset(browser, link, "a brand new passphrase").status_code == 200


def test_change_password_requires_the_current_one(mail_app, mailbox):
    make_user(mail_app, USER_EMAIL, USER_PASSWORD)
    browser = Browser(mail_app.test_client())
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    page = browser.get("/account/password")
    wrong = browser.submit(
        page,
        "/account/password",
        {"current_password": "nope", "password": "a brand new passphrase"},
    )
    assert wrong.status_code == 400
    right = browser.submit(
        page,
        "/account/password",
        {"current_password": USER_PASSWORD, "password": "a brand new passphrase"},
    )
    assert right.status_code == 303
    assert browser.sign_in(USER_EMAIL, "a brand new passphrase").status_code == 303


def test_change_password_ends_the_other_sessions_and_tokens_and_mails_a_notice(mail_app, mailbox):
    make_user(mail_app, USER_EMAIL, USER_PASSWORD)
    rp = make_client(mail_app, "Notes", [REDIRECT_URI])
    other_device = Browser(mail_app.test_client())
    tokens = login_tokens(other_device, other_device.client, rp)
    clock.advance(2)  # iat has one-second resolution
    here = Browser(mail_app.test_client())
    here.sign_in(USER_EMAIL, USER_PASSWORD)
    page = here.get("/account/password")
    changed = here.submit(
        page,
        "/account/password",
        {"current_password": USER_PASSWORD, "password": "a brand new passphrase"},
    )
    assert changed.status_code == 303
    assert mailbox.wait_for(1)["Subject"] == "Your password was changed"

    assert "not signed in" in other_device.get("/").get_data(as_text=True)
    assert refresh(other_device.client, rp, tokens["refresh_token"]).status_code == 400
    assert introspect(other_device.client, rp, tokens["access_token"]) == {"active": False}
    userinfo = other_device.client.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401
    assert here.get("/account").status_code == 200  # the browser that changed it stays


def test_a_reset_ends_the_other_outstanding_reset_links(mail_app, mailbox):
    make_user(mail_app, USER_EMAIL, USER_PASSWORD)
    browser = Browser(mail_app.test_client())
    forgot(browser, USER_EMAIL)
    first = mailbox.link(mailbox.wait_for(1))
    forgot(browser, USER_EMAIL)
    second = mailbox.link(mailbox.wait_for(2))
    assert reset(browser, second, "a brand new passphrase").status_code == 200
    assert reset(browser, first, "the attacker's passphrase").status_code == 400
    assert browser.sign_in(USER_EMAIL, "a brand new passphrase").status_code == 303


def test_sign_in_can_require_a_verified_email(make_app, mailbox):
    app = make_app(require_verified_email=True, smtp_url=f"smtp://127.0.0.1:{mailbox.port}")
    browser = Browser(app.test_client())
    register(browser)
    link = mailbox.link(mailbox.wait_for(1))  # the account is made after the response
    refused = browser.sign_in(NEW_EMAIL, NEW_PASSWORD)
    assert refused.status_code == 403
    confirm(browser, link)
    assert browser.sign_in(NEW_EMAIL, NEW_PASSWORD).status_code == 303
