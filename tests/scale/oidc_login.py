"""A person signing in to an app through a running idp, over real HTTP, one request per step.

Used by the scale suite (through nginx) and by the container check (`python -m
tests.scale.oidc_login BASE ...`). Redirects are followed by hand, so every step is its own
request and the caller sees which server answered each one. Cookies are carried by hand as
well: behind a TLS proxy idp's cookies are `Secure`, while this client may talk plain HTTP to
the container with `X-Forwarded-Proto: https`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import re
import secrets
import sys
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


@dataclass
class Login:
    base: str  # where requests go: the proxy, or the container
    client_id: str
    client_secret: str
    redirect_uri: str
    email: str
    password: str
    headers: dict = field(default_factory=dict)  # e.g. X-Forwarded-Proto for a bare container
    verify: bool | str = True
    steps: list = field(default_factory=list)  # (method, path, status, X-Upstream header)
    cookies: dict = field(default_factory=dict)

    def request(self, method: str, path_or_url: str, **kwargs) -> requests.Response:
        parts = urlsplit(path_or_url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {**self.headers, **kwargs.pop("headers", {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = requests.request(
            method,
            self.base + path,
            headers=headers,
            allow_redirects=False,
            verify=self.verify,
            timeout=10,
            **kwargs,
        )
        for cookie in response.cookies:
            self.cookies[cookie.name] = cookie.value
        self.steps.append(
            (method, parts.path, response.status_code, response.headers.get("X-Upstream"))
        )
        return response

    def submit(self, page: requests.Response, action: str, data: dict) -> requests.Response:
        form = dict(HIDDEN.findall(page.text))
        form = {name: html.unescape(value) for name, value in form.items()}
        form["csrf_token"] = CSRF.search(page.text).group(1)
        form.update(data)
        return self.request("POST", action, data=form)

    def run(self) -> dict:
        """The code flow with PKCE; return the token response (raises on any failure)."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        state = secrets.token_urlsafe(16)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "scope": "openid email",
                "redirect_uri": self.redirect_uri,
                "state": state,
                "nonce": secrets.token_urlsafe(16),
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256",
            }
        )
        response = self.request("GET", f"/authorize?{query}")
        for _ in range(8):
            if response.status_code in (302, 303):
                location = response.headers["Location"]
                if location.startswith(self.redirect_uri):
                    break
                response = self.request("GET", location)
            elif 'autocomplete="current-password"' in response.text:
                response = self.submit(
                    response, "/login", {"email": self.email, "password": self.password}
                )
            elif 'name="decision"' in response.text:
                response = self.submit(response, "/consent", {"decision": "allow"})
            else:
                raise AssertionError(
                    f"unexpected page {response.status_code} after {self.steps}: "
                    f"{re.sub(r'<[^>]+>', ' ', response.text).split()[-40:]}"
                )
        answer = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert answer.get("state") == state and "code" in answer, answer
        tokens = self.request(
            "POST",
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": answer["code"],
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            },
            auth=(self.client_id, self.client_secret),
        )
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
        userinfo = self.request(
            "GET", "/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert userinfo.status_code == 200 and userinfo.json()["email"] == self.email
        return body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    for name in ("client-id", "client-secret", "redirect-uri", "email", "password"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument(
        "--forwarded-https",
        action="store_true",
        help="send X-Forwarded-Proto: https (a container without its proxy)",
    )
    parser.add_argument("--insecure", action="store_true", help="accept a self-signed cert")
    args = parser.parse_args()
    login = Login(
        args.base.rstrip("/"),
        args.client_id,
        args.client_secret,
        args.redirect_uri,
        args.email,
        args.password,
        headers={"X-Forwarded-Proto": "https"} if args.forwarded_https else {},
        verify=not args.insecure,
    )
    tokens = login.run()
    print(
        f"signed in: {len(login.steps)} requests, token_type {tokens['token_type']}, "
        f"id_token {'present' if 'id_token' in tokens else 'MISSING'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
