"""TOTP two-step verification: enrollment, sign-in, replay, recovery codes, acr/amr."""

from __future__ import annotations

import json
import re

import pyotp
import pytest
from click.testing import CliRunner

from idp import clock
from idp.cli import main
from idp.extensions import db
from idp.models import BrowserSession

from ..conftest import REDIRECT_URI, USER_EMAIL, USER_PASSWORD, make_client, make_user
from ..helpers import AuthorizationRequest, Browser, query, verify_jwt

ACR_MFA = "urn:idp:acr:mfa"


def code_for(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now() + 30 * offset_steps)


def enroll(browser) -> tuple[str, list[str]]:
    """Turn TOTP on from the account page; return the secret and the recovery codes."""
    settings = browser.get("/account/mfa")
    setup = browser.submit(settings, "/account/mfa/setup", {})
    html = setup.get_data(as_text=True)
    assert "<svg" in html
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', html).group(1)
    wrong = browser.submit(setup, "/account/mfa/confirm", {"code": "000000"})
    assert wrong.status_code == 400
    done = browser.submit(setup, "/account/mfa/confirm", {"code": code_for(secret)})
    assert done.status_code == 200, done.get_data(as_text=True)
    codes = re.findall(r"<li><code>([^<]+)</code></li>", done.get_data(as_text=True))
    clock.advance(30)  # the enrollment code's step is spent
    return secret, codes


def signed_in_with_mfa(app):
    make_user(app, USER_EMAIL, USER_PASSWORD)
    browser = Browser(app.test_client())
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    secret, codes = enroll(browser)
    return browser, secret, codes


def password_step(app):
    browser = Browser(app.test_client())
    response = browser.sign_in(USER_EMAIL, USER_PASSWORD)
    assert response.headers["Location"].startswith("/login/mfa")
    return browser, browser.get("/login/mfa")


def test_enrollment_shows_a_qr_code_and_ten_recovery_codes(app):
    _, secret, codes = signed_in_with_mfa(app)
    assert len(secret) >= 32
    assert len(codes) == len(set(codes)) == 10


def test_sign_in_asks_for_a_code_after_the_password(app):
    signed_in_with_mfa(app)
    browser, page = password_step(app)
    assert 'autocomplete="one-time-code"' in page.get_data(as_text=True)
    assert "not signed in" in browser.get("/").get_data(as_text=True)


def test_a_totp_code_works_once(app):
    _, secret, _ = signed_in_with_mfa(app)
    code = code_for(secret)
    browser, page = password_step(app)
    assert browser.submit(page, "/login/mfa", {"code": code}).status_code == 303
    again, page = password_step(app)
    reused = again.submit(page, "/login/mfa", {"code": code})
    assert reused.status_code == 401
    assert "That code was already used." in reused.get_data(as_text=True)
    wrong = again.submit(page, "/login/mfa", {"code": "000000" if code != "000000" else "111111"})
    assert "That code is not right." in wrong.get_data(as_text=True)


def test_codes_one_step_away_are_accepted_two_steps_are_not(app):
    _, secret, _ = signed_in_with_mfa(app)
    browser, page = password_step(app)
    assert browser.submit(page, "/login/mfa", {"code": code_for(secret, -2)}).status_code == 401
    assert browser.submit(page, "/login/mfa", {"code": code_for(secret, +1)}).status_code == 303


def test_a_recovery_code_works_once(app):
    _, _, codes = signed_in_with_mfa(app)
    browser, page = password_step(app)
    assert browser.submit(page, "/login/mfa", {"code": codes[0]}).status_code == 303
    again, page = password_step(app)
    assert again.submit(page, "/login/mfa", {"code": codes[0]}).status_code == 401
    assert again.submit(page, "/login/mfa", {"code": codes[1]}).status_code == 303


def _id_token(app, browser, rp, **extra):
    request = AuthorizationRequest(rp.client_id, REDIRECT_URI, extra=extra)
    response = browser.authorize(request, USER_EMAIL, USER_PASSWORD)
    return response, request


