"""Single sign-on, the account page's sessions and apps, RP-initiated and back-channel logout."""

from __future__ import annotations

import http.server
import threading
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from idp import clock
from idp.services import backchannel

from ..conftest import REDIRECT_URI, USER_EMAIL, USER_PASSWORD, make_client, make_user
from ..helpers import AuthorizationRequest, Browser, deliver_outbox, query
from .tokens import introspect, login_tokens, refresh

OTHER_REDIRECT = "https://calendar.example.org/cb"
AFTER_LOGOUT = "https://rp.example.org/signed-out"


@pytest.fixture
def two_apps(app, user):
    notes = make_client(
        app,
        "Notes",
        [REDIRECT_URI],
        post_logout_redirect_uris=[AFTER_LOGOUT],
        scope="openid profile email offline_access",
    )
    calendar = make_client(app, "Calendar", [OTHER_REDIRECT])
    return notes, calendar


def _code(browser, registered, redirect_uri, **extra):
    request = AuthorizationRequest(registered.client_id, redirect_uri, extra=extra)
    response = browser.follow(browser.get(request.url()), redirect_uri)
    return request, response


def test_second_app_signs_in_without_a_password(browser, client, two_apps):
    notes, calendar = two_apps
    login_tokens(browser, client, notes)
    _, response = _code(browser, calendar, OTHER_REDIRECT)
    html = response.get_data(as_text=True)
    assert 'autocomplete="current-password"' not in html
    assert 'name="decision" value="allow"' in html  # consent for the new app only
    browser.submit(response, "/consent", {"decision": "allow"})
    _, again = _code(browser, calendar, OTHER_REDIRECT)
    assert "code" in query(again.headers["Location"])


def test_id_token_hint_for_another_user_needs_a_new_sign_in(app, browser, client, two_apps):
    notes, _ = two_apps
    ada_tokens = login_tokens(browser, client, notes)
    make_user(app, "grace@example.com", "another long passphrase")
    grace = Browser(app.test_client())
    grace.sign_in("grace@example.com", "another long passphrase")
    silent = AuthorizationRequest(
        notes.client_id,
        REDIRECT_URI,
        extra={"prompt": "none", "id_token_hint": ada_tokens["id_token"]},
    )
    assert query(grace.get(silent.url()).headers["Location"])["error"] == "login_required"
    loud = AuthorizationRequest(
        notes.client_id, REDIRECT_URI, extra={"id_token_hint": ada_tokens["id_token"]}
    )
    page = grace.follow(grace.get(loud.url()))
    assert 'autocomplete="current-password"' in page.get_data(as_text=True)
    # The hint naming the signed-in user is fine.
    mine = AuthorizationRequest(
        notes.client_id,
        REDIRECT_URI,
        extra={"prompt": "none", "id_token_hint": ada_tokens["id_token"]},
    )
    assert "code" in query(browser.get(mine.url()).headers["Location"])


def test_a_forged_id_token_hint_is_refused(browser, client, two_apps):
    notes, _ = two_apps
    login_tokens(browser, client, notes)
    request = AuthorizationRequest(
        notes.client_id, REDIRECT_URI, extra={"id_token_hint": "eyJhbGciOiJub25lIn0.e30."}
    )
    assert query(browser.get(request.url()).headers["Location"])["error"] == "invalid_request"


def test_sessions_expire_when_idle_and_at_their_absolute_lifetime(make_app):
    app = make_app(session_idle_ttl=3600, session_absolute_ttl=3 * 3600)
    make_user(app, USER_EMAIL, USER_PASSWORD)
    browser = Browser(app.test_client())
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    for _ in range(3):
        clock.advance(50 * 60)
        assert "signed in as" in browser.get("/").get_data(as_text=True)
    clock.advance(50 * 60)  # 200 minutes after sign-in: past the absolute lifetime
    assert "not signed in" in browser.get("/").get_data(as_text=True)
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    clock.advance(3601)
    assert "not signed in" in browser.get("/").get_data(as_text=True)


