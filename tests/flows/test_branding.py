"""Branding and theming without forking: IDP_BRAND_*, IDP_TEMPLATES_DIR, IDP_BRAND_DIR."""

from __future__ import annotations

import pytest

from idp.config import ConfigError, load_config

from ..conftest import USER_EMAIL, USER_PASSWORD, make_user
from ..helpers import Browser


def test_the_brand_name_replaces_idp_in_titles_headings_and_mail(make_app, mailbox):
    app = make_app(brand_name="Acme ID", smtp_url=f"smtp://127.0.0.1:{mailbox.port}")
    browser = Browser(app.test_client())
    login = browser.get("/login").get_data(as_text=True)
    assert "<title>Sign in · Acme ID</title>" in login
    assert 'class="brand-name">Acme ID<' in login
    assert "<h1>Acme ID</h1>" in browser.get("/").get_data(as_text=True)
    assert "· idp" not in login

    make_user(app, USER_EMAIL, USER_PASSWORD)
    forgot = browser.get("/password/forgot")
    browser.submit(forgot, "/password/forgot", {"email": USER_EMAIL})
    message = mailbox.wait_for(1)
    assert message["From"] == "Acme ID <no-reply@localhost>"
    assert mailbox.text(message).rstrip().endswith("Acme ID")


def test_an_explicit_mail_sender_wins_over_the_brand_name():
    config = load_config({"brand_name": "Acme ID", "mail_from": "Acme <id@acme.example>"})
    assert config.mail_from == "Acme <id@acme.example>"


def test_the_primary_colour_is_served_as_a_stylesheet_with_a_readable_text_colour(make_app):
    client = make_app(brand_primary_color="#FC0").test_client()
    assert "/brand.css" in client.get("/login").get_data(as_text=True)
    css = client.get("/brand.css")
    assert css.mimetype == "text/css"
    text = css.get_data(as_text=True)
    assert "--idp-primary: #ffcc00" in text
    assert "--idp-on-primary: #1d2330" in text  # dark text on yellow
    dark = make_app(brand_primary_color="#102030").test_client().get("/brand.css")
    assert "--idp-on-primary: #ffffff" in dark.get_data(as_text=True)


def test_without_a_colour_no_brand_stylesheet_is_linked(client):
    assert "/brand.css" not in client.get("/login").get_data(as_text=True)


def test_logo_favicon_and_stylesheet_are_linked_and_the_brand_folder_is_served(
    make_app, tmp_path
):
    folder = tmp_path / "brand"
    folder.mkdir()
    (folder / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (folder / "theme.css").write_text("body { background: #fff; }")
    (tmp_path / "secret.txt").write_text("not for the web")
    app = make_app(
        brand_name="Acme ID",
        brand_dir=str(folder),
        brand_logo_url="/brand/logo.svg",
        brand_favicon_url="https://cdn.acme.example/favicon.ico",
        brand_stylesheet_url="https://cdn.acme.example/theme.css",
    )
    client = app.test_client()
    page = client.get("/login")
    html = page.get_data(as_text=True)
    assert '<img class="brand-logo" src="/brand/logo.svg" alt="Acme ID">' in html
    assert '<link rel="icon" href="https://cdn.acme.example/favicon.ico">' in html
    assert '<link rel="stylesheet" href="https://cdn.acme.example/theme.css">' in html
    policy = page.headers["Content-Security-Policy"]
    assert "style-src 'self' https://cdn.acme.example" in policy
    assert "img-src 'self' https:" in policy
    assert _fetch(client, "/brand/logo.svg") == (200, "image/svg+xml")
    assert _fetch(client, "/brand/theme.css") == (200, "text/css")
    assert _fetch(client, "/brand/missing.png")[0] == 404
    assert _fetch(client, "/brand/..%2fsecret.txt")[0] == 404
    assert _fetch(client, "/brand/%2e%2e/secret.txt")[0] == 404


def _fetch(client, path):
    with client.get(path) as response:
        response.get_data()
        return response.status_code, response.mimetype


def test_the_brand_folder_is_not_served_when_unset(client):
    assert client.get("/brand/logo.svg").status_code == 404


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("brand_primary_color", "red"),
        ("brand_primary_color", "#12345"),
        ("brand_logo_url", "javascript:alert(1)"),
        ("brand_logo_url", "data:image/svg+xml,<svg/>"),
        ("brand_logo_url", "//evil.example/logo.png"),
        ("brand_logo_url", "http://cdn.example/logo.png"),
        ("brand_stylesheet_url", "https://cdn.example/a.css' 'unsafe-inline"),
        ("brand_name", ""),
        ("brand_name", "Acme\nBcc: x@example.com"),
        ("templates_dir", "/nonexistent/templates"),
        ("brand_dir", "/nonexistent/brand"),
    ],
)
def test_unusable_brand_settings_stop_the_start_with_the_variable_named(setting, value):
    with pytest.raises(ConfigError, match=f"IDP_{setting.upper()}"):
        load_config({setting: value})


def test_http_logo_on_loopback_is_for_development_only():
    load_config({"brand_logo_url": "http://127.0.0.1:9000/logo.png"})
    with pytest.raises(ConfigError, match="IDP_BRAND_LOGO_URL"):
        load_config(
            {
                "env": "production",
                "brand_logo_url": "http://127.0.0.1:9000/logo.png",
                "secret_key": "x" * 40,
                "issuer": "https://id.example",
                "smtp_url": "smtp://127.0.0.1",
                "redis_url": "redis://127.0.0.1",
            }
        )


def test_an_operator_template_overrides_one_page_and_can_extend_the_original(
    make_app, tmp_path
):
    (tmp_path / "auth").mkdir()
    (tmp_path / "auth" / "login.html").write_text(
        '{% extends "idp/auth/login.html" %}'
        "{% block intro %}<p id=\"notice\">Use your Acme account.</p>{% endblock %}"
    )
    client = make_app(templates_dir=str(tmp_path)).test_client()
    login = client.get("/login").get_data(as_text=True)
    assert '<p id="notice">Use your Acme account.</p>' in login
    assert 'autocomplete="current-password"' in login  # the rest is the built-in page
    assert "Forgot your password?" in client.get("/password/forgot").get_data(as_text=True)


def test_an_operator_base_template_themes_every_page(make_app, tmp_path):
    (tmp_path / "base.html").write_text(
        '{% extends "idp/base.html" %}{% block footer %}<footer>© Acme</footer>{% endblock %}'
    )
    client = make_app(templates_dir=str(tmp_path)).test_client()
    for path in ("/login", "/register", "/password/forgot", "/"):
        assert "<footer>© Acme</footer>" in client.get(path).get_data(as_text=True), path


def test_an_operator_mail_template_replaces_the_built_in_one(make_app, mailbox, tmp_path):
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "password_reset.txt").write_text("Acme reset: {{ link }}\n")
    app = make_app(templates_dir=str(tmp_path), smtp_url=f"smtp://127.0.0.1:{mailbox.port}")
    make_user(app, USER_EMAIL, USER_PASSWORD)
    browser = Browser(app.test_client())
    browser.submit(browser.get("/password/forgot"), "/password/forgot", {"email": USER_EMAIL})
    message = mailbox.wait_for(1)
    assert mailbox.text(message).startswith("Acme reset: http")
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Reset your password" in html  # the HTML part was not overridden