def _redeem(client, rp, request, response):
    answer = query(response.headers["Location"])
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
    return verify_jwt(tokens["id_token"], client.get("/jwks.json").get_json()).claims


def test_tokens_say_how_the_user_signed_in(app):
    make_user(app, USER_EMAIL, USER_PASSWORD)
    rp = make_client(app, "Notes", [REDIRECT_URI], first_party=True)
    browser = Browser(app.test_client())
    response, request = _id_token(app, browser, rp)
    claims = _redeem(browser.client, rp, request, response)
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:idp:acr:pwd"

    secret, _ = enroll(browser)
    fresh = Browser(app.test_client())
    request = AuthorizationRequest(rp.client_id, REDIRECT_URI)
    page = fresh.follow(fresh.get(request.url()))
    page = fresh.follow(fresh.sign_in(USER_EMAIL, USER_PASSWORD, page=page))
    response = fresh.follow(
        fresh.submit(page, "/login/mfa", {"code": code_for(secret)}), REDIRECT_URI
    )
    claims = _redeem(fresh.client, rp, request, response)
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == ACR_MFA


def test_acr_values_demand_mfa_and_users_without_it_enroll_first(app):
    make_user(app, USER_EMAIL, USER_PASSWORD)
    rp = make_client(app, "Bank", [REDIRECT_URI], first_party=True)
    browser = Browser(app.test_client())
    request = AuthorizationRequest(rp.client_id, REDIRECT_URI, extra={"acr_values": ACR_MFA})
    page = browser.follow(browser.get(request.url()))
    page = browser.follow(browser.sign_in(USER_EMAIL, USER_PASSWORD, page=page))
    html = page.get_data(as_text=True)
    assert "asks for two-step verification" in html
    setup = browser.submit(page, "/account/mfa/setup", {})
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', setup.get_data(as_text=True)).group(
        1
    )
    codes_page = browser.submit(setup, "/account/mfa/confirm", {"code": code_for(secret)})
    resume = re.search(r'href="(/authorize/continue\?ix=[^"]+)"', codes_page.get_data(as_text=True))
    response = browser.follow(browser.get(resume.group(1).replace("&amp;", "&")), REDIRECT_URI)
    claims = _redeem(browser.client, rp, request, response)
    assert claims["acr"] == ACR_MFA
    assert "mfa" in claims["amr"]


ACR_PWD = "urn:idp:acr:pwd"


def _code_or_page(app, extra):
    make_user(app, USER_EMAIL, USER_PASSWORD)
    rp = make_client(app, "Bank", [REDIRECT_URI], first_party=True)
    browser = Browser(app.test_client())
    request = AuthorizationRequest(rp.client_id, REDIRECT_URI, extra=extra)
    page = browser.follow(browser.get(request.url()), REDIRECT_URI)
    return (
        browser,
        rp,
        request,
        browser.follow(browser.sign_in(USER_EMAIL, USER_PASSWORD, page=page), REDIRECT_URI),
    )


@pytest.mark.parametrize("acr_values", [f"{ACR_PWD} {ACR_MFA}", f"{ACR_MFA} {ACR_PWD}"])
def test_acr_values_is_a_preference_list(app, acr_values):
    """The first value the user can satisfy wins: without a second factor, that is pwd."""
    browser, rp, request, response = _code_or_page(app, {"acr_values": acr_values})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _redeem(browser.client, rp, request, response)["acr"] == ACR_PWD


def test_an_essential_acr_claim_demands_mfa(app):
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [ACR_MFA]}}})
    _, _, _, page = _code_or_page(app, {"claims": claims, "acr_values": f"{ACR_PWD}"})
    assert "asks for two-step verification" in page.get_data(as_text=True)


def test_a_voluntary_acr_claim_does_not_demand_mfa(app):
    claims = json.dumps({"id_token": {"acr": {"values": [ACR_MFA]}}})
    _, _, _, response = _code_or_page(app, {"claims": claims})
    assert response.status_code == 302


def test_malformed_claims_parameter_is_invalid_request(app):
    _, _, _, response = _code_or_page(app, {"claims": "{not json"})
    assert query(response.headers["Location"])["error"] == "invalid_request"