def test_account_page_lists_sessions_with_device_and_marks_this_one(app, user):
    laptop = Browser(app.test_client())
    laptop.client.environ_base["HTTP_USER_AGENT"] = (
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    )
    phone = Browser(app.test_client())
    phone.client.environ_base["HTTP_USER_AGENT"] = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
    )
    laptop.sign_in(USER_EMAIL, USER_PASSWORD)
    phone.sign_in(USER_EMAIL, USER_PASSWORD)
    html = laptop.get("/account").get_data(as_text=True)
    assert "Firefox 128 on Linux" in html
    assert "Mobile Safari 17 on iOS" in html
    assert html.count("(this device)") == 1
    entries = html.split("<li>")
    this_device = next(entry for entry in entries if "(this device)" in entry)
    assert "Firefox 128" in this_device and "IP 127.0.0.1" in this_device


def test_ending_one_session_logs_out_that_device_and_its_tokens(app, client, two_apps):
    notes, _ = two_apps
    laptop, phone = Browser(app.test_client()), Browser(app.test_client())
    laptop.sign_in(USER_EMAIL, USER_PASSWORD)
    phone_tokens = login_tokens(phone, client, notes, scope="openid email")
    account = laptop.get("/account")
    phone_sid = _session_ids(account.get_data(as_text=True))[0]
    laptop.submit(account, "/account/sessions/end", {"session_id": phone_sid})
    assert "not signed in" in phone.get("/").get_data(as_text=True)
    assert "signed in as" in laptop.get("/").get_data(as_text=True)
    assert introspect(client, notes, phone_tokens["access_token"]) == {"active": False}
    assert refresh(client, notes, phone_tokens["refresh_token"]).status_code == 400


def _session_ids(html: str) -> list[str]:
    import re

    return re.findall(r'name="session_id" value="([^"]+)"', html)


def test_sign_out_everywhere_else_keeps_this_device_and_offline_tokens(app, client, two_apps):
    notes, _ = two_apps
    laptop, phone = Browser(app.test_client()), Browser(app.test_client())
    laptop.sign_in(USER_EMAIL, USER_PASSWORD)
    online = login_tokens(phone, client, notes, scope="openid email")
    offline = login_tokens(phone, client, notes, scope="openid email offline_access")
    account = laptop.get("/account")
    laptop.submit(account, "/account/sessions/end-others", {})
    assert "signed in as" in laptop.get("/").get_data(as_text=True)
    assert "not signed in" in phone.get("/").get_data(as_text=True)
    assert refresh(client, notes, online["refresh_token"]).status_code == 400
    assert refresh(client, notes, offline["refresh_token"]).status_code == 200


def test_sign_out_everywhere_ends_this_session_too(app, browser, client, two_apps):
    notes, _ = two_apps
    tokens = login_tokens(browser, client, notes, scope="openid")
    account = browser.get("/account")
    response = browser.submit(account, "/account/sessions/end-all", {})
    assert response.status_code == 303
    assert "not signed in" in browser.get("/").get_data(as_text=True)
    assert introspect(client, notes, tokens["access_token"]) == {"active": False}


def test_revoking_an_app_forgets_consent_and_its_refresh_tokens(browser, client, two_apps):
    notes, _ = two_apps
    tokens = login_tokens(browser, client, notes, scope="openid offline_access")
    account = browser.get("/account")
    assert "Notes" in account.get_data(as_text=True)
    browser.submit(account, "/account/apps/revoke", {"client_id": notes.client_id})
    assert refresh(client, notes, tokens["refresh_token"]).status_code == 400
    _, again = _code(browser, notes, REDIRECT_URI)
    assert 'name="decision" value="allow"' in again.get_data(as_text=True)


def _end_session_url(**params) -> str:
    return "/session/end?" + urlencode(params)


