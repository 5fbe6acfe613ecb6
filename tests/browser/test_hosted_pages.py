"""The hosted pages in a real Chromium: the end-user flows, axe-core on every page, screenshots.

Each page a flow reaches is checked with axe-core (tests/browser/vendor/axe.min.js, injected,
0 violations allowed) and photographed at 1280x800 and 390x844 into IDP_SCREENSHOTS_DIR
(default build/screenshots/, kept as CI artifacts; README "Tested in a browser"). One
Chromium for the module and short timeouts keep the suite bounded (about a minute).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from idp import clock
from idp.config import PROJECT_ROOT

from ..conftest import REDIRECT_URI, USER_EMAIL, USER_PASSWORD, make_client, make_user
from ..helpers import AuthorizationRequest
from .test_chromium_https import CHROMIUM, CHROMIUM_ARGS

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SCREENSHOTS = Path(os.environ.get("IDP_SCREENSHOTS_DIR", PROJECT_ROOT / "build" / "screenshots"))
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def chromium():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def serve_idp(make_app, serve):
    """serve_idp(**settings) -> (app, issuer): idp on a free loopback port, in a thread."""
    return lambda **overrides: serve(lambda issuer: make_app(issuer=issuer, **overrides))


def _new_page(chromium, **context_options):
    # bypass_csp: axe is injected as an inline script, which idp's CSP (rightly) refuses.
    context = chromium.new_context(bypass_csp=True, **context_options)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    landed: list[str] = []

    def at_rp(route):  # the relying party is not on the network: answer in the browser
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="rp")

    page.route(f"{REDIRECT_URI}**", at_rp)
    return context, page, landed


def check(page, name: str) -> None:
    """axe-core finds nothing on this page; screenshots at desktop and phone sizes."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    violations = [
        f"{v['id']}: {v['help']} ({', '.join(n['target'][0] for n in v['nodes'][:3])})"
        for v in result["violations"]
    ]
    assert not violations, f"{name} ({page.url}): {violations}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in VIEWPORTS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, f"{name} scrolls sideways at {width}px"
    page.set_viewport_size({"width": 1280, "height": 800})


