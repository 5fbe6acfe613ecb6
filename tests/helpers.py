"""Test helpers: a browser that follows idp's pages, and an RP's authorization request."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet

CSRF_PATTERN = re.compile(r'name="csrf_token" value="([^"]+)"')
IX_PATTERN = re.compile(r'name="ix" value="([^"]+)"')
HIDDEN_PATTERN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


class ClosingClient(FlaskClient):
    """A test client that closes each response once read, as a WSGI server does after
    sending it: what idp does after a response (draining the outbox: mail, back-channel
    logouts, account jobs) has run when the call returns. Pass buffered=False to time a
    response alone, then close() it."""

    def open(self, *args, buffered: bool = True, **kwargs):
        return super().open(*args, buffered=buffered, **kwargs)


def deliver_outbox(app, timeout: float = 15.0) -> None:
    """Drain the app's outbox until nothing is queued, retries included (they wait for
    their backoff), as a web worker or `idp worker` would over time."""
    from idp.services import outbox

    with app.app_context():
        outbox.wait_until_delivered(timeout)


def csrf_token(html: str) -> str:
    match = CSRF_PATTERN.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@dataclass
class AuthorizationRequest:
    """What a relying party sends to /authorize, and keeps to check the answer."""

    client_id: str
    redirect_uri: str
    scope: str = "openid profile email"
    extra: dict = field(default_factory=dict)
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    pkce: bool = True

    def __post_init__(self):
        self.verifier, self.challenge = pkce_pair()

    def params(self) -> dict:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "nonce": self.nonce,
        }
        if self.pkce:
            params.update(code_challenge=self.challenge, code_challenge_method="S256")
        params.update(self.extra)
        return {k: v for k, v in params.items() if v is not None}

    def url(self) -> str:
        return "/authorize?" + urlencode(self.params())


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


class Browser:
    """A Flask test client used like a person's browser: follows redirects, fills forms."""

    def __init__(self, client):
        self.client = client

    def get(self, url: str, **kwargs):
        return self.client.get(url, **kwargs)

    def follow(self, response, stop_prefix: str | None = None):
        """Follow same-site redirects until a page, or a redirect to `stop_prefix`."""
        for _ in range(10):
            if response.status_code not in (301, 302, 303):
                return response
            location = response.headers["Location"]
            if stop_prefix and location.startswith(stop_prefix):
                return response
            if location.startswith("http") and not location.startswith("http://localhost"):
                return response
            response = self.client.get(location)
        raise AssertionError("too many redirects")

    def submit(self, page, action: str, data: dict):
        """Post the form like a browser: its hidden fields (CSRF token included) plus `data`."""
        html = page.get_data(as_text=True)
        form = {"csrf_token": csrf_token(html)}
        for name, value in HIDDEN_PATTERN.findall(html):
            form.setdefault(name, unescape(value))
        form.update(data)
        return self.client.post(action, data=form)

    def sign_in(self, email: str, password: str, page=None):
        page = page or self.client.get("/login")
        return self.submit(page, "/login", {"email": email, "password": password})

    def authorize(self, request: AuthorizationRequest, email=None, password=None, decision="allow"):
        """Run the browser part of the code flow; return the final response to the RP."""
        response = self.follow(self.client.get(request.url()), request.redirect_uri)
        for _ in range(4):
            html = response.get_data(as_text=True) if response.status_code == 200 else ""
            if 'autocomplete="current-password"' in html:
                response = self.sign_in(email, password, page=response)
            elif 'name="decision"' in html:
                response = self.submit(response, "/consent", {"decision": decision})
            else:
                return response
            response = self.follow(response, request.redirect_uri)
        return response


def verify_jwt(token: str, jwks: dict, algorithms=("RS256",)):
    """Verify a JWT's signature against a JWKS document, as a relying party would."""
    return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=list(algorithms))
