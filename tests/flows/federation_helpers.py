"""Steps shared by the federation tests: a browser across idp and the upstream, and the RP."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from ..conftest import REDIRECT_URI
from ..helpers import AuthorizationRequest


class Browser:
    """A requests session following redirects across both servers, filling idp's forms."""

    def __init__(self) -> None:
        self.session = requests.Session()

    def get(self, url):
        return self.session.get(url, allow_redirects=False, timeout=20)

    def form_fields(self, html):
        return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))

    def post_form(self, page_url, html, action, data):
        return self.session.post(
            urljoin(page_url, action),
            data={**self.form_fields(html), **data},
            allow_redirects=False,
            timeout=20,
        )

    def run(self, url, stop_at, credentials=None, consent="allow", choose=None, max_steps=20):
        """Follow the flow until a redirect to `stop_at`; return (final URL or response)."""
        for _ in range(max_steps):
            response = self.get(url)
            while response.status_code == 200:
                html = response.text
                if choose and choose in html:
                    href = re.search(rf'href="([^"]+)">{re.escape(choose)}<', html).group(1)
                    url = urljoin(url, href.replace("&amp;", "&"))
                    choose = None
                    response = self.get(url)
                    continue
                if 'autocomplete="current-password"' in html and credentials:
                    email, password = credentials.pop(0)
                    response = self.post_form(
                        url, html, "/login", {"email": email, "password": password}
                    )
                elif 'name="decision"' in html:
                    response = self.post_form(url, html, "/consent", {"decision": consent})
                else:
                    return response
            if response.status_code not in (301, 302, 303):
                return response
            url = urljoin(url, response.headers["Location"])
            if url.startswith(stop_at):
                return url
        raise AssertionError("the flow did not finish")


def redeem(issuer, rp, request_, callback):
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    assert "code" in query, callback
    tokens = requests.post(
        f"{issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": request_.verifier,
        },
        auth=(rp.client_id, rp.plain_secret),
        timeout=20,
    ).json()
    keys = KeySet.import_key_set(requests.get(f"{issuer}/jwks.json", timeout=20).json())
    return jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims


def start(issuer, rp, **extra):
    request_ = AuthorizationRequest(rp.client_id, REDIRECT_URI, extra=extra)
    return request_, f"{issuer}{request_.url()}"