def _answer(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_sign_in_consent_cancel_and_a_second_language(serve_idp, chromium):
    app, issuer = serve_idp()
    make_user(app, USER_EMAIL, USER_PASSWORD, name="Ada")
    rp = make_client(app, "Lovelace Notes", [REDIRECT_URI], scope="openid profile email")
    context, page, landed = _new_page(chromium)

    denied = AuthorizationRequest(rp.client_id, REDIRECT_URI)
    page.goto(issuer + denied.url())
    check(page, "sign-in")
    page.click("button.password-toggle")
    assert page.get_attribute("#password", "type") == "text"
    page.fill("#email", USER_EMAIL)
    page.fill("#password", USER_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_selector("button[name=decision]")
    check(page, "consent")
    page.click("button[name=decision][value=deny]")
    page.wait_for_url(f"{REDIRECT_URI}**")
    assert _answer(landed[-1])["error"] == "access_denied"

    allowed = AuthorizationRequest(rp.client_id, REDIRECT_URI)
    page.goto(issuer + allowed.url())
    page.click("button[name=decision][value=allow]")
    page.wait_for_url(f"{REDIRECT_URI}**")
    assert _answer(landed[-1])["state"] == allowed.state and _answer(landed[-1])["code"]

    page.goto(issuer + "/")
    check(page, "home-signed-in")
    page.goto(issuer + "/no-such-page")
    check(page, "error-404")
    context.close()

    context, page, _ = _new_page(chromium, locale="fr-FR")
    page.goto(issuer + "/login")
    assert page.get_attribute("html", "lang") == "fr"
    assert page.inner_text("h1") == "Se connecter"
    check(page, "sign-in-fr")
    page.click("a[hreflang=de]")
    assert page.inner_text("h1") == "Anmelden"
    context.close()


def test_registration_verification_and_password_reset(serve_idp, chromium, mailbox):
    app, issuer = serve_idp(smtp_url=f"smtp://127.0.0.1:{mailbox.port}")
    context, page, _ = _new_page(chromium)
    page.goto(issuer + "/register")
    check(page, "register")
    page.fill("#name", "Grace")
    page.fill("#email", "grace@example.com")
    page.fill("#password", "a long passphrase for grace")
    page.click("form button[type=submit]")
    check(page, "check-your-email")
    page.goto(mailbox.link(mailbox.wait_for(1)))
    check(page, "verify-email")
    page.click("form button[type=submit]")
    assert "confirmed" in page.inner_text("h1")

    page.goto(issuer + "/password/forgot")
    check(page, "forgot-password")
    page.fill("#email", "grace@example.com")
    page.click("form button[type=submit]")
    page.goto(mailbox.link(mailbox.wait_for(2)))
    check(page, "reset-password")
    page.fill("#password", "another long passphrase")
    page.click("form button[type=submit]")
    assert "changed" in page.inner_text("h1").lower()
    context.close()


def test_totp_enrollment_sign_in_account_and_logout(serve_idp, chromium):
    app, issuer = serve_idp()
    make_user(app, USER_EMAIL, USER_PASSWORD, name="Ada")
    context, page, _ = _new_page(chromium)
    page.goto(issuer + "/login?next=account")
    page.fill("#email", USER_EMAIL)
    page.fill("#password", USER_PASSWORD)
    page.click("form button[type=submit]")
    page.goto(issuer + "/account")
    check(page, "account")
    page.goto(issuer + "/account/password")
    check(page, "change-password")
    page.goto(issuer + "/account/mfa")
    check(page, "mfa-settings")
    page.click("form[action$='/account/mfa/setup'] button")
    check(page, "mfa-setup")
    secret = page.inner_text("#secret")
    confirm = "form[action$='/account/mfa/confirm'] button[type=submit]"
    page.fill("#code", "000000")
    page.click(confirm)
    assert "authenticator app shows now" in page.inner_text("[role=alert]")
    page.fill("#code", pyotp.TOTP(secret).at(clock.now()))
    page.click(confirm)
    check(page, "recovery-codes")
    clock.advance(30)

    page.goto(issuer + "/account")
    page.click(".account-nav button")  # sign out from the account navigation
    page.goto(issuer + "/login")
    page.fill("#email", USER_EMAIL)
    page.fill("#password", USER_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_selector("#code")
    check(page, "mfa-sign-in")
    page.fill("#code", pyotp.TOTP(secret).at(clock.now()))
    page.click("form button[type=submit]")
    page.goto(issuer + "/")
    assert USER_EMAIL in page.inner_text("main")
    context.close()


def test_admin_guard_rails_and_a_theme_override(serve_idp, chromium, tmp_path):
    (tmp_path / "base.html").write_text(
        '{% extends "idp/base.html" %}{% block footer %}'
        '<footer class="theme">Acme ID help desk</footer>{% endblock %}'
    )
    app, issuer = serve_idp(
        templates_dir=str(tmp_path), brand_name="Acme ID", brand_primary_color="#0b6e4f"
    )
    make_user(app, "root@example.com", USER_PASSWORD, roles=["admin"])
    user = make_user(app, USER_EMAIL, USER_PASSWORD)
    context, page, _ = _new_page(chromium)
    page.goto(issuer + "/login")
    assert page.inner_text("footer.theme") == "Acme ID help desk"
    assert page.title() == "Sign in · Acme ID"
    check(page, "themed-sign-in")
    page.fill("#email", "root@example.com")
    page.fill("#password", USER_PASSWORD)
    page.click("form button[type=submit]")
    for path, name in (
        ("/admin/", "admin-overview"),
        ("/admin/users", "admin-users"),
        ("/admin/clients", "admin-clients"),
        ("/admin/audit", "admin-audit"),
    ):
        page.goto(issuer + path)
        check(page, name)
    page.goto(issuer + "/admin/users?email=root")
    page.click("text=root@example.com")
    page.click("button.danger:has-text('Disable')")
    assert "disable your own account" in page.inner_text("[role=alert]")
    page.goto(f"{issuer}/admin/users/{user.id}")
    check(page, "admin-user")
    page.click("button.danger:has-text('Delete user')")
    check(page, "admin-confirm")
    page.click("button.danger")
    assert re.search("was deleted", page.inner_text("[role=status]"))
    context.close()
