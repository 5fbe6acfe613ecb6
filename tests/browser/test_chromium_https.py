"""A real Chromium signs in over https: the forms pass idp's CSRF and origin checks.

Playwright drives Debian's Chromium (/usr/bin/chromium; `.ci/run` installs it) against idp
served by werkzeug with a self-signed certificate made here. Without Chromium this test
fails, it does not skip: the https sign-in is what it guards.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server

from ..conftest import REDIRECT_URI, USER_EMAIL, USER_PASSWORD, make_client, make_user
from ..helpers import AuthorizationRequest

CHROMIUM = os.environ.get("IDP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--ignore-certificate-errors",
]


def _self_signed(directory) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def https_idp(make_app, tmp_path):
    """idp on https://127.0.0.1:<free port>, its issuer, in a thread."""
    server = make_server("127.0.0.1", 0, None, threaded=True, ssl_context=_self_signed(tmp_path))
    issuer = f"https://127.0.0.1:{server.server_port}"
    server.app = make_app(issuer=issuer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.app, issuer
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def chromium():
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: apt-get install -y chromium "
            "(or set IDP_TEST_CHROMIUM)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_chromium_signs_in_and_consents_over_https(https_idp, chromium):
    app, issuer = https_idp
    make_user(app, USER_EMAIL, USER_PASSWORD)
    rp = make_client(app, "RP", [REDIRECT_URI], scope="openid profile email")
    request = AuthorizationRequest(rp.client_id, REDIRECT_URI)

    context = chromium.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    landed: list[str] = []
    posts: list[dict] = []

    def at_rp(route):  # the relying party is not on the network: answer in the browser
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="rp")

    page.route(f"{REDIRECT_URI}**", at_rp)
    page.on("request", lambda r: posts.append(r.all_headers()) if r.method == "POST" else None)

    page.goto(issuer + request.url())
    page.fill("#email", USER_EMAIL)
    page.fill("#password", USER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if not landed:
        page.click("button[name=decision][value=allow]")
        page.wait_for_url(f"{REDIRECT_URI}**")
    context.close()

    assert landed, "the browser never reached the client's redirect URI"
    answer = {k: v[0] for k, v in parse_qs(urlsplit(landed[0]).query).items()}
    assert answer.get("code"), answer
    assert answer["state"] == request.state
    assert answer["iss"] == issuer
    # What the browser sent with the forms under idp's referrer policy.
    assert posts and all(headers.get("origin") == issuer for headers in posts), posts
    assert all(headers.get("referer", "").startswith(issuer + "/") for headers in posts)