def test_prompt_none_with_mfa_required_answers_interaction_required(app):
    make_user(app, USER_EMAIL, USER_PASSWORD)
    rp = make_client(app, "Bank", [REDIRECT_URI], first_party=True)
    browser = Browser(app.test_client())
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    request = AuthorizationRequest(
        rp.client_id, REDIRECT_URI, extra={"acr_values": ACR_MFA, "prompt": "none"}
    )
    answer = query(browser.get(request.url()).headers["Location"])
    assert answer["error"] == "interaction_required"


def test_a_client_can_require_mfa_for_every_sign_in(app):
    _, secret, _ = signed_in_with_mfa(app)
    rp = make_client(app, "Admin", [REDIRECT_URI], first_party=True, require_mfa=True)
    browser = Browser(app.test_client())
    request = AuthorizationRequest(rp.client_id, REDIRECT_URI)
    page = browser.follow(browser.get(request.url()))
    page = browser.follow(browser.sign_in(USER_EMAIL, USER_PASSWORD, page=page))
    assert 'autocomplete="one-time-code"' in page.get_data(as_text=True)
    response = browser.follow(
        browser.submit(page, "/login/mfa", {"code": code_for(secret)}), REDIRECT_URI
    )
    assert _redeem(browser.client, rp, request, response)["acr"] == ACR_MFA


def test_disabling_needs_the_password_and_a_code(app):
    browser, secret, _ = signed_in_with_mfa(app)
    page = browser.get("/account/mfa")
    wrong = browser.submit(
        page, "/account/mfa/disable", {"password": "nope", "code": code_for(secret)}
    )
    assert wrong.status_code == 400
    right = browser.submit(
        page, "/account/mfa/disable", {"password": USER_PASSWORD, "code": code_for(secret)}
    )
    assert right.status_code == 303
    assert browser.sign_in(USER_EMAIL, USER_PASSWORD).headers["Location"] == "/"


def test_recovery_codes_can_be_regenerated_with_a_code(app):
    browser, secret, old_codes = signed_in_with_mfa(app)
    page = browser.get("/account/mfa")
    new = browser.submit(page, "/account/mfa/recovery-codes", {"code": code_for(secret)})
    codes = re.findall(r"<li><code>([^<]+)</code></li>", new.get_data(as_text=True))
    assert len(codes) == 10 and not set(codes) & set(old_codes)
    fresh, mfa_page = password_step(app)
    assert fresh.submit(mfa_page, "/login/mfa", {"code": old_codes[0]}).status_code == 401


def test_operators_can_enroll_totp_from_the_cli(app, settings):
    make_user(app, USER_EMAIL, USER_PASSWORD)
    env = {
        "DATABASE_URL": settings["database_url"],
        "REDIS_URL": settings["redis_url"],
        "IDP_KEYS_DIR": settings["keys_dir"],
        "IDP_SECRET_KEY": settings["secret_key"],
        "IDP_REDIS_PREFIX": settings["redis_prefix"],
    }
    secret = pyotp.random_base32()
    result = CliRunner().invoke(
        main, ["users", "totp-enroll", USER_EMAIL], input=secret + "\n", env=env
    )
    assert result.exit_code == 0, result.output
    browser, page = password_step(app)
    assert browser.submit(page, "/login/mfa", {"code": code_for(secret)}).status_code == 303
    generated = CliRunner().invoke(
        main, ["users", "totp-enroll", USER_EMAIL, "--generate"], env=env
    )
    assert "otpauth://totp/" in generated.output
    missing = CliRunner().invoke(
        main, ["users", "totp-enroll", "nobody@example.com"], input=secret + "\n", env=env
    )
    assert missing.exit_code != 0


