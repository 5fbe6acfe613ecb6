"""The `make run` demo ends on a working page: /demo signs in through the demo app and
shows the ID-token claims and userinfo."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from idp.cli import DEMO_EMAIL, DEMO_PASSWORD, main

from ..helpers import Browser


def _seed(settings):
    """`idp demo` against the test database, as `make run` runs it."""
    env = {
        "IDP_ENV": "development",
        "IDP_ISSUER": "http://localhost",
        "DATABASE_URL": settings["database_url"],
        "REDIS_URL": settings["redis_url"],
        "IDP_REDIS_PREFIX": settings["redis_prefix"],
        "IDP_KEYS_DIR": settings["keys_dir"],
        "IDP_SECRET_KEY": settings["secret_key"],
    }
    result = CliRunner().invoke(main, ["demo"], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_demo_page_signs_in_and_shows_claims_and_userinfo(make_app, settings):
    app = make_app(issuer="http://localhost")
    output = _seed(settings)
    assert "  http://localhost/demo\n" in output
    client_id = json.loads(output.split("\nOpen this URL")[0])["client"]["client_id"]
    assert "redirect_uri=http%3A%2F%2Flocalhost%2Fdemo%2Fcallback" in output

    browser = Browser(app.test_client())
    login = browser.follow(browser.get("/demo"))
    consent = browser.follow(
        browser.submit(login, "/login", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    )
    assert "Demo app" in consent.get_data(as_text=True)
    result = browser.follow(browser.submit(consent, "/consent", {"decision": "allow"}))
    html = result.get_data(as_text=True)
    assert result.status_code == 200, html
    assert re.search(r"<th>aud</th><td>[^<]*" + re.escape(client_id), html), html[-3000:]
    assert "<th>email</th><td>demo@example.com</td>" in html
    assert "The nonce matches" in html
    assert '"email": "demo@example.com"' in html  # userinfo


def test_a_denied_demo_sign_in_says_so_and_offers_to_start_again(
    make_app, monkeypatch, settings
):
    app = make_app(issuer="http://localhost")
    _seed(settings)
    browser = Browser(app.test_client())
    login = browser.follow(browser.get("/demo"))
    consent = browser.follow(
        browser.submit(login, "/login", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    )
    result = browser.follow(browser.submit(consent, "/consent", {"decision": "deny"}))
    html = result.get_data(as_text=True)
    assert "access_denied" in html
    assert 'href="/demo">Start again</a>' in html


def test_the_demo_page_explains_itself_without_the_demo_client(client):
    page = client.get("/demo")
    assert page.status_code == 404
    assert "Run “idp demo”" in page.get_data(as_text=True)
