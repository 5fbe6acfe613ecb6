"""A real server on a loopback port, and a relying party using Authlib's OAuth2 client."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

from ..conftest import USER_EMAIL, USER_PASSWORD, make_client

RP_REDIRECT_URI = "http://127.0.0.1:8765/callback"


def _browser_login(start_url: str, redirect_uri: str) -> str:
    """Sign in and consent like a person; return the redirect that reaches the RP."""
    browser = requests.Session()
    url = start_url
    for _ in range(12):
        response = browser.get(url, allow_redirects=False, timeout=10)
        if response.status_code == 200:
            html = response.text
            form = {
                "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
                "ix": re.search(r'name="ix" value="([^"]+)"', html).group(1),
            }
            if 'autocomplete="current-password"' in html:
                action = "/login"
                form.update(email=USER_EMAIL, password=USER_PASSWORD)
            else:
                action = "/consent"
                form["decision"] = "allow"
            response = browser.post(
                urljoin(url, action), data=form, allow_redirects=False, timeout=10
            )
        location = response.headers["Location"]
        if location.startswith(redirect_uri):
            return location
        url = urljoin(url, location)
    raise AssertionError("the login never reached the relying party")


def test_authlib_client_logs_in_with_code_and_pkce_and_validates_the_id_token(live_server, user):
    app, issuer = live_server
    registered = make_client(app, "Live RP", [RP_REDIRECT_URI])
    metadata = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()

    rp = OAuth2Session(
        registered.client_id,
        registered.plain_secret,
        scope="openid profile email",
        redirect_uri=RP_REDIRECT_URI,
        code_challenge_method="S256",
    )
    verifier = "v" * 20 + "erifier-with-enough-entropy-0123456789"
    url, state = rp.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce="n-0S6_WzA2Mj"
    )
    callback = _browser_login(url, RP_REDIRECT_URI)
    assert f"iss={issuer}".replace(":", "%3A").replace("/", "%2F") in callback

    token = rp.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    jwks = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    decoded = jwt.decode(token["id_token"], jwks, algorithms=["RS256"])
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {
            "iss": {"value": issuer},
            "aud": {"value": registered.client_id},
            "nonce": {"value": "n-0S6_WzA2Mj"},
        },
        params={"access_token": token["access_token"]},
    )
    claims.validate()  # also checks at_hash against the access token

    userinfo = rp.get(metadata["userinfo_endpoint"], timeout=10).json()
    assert userinfo["email"] == USER_EMAIL
    assert userinfo["sub"] == decoded.claims["sub"]
