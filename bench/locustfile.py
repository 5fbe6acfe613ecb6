"""Realistic traffic for the soak test: code-flow logins with consent, refreshes, userinfo,
introspection, discovery and JWKS. Driven by bench/run_soak.sh against gunicorn on loopback.

Each simulated user signs in once through the hosted pages (login + consent), then keeps
refreshing and calling endpoints as an app and its API would; now and then it signs in again.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import re
import secrets
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from locust import HttpUser, between, task

SEED = json.load(open(os.environ["IDP_SOAK_SEED"]))  # noqa: SIM115 - read once at import
USERS = itertools.cycle(SEED["users"])
REDIRECT_URI = SEED["redirect_uri"]
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


class AppUser(HttpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.email, self.password = next(USERS)
        self.auth = (SEED["client_id"], SEED["client_secret"])
        self.sign_in()

    def sign_in(self) -> None:
        """The browser part of the code flow, then the code exchange."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        params = {
            "response_type": "code",
            "client_id": SEED["client_id"],
            "redirect_uri": REDIRECT_URI,
            "scope": "openid profile email",
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
            "code_challenge_method": "S256",
            "code_challenge": challenge.rstrip(b"=").decode(),
        }
        url = "/authorize?" + urlencode(params)
        response = self.client.get(url, name="GET /authorize", allow_redirects=False)
        for _ in range(8):
            location = response.headers.get("Location", "")
            if location.startswith(REDIRECT_URI):
                break
            if response.status_code in (302, 303):
                path = urlsplit(urljoin(self.host, location))
                name = f"GET {path.path}"
                response = self.client.get(
                    f"{path.path}?{path.query}", name=name, allow_redirects=False
                )
                continue
            fields = dict(HIDDEN.findall(response.text))
            if 'autocomplete="current-password"' in response.text:
                response = self.client.post(
                    "/login",
                    name="POST /login",
                    allow_redirects=False,
                    data={**fields, "email": self.email, "password": self.password},
                )
            elif 'name="decision"' in response.text:
                response = self.client.post(
                    "/consent",
                    name="POST /consent",
                    allow_redirects=False,
                    data={**fields, "decision": "allow"},
                )
            else:
                response.failure("unexpected page in the login flow")
                return
        code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
        tokens = self.client.post(
            "/token",
            name="/token authorization_code",
            auth=self.auth,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
        )
        self.tokens = tokens.json()

    @task(3)
    def refresh(self) -> None:
        response = self.client.post(
            "/token",
            name="/token refresh_token",
            auth=self.auth,
            data={"grant_type": "refresh_token", "refresh_token": self.tokens["refresh_token"]},
        )
        if response.status_code == 200:
            self.tokens = response.json()

    @task(5)
    def userinfo(self) -> None:
        self.client.get(
            "/userinfo",
            name="/userinfo",
            headers={"Authorization": f"Bearer {self.tokens['access_token']}"},
        )

    @task(3)
    def introspect(self) -> None:
        with self.client.post(
            "/introspect",
            name="/introspect",
            auth=self.auth,
            data={"token": self.tokens["access_token"]},
            catch_response=True,
        ) as response:
            if response.status_code == 200 and response.json().get("active") is not True:
                response.failure("a fresh access token was inactive")

    @task(2)
    def jwks(self) -> None:
        self.client.get("/jwks.json", name="/jwks.json")

    @task(1)
    def discovery(self) -> None:
        self.client.get("/.well-known/openid-configuration", name="discovery")

    @task(1)
    def sign_in_again(self) -> None:
        """Another person on this device: a new sign-in, and consent the first time."""
        self.client.cookies.clear()
        self.email, self.password = next(USERS)
        self.sign_in()