def test_wrong_codes_from_many_addresses_lock_the_pending_sign_in(app):
    """30 wrong codes from three addresses on one pending sign-in: the right code then fails."""
    _, secret, _ = signed_in_with_mfa(app)
    browser, page = password_step(app)
    html = page.get_data(as_text=True)
    form = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)}
    state = browser.client.get_cookie("idp_state").value  # replayed: the pending sign-in
    for attempt in range(30):
        address = f"127.0.0.{attempt % 3 + 2}"
        browser.client.set_cookie("idp_state", state)
        wrong = browser.client.post(
            "/login/mfa",
            data={**form, "code": "000000"},
            environ_base={"REMOTE_ADDR": address},
        )
        assert wrong.status_code in (401, 429)
    browser.client.set_cookie("idp_state", state)
    right = browser.client.post(
        "/login/mfa",
        data={**form, "code": code_for(secret)},
        environ_base={"REMOTE_ADDR": "127.0.0.9"},
    )
    assert right.status_code == 429
    assert "not signed in" in browser.get("/").get_data(as_text=True)


def test_the_pending_sign_in_locks_after_five_wrong_codes(app):
    _, secret, _ = signed_in_with_mfa(app)
    browser, page = password_step(app)
    for _ in range(5):
        assert browser.submit(page, "/login/mfa", {"code": "000000"}).status_code == 401
    locked = browser.submit(page, "/login/mfa", {"code": code_for(secret)})
    assert locked.status_code == 429
    assert "Sign in again" in locked.get_data(as_text=True)
    assert "not signed in" in browser.get("/").get_data(as_text=True)
    fresh, page = password_step(app)  # the password step starts a new pending sign-in
    assert fresh.submit(page, "/login/mfa", {"code": code_for(secret)}).status_code == 303


def test_second_factor_attempts_are_limited_per_account_across_sign_ins(make_app):
    app = make_app(rate_limit_mfa_account="8/minute")
    _, secret, _ = signed_in_with_mfa(app)
    statuses = []
    for attempt in range(3):  # three pending sign-ins, each from its own address
        browser, page = password_step(app)
        for _ in range(3):
            response = browser.client.post(
                "/login/mfa",
                data={"csrf_token": _csrf(page), "code": "000000"},
                environ_base={"REMOTE_ADDR": f"127.0.1.{attempt + 2}"},
            )
            statuses.append(response.status_code)
    assert statuses.count(429) >= 1
    browser, page = password_step(app)
    assert browser.submit(page, "/login/mfa", {"code": code_for(secret)}).status_code == 429


def _csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


@pytest.mark.parametrize(("page", "landing"), [("/account", "/account"), ("/admin/", "/admin/")])
def test_the_page_asked_for_opens_after_the_second_step(app, page, landing):
    """A TOTP user sent to sign in from /account or /admin lands there, not on /."""
    make_user(app, "admin@example.com", USER_PASSWORD, roles=["admin"])
    browser = Browser(app.test_client())
    browser.sign_in("admin@example.com", USER_PASSWORD)
    secret, _ = enroll(browser)
    browser.client.post("/logout", data={"csrf_token": _csrf(browser.get("/"))})
    assert "not signed in" in browser.get("/").get_data(as_text=True)

    login = browser.follow(browser.get(page))
    after_password = browser.sign_in("admin@example.com", USER_PASSWORD, page=login)
    assert after_password.headers["Location"].startswith("/login/mfa")
    code_page = browser.follow(after_password)
    done = browser.submit(code_page, "/login/mfa", {"code": code_for(secret)})
    assert done.status_code == 303
    assert done.headers["Location"] == landing
    assert browser.follow(done).status_code == 200


def _session_row(app):
    """The methods and amr of the most recently used live session."""
    with app.app_context():
        row = (
            db.session.execute(
                db.select(BrowserSession)
                .where(BrowserSession.ended_at.is_(None))
                .order_by(BrowserSession.last_seen_at.desc())
            )
            .scalars()
            .first()
        )
        return list(row.methods or []), list(row.amr)


def test_the_session_records_the_methods_its_amr_comes_from(app):
    _, secret, codes = signed_in_with_mfa(app)  # enrolled: the session is upgraded
    assert _session_row(app) == (["pwd", "otp"], ["pwd", "otp", "mfa"])
    browser, page = password_step(app)
    assert browser.submit(page, "/login/mfa", {"code": codes[0]}).status_code == 303
    assert _session_row(app) == (["pwd", "recovery"], ["pwd", "mfa"])
