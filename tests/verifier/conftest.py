"""A real idp on a loopback port, a service client that mints tokens from it, and helpers."""

from __future__ import annotations

import collections
import threading
from types import SimpleNamespace

import pytest
import requests
from werkzeug.serving import make_server

from ..conftest import REDIRECT_URI, USER_EMAIL, USER_PASSWORD, make_client, make_user
from ..helpers import AuthorizationRequest, Browser, query

SERVICE_SCOPE = "reports:read reports:write"


class CountingServer:
    """idp on a loopback port; counts requests per path; the app can be swapped."""

    def __init__(self, app_factory):
        self._server = make_server("127.0.0.1", 0, self, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self.hits = collections.Counter()
        self.app = app_factory(issuer=self.issuer)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def __call__(self, environ, start_response):
        self.hits[environ.get("PATH_INFO", "")] += 1
        return self.app(environ, start_response)

    def close(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="session")
def idp_server(settings, migrated):
    """idp on a loopback port for the whole run; each test gets it reset (see `idp`)."""
    from idp import create_app

    from ..isolation import discard_app, stop_background_writers

    server = CountingServer(lambda issuer: create_app({**settings, "issuer": issuer}))
    app = server.app
    yield server
    server.close()
    stop_background_writers(app)
    discard_app(app)


@pytest.fixture
def idp(idp_server, world):
    """The run's idp server, its app reset after the test like `app`, its counts at zero."""
    app = world.share(idp_server.app)
    idp_server.hits.clear()
    yield idp_server
    idp_server.app = app  # a test may have swapped in a restarted idp


@pytest.fixture
def service(idp):
    """A confidential client with the client_credentials grant, and a way to mint tokens."""
    registered = make_client(
        idp.app, "Reports", [], grant_types=["client_credentials"], scope=SERVICE_SCOPE
    )

    def mint(scope: str | None = None) -> str:
        data = {"grant_type": "client_credentials"}
        if scope:
            data["scope"] = scope
        response = requests.post(
            f"{idp.issuer}/token",
            data=data,
            auth=(registered.client_id, registered.plain_secret),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    registered.mint = mint
    return registered


def revoke(issuer: str, registered, token: str) -> None:
    response = requests.post(
        f"{issuer}/revoke",
        data={"token": token, "token_type_hint": "access_token"},
        auth=(registered.client_id, registered.plain_secret),
        timeout=10,
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def user_tokens(idp):
    """Sign a user with roles in through the pages; return the token response and client."""
    make_user(idp.app, USER_EMAIL, USER_PASSWORD, name="Ada Lovelace", roles=["user", "editor"])
    registered = make_client(
        idp.app, "Lovelace Notes", [REDIRECT_URI], scope="openid profile email"
    )
    client = idp.app.test_client()
    request = AuthorizationRequest(registered.client_id, REDIRECT_URI)
    answer = query(
        Browser(client).authorize(request, USER_EMAIL, USER_PASSWORD).headers["Location"]
    )
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": request.verifier,
        },
        auth=(registered.client_id, registered.plain_secret),
    )
    assert response.status_code == 200, response.get_json()
    return SimpleNamespace(client=registered, browser=client, **response.get_json())


class SigningIdp(CountingServer):
    """idp with its own keys directory (an RS256 and an ES256 key), so tests can sign
    tokens with the very keys idp publishes: claims idp would never issue."""

    def __init__(self, make_app, keys_dir):
        from idp.oauth.keys import generate_key

        self.keys_dir = keys_dir
        self.kids = {alg: generate_key(keys_dir, alg) for alg in ("RS256", "ES256")}
        super().__init__(lambda issuer: make_app(issuer=issuer, keys_dir=str(keys_dir)))

    def private_key(self, alg: str = "RS256"):
        import json

        from joserfc.jwk import JWKRegistry

        document = json.loads((self.keys_dir / f"{self.kids[alg]}.json").read_text())
        return JWKRegistry.import_key(document["jwk"])

    def sign(self, claims: dict, alg: str = "RS256", **header) -> str:
        from joserfc import jwt

        header = {"alg": alg, "typ": "at+jwt", "kid": self.kids[alg], **header}
        return jwt.encode(header, claims, self.private_key(alg), algorithms=[alg])

    def sign_raw(self, header: dict, claims: dict, alg: str = "RS256") -> str:
        """Sign exactly this header (joserfc's encoder would refuse some of them)."""
        import base64
        import json

        from joserfc.jws import JWSRegistry

        def b64(data: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

        signing_input = f"{b64(header)}.{b64(claims)}"
        signature = JWSRegistry.algorithms[alg].sign(signing_input.encode(), self.private_key(alg))
        return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"

    def claims(self, **overrides) -> dict:
        import secrets
        import time

        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "user-1",
            "aud": "notes-app",
            "client_id": "notes-app",
            "scope": "notes:read",
            "roles": ["user"],
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + 900,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture
def signing_idp(make_app, tmp_path):
    server = SigningIdp(make_app, tmp_path / "keys")
    yield server
    server.close()
