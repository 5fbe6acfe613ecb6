"""The hosted pages as a person (or a password manager) meets them."""

from __future__ import annotations

import re

from ..conftest import USER_EMAIL, USER_PASSWORD
from ..helpers import csrf_token


def test_login_form_has_autocomplete_hints(browser):
    html = browser.get("/login").get_data(as_text=True)
    assert 'autocomplete="username"' in html
    assert 'autocomplete="current-password"' in html


def test_unknown_email_and_wrong_password_get_the_same_answer(browser, user):
    unknown = browser.sign_in("nobody@example.com", USER_PASSWORD)
    wrong = browser.sign_in(USER_EMAIL, "not the password")
    assert unknown.status_code == wrong.status_code == 401

    def message(response):
        return re.search(r'role="alert">([^<]*)<', response.get_data(as_text=True)).group(1)

    assert message(unknown) == message(wrong) == "Incorrect email or password."


def test_email_is_matched_case_insensitively(browser, user):
    response = browser.sign_in(USER_EMAIL.upper(), USER_PASSWORD)
    assert response.status_code == 303


def test_login_without_csrf_token_is_refused(client, user):
    response = client.post("/login", data={"email": USER_EMAIL, "password": USER_PASSWORD})
    assert response.status_code == 400
    assert (
        "Set-Cookie" not in response.headers or "idp_session" not in response.headers["Set-Cookie"]
    )


def test_every_page_carries_security_headers(browser, client):
    for response in (
        browser.get("/login"),
        browser.get("/"),
        client.get("/jwks.json"),
        browser.get("/authorize?client_id=nope"),
    ):
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"


def test_session_cookie_is_opaque_httponly_lax_and_new_at_each_sign_in(browser, user):
    first = browser.sign_in(USER_EMAIL, USER_PASSWORD)
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith("idp_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert USER_EMAIL not in value and len(value) >= 40
    second = browser.sign_in(USER_EMAIL, USER_PASSWORD)
    assert second.headers["Set-Cookie"].split(";")[0] != cookie.split(";")[0]


def test_old_session_id_stops_working_after_a_new_sign_in(app, user):
    browser_a = app.test_client()
    page = browser_a.get("/login")
    first = browser_a.post(
        "/login",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "email": USER_EMAIL,
            "password": USER_PASSWORD,
        },
    )
    old_cookie = first.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    page = browser_a.get("/login")
    browser_a.post(
        "/login",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "email": USER_EMAIL,
            "password": USER_PASSWORD,
        },
    )
    replay = app.test_client()
    replay.set_cookie("idp_session", old_cookie)
    assert "not signed in" in replay.get("/").get_data(as_text=True)


def test_sign_out_ends_the_session_server_side(app, browser, user):
    response = browser.sign_in(USER_EMAIL, USER_PASSWORD)
    cookie = response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    home = browser.get("/")
    assert "signed in as" in home.get_data(as_text=True)
    browser.submit(home, "/logout", {})
    replay = app.test_client()
    replay.set_cookie("idp_session", cookie)
    assert "not signed in" in replay.get("/").get_data(as_text=True)


def test_unknown_path_gets_a_page_and_unknown_api_path_json(client):
    assert client.get("/nowhere").status_code == 404
    assert client.get("/nowhere").mimetype == "text/html"
    assert client.get("/.well-known/nothing").is_json


def test_password_hash_is_upgraded_when_argon2_parameters_change(
    production_password_hashing, app, browser
):
    from argon2 import PasswordHasher

    from idp.extensions import db
    from idp.models import User
    from idp.services import users

    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    with app.app_context():
        created = users.create_user("old@example.com", USER_PASSWORD)
        created.password_hash = weak.hash(USER_PASSWORD)
        db.session.commit()
    assert browser.sign_in("old@example.com", USER_PASSWORD).status_code == 303
    with app.app_context():
        stored = db.session.execute(
            db.select(User.password_hash).filter_by(email="old@example.com")
        ).scalar_one()
    assert "m=19456,t=2,p=1" in stored