def test_rp_initiated_logout_with_hint_redirects_with_state(browser, client, two_apps):
    notes, _ = two_apps
    tokens = login_tokens(browser, client, notes, scope="openid")
    response = browser.get(
        _end_session_url(
            id_token_hint=tokens["id_token"], post_logout_redirect_uri=AFTER_LOGOUT, state="s1"
        )
    )
    assert response.status_code == 302
    assert response.headers["Location"] == AFTER_LOGOUT + "?state=s1"
    assert "not signed in" in browser.get("/").get_data(as_text=True)
    silent = AuthorizationRequest(notes.client_id, REDIRECT_URI, extra={"prompt": "none"})
    assert query(browser.get(silent.url()).headers["Location"])["error"] == "login_required"
    assert introspect(client, notes, tokens["access_token"]) == {"active": False}


def test_rp_initiated_logout_with_an_expired_hint_still_works(browser, client, two_apps):
    notes, _ = two_apps
    tokens = login_tokens(browser, client, notes, scope="openid")
    clock.advance(3600)
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    response = browser.get(
        _end_session_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=AFTER_LOGOUT)
    )
    assert response.headers["Location"] == AFTER_LOGOUT


def test_rp_initiated_logout_without_hint_asks_first(browser, two_apps):
    notes, _ = two_apps
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    page = browser.get(
        _end_session_url(
            client_id=notes.client_id, post_logout_redirect_uri=AFTER_LOGOUT, state="s2"
        )
    )
    assert page.status_code == 200
    assert "Sign out?" in page.get_data(as_text=True)
    assert "signed in as" in browser.get("/").get_data(as_text=True)  # nothing yet
    forged = browser.client.post("/session/end/confirm", data={"decision": "logout"})
    assert forged.status_code == 400  # no CSRF token
    done = browser.submit(page, "/session/end/confirm", {"decision": "logout"})
    assert done.headers["Location"] == AFTER_LOGOUT + "?state=s2"
    assert "not signed in" in browser.get("/").get_data(as_text=True)


def test_unregistered_post_logout_redirect_uri_is_not_followed(browser, client, two_apps):
    notes, _ = two_apps
    tokens = login_tokens(browser, client, notes, scope="openid")
    response = browser.get(
        _end_session_url(
            id_token_hint=tokens["id_token"], post_logout_redirect_uri="https://evil.example/"
        )
    )
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "You are signed out" in response.get_data(as_text=True)


def _signed_by_idp(app, header: dict, claims: dict) -> str:
    with app.app_context():
        keys = app.extensions["idp.keys"].signing_keyset("RS256")
        return jwt.encode({"alg": "RS256", **header}, claims, keys)


def test_logout_accepts_only_id_tokens_as_hint(app, browser, client, two_apps):
    notes, _ = two_apps
    tokens = login_tokens(browser, client, notes, scope="openid")
    id_claims = jwt.decode(
        tokens["id_token"], KeySet.import_key_set(client.get("/jwks.json").get_json())
    ).claims
    logout_token = _signed_by_idp(
        app,
        {"typ": "logout+jwt"},
        {**id_claims, "events": {backchannel.EVENT: {}}},
    )
    untyped_logout_token = _signed_by_idp(app, {}, {**id_claims, "events": {backchannel.EVENT: {}}})
    for hint in (tokens["access_token"], logout_token, untyped_logout_token):
        refused = browser.get(
            _end_session_url(id_token_hint=hint, post_logout_redirect_uri=AFTER_LOGOUT)
        )
        assert refused.status_code == 400
        assert "Location" not in refused.headers
    assert "signed in as" in browser.get("/").get_data(as_text=True)


def test_logout_hint_must_be_for_the_named_client(browser, client, two_apps):
    notes, calendar = two_apps
    tokens = login_tokens(browser, client, notes, scope="openid")
    refused = browser.get(
        _end_session_url(id_token_hint=tokens["id_token"], client_id=calendar.client_id)
    )
    assert refused.status_code == 400
    assert "signed in as" in browser.get("/").get_data(as_text=True)


def test_another_users_hint_asks_before_signing_out(app, browser, client, two_apps):
    notes, _ = two_apps
    make_user(app, "mallory@example.com", "mallory's own passphrase")
    attacker = Browser(app.test_client())
    request = AuthorizationRequest(notes.client_id, REDIRECT_URI, scope="openid")
    answer = query(
        attacker.authorize(request, "mallory@example.com", "mallory's own passphrase").headers[
            "Location"
        ]
    )
    attacker_tokens = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": request.verifier,
        },
        auth=(notes.client_id, notes.plain_secret),
    ).get_json()

    browser.sign_in(USER_EMAIL, USER_PASSWORD)  # the victim
    link = _end_session_url(
        id_token_hint=attacker_tokens["id_token"], post_logout_redirect_uri=AFTER_LOGOUT
    )
    page = browser.get(link)
    assert page.status_code == 200
    assert "Sign out?" in page.get_data(as_text=True)
    assert "signed in as" in browser.get("/").get_data(as_text=True)

    done = browser.submit(page, "/session/end/confirm", {"decision": "logout"})
    assert done.headers["Location"] == AFTER_LOGOUT
    assert "not signed in" in browser.get("/").get_data(as_text=True)
    assert "signed in as" in attacker.get("/").get_data(as_text=True)  # not theirs to end


class Receiver:
    """A relying party's back-channel logout endpoint on loopback; fails the first N posts."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[dict] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                from urllib.parse import parse_qs

                length = int(self.headers["Content-Length"])
                form = parse_qs(self.rfile.read(length).decode())
                receiver.received.append(form)
                status = 500 if len(receiver.received) <= receiver.failures else 200
                self.send_response(status)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def log_message(self, *args):
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_port}/backchannel-logout"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def factory(failures=0):
        made.append(Receiver(failures))
        return made[-1]

    yield factory
    for item in made:
        item.close()


def test_back_channel_logout_posts_a_signed_logout_token(app, browser, client, user, receiver):
    rp = receiver(failures=1)
    notes = make_client(
        app,
        "Notes",
        [REDIRECT_URI],
        backchannel_logout_uri=rp.uri,
        backchannel_logout_session_required=True,
    )
    tokens = login_tokens(browser, client, notes, scope="openid")
    home = browser.get("/")
    browser.submit(home, "/logout", {})
    deliver_outbox(app)

    assert len(rp.received) == 2  # the first attempt failed, the retry was accepted
    logout_token = rp.received[-1]["logout_token"][0]
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    decoded = jwt.decode(logout_token, keys, algorithms=["RS256"])
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims
    claims = decoded.claims
    assert decoded.header["typ"] == "logout+jwt"
    assert claims["iss"] == "http://127.0.0.1:5000"
    assert claims["aud"] == notes.client_id
    assert claims["sub"] == str(user.id)
    assert claims["sid"] == id_token["sid"]
    assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert {"iat", "exp", "jti"} <= set(claims)
    assert "nonce" not in claims

    from idp.extensions import db
    from idp.models import AuditEvent

    with app.app_context():
        delivered = db.session.execute(
            db.select(AuditEvent).filter_by(event_type="backchannel_logout_delivered")
        ).scalar_one()
    assert delivered.details["attempts"] == 2


def test_back_channel_logout_gives_up_after_bounded_retries(app, browser, client, user, receiver):
    rp = receiver(failures=99)
    notes = make_client(app, "Notes", [REDIRECT_URI], backchannel_logout_uri=rp.uri)
    login_tokens(browser, client, notes, scope="openid")
    browser.submit(browser.get("/"), "/logout", {})
    deliver_outbox(app)
    assert len(rp.received) == 4
    from idp.extensions import db
    from idp.models import AuditEvent

    with app.app_context():
        failed = db.session.execute(
            db.select(AuditEvent).filter_by(event_type="backchannel_logout_failed")
        ).scalar_one()
    assert failed.details == {"attempts": 4, "outcome": "HTTP 500"}


def test_apps_without_tokens_in_the_session_are_not_told(app, browser, client, user, receiver):
    rp = receiver()
    make_client(app, "Unused", [REDIRECT_URI], backchannel_logout_uri=rp.uri)
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    browser.submit(browser.get("/"), "/logout", {})
    deliver_outbox(app)
    assert rp.received == []


def test_discovery_advertises_logout(client):
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["end_session_endpoint"].endswith("/session/end")
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True
