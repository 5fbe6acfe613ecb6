"""Signing-key rotation over HTTP: tokens issued before a rotation keep verifying from JWKS,
running servers pick up `idp keys rotate` without a restart, and ES256 ID tokens."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from joserfc import jws

from idp import clock
from idp.cli import main
from idp.oauth import keys as keys_module
from idp.oauth.keys import generate_key

from ..conftest import REDIRECT_URI, make_client
from ..helpers import verify_jwt
from .tokens import introspect, login_tokens, refresh

JWKS_CACHE_SECONDS = 300  # IDP_METADATA_MAX_AGE's default
TOKEN_TTL = 900  # IDP_ACCESS_TOKEN_TTL and IDP_ID_TOKEN_TTL defaults


@pytest.fixture
def app(make_app, tmp_path):
    """An app on a keys directory of its own (one RS256 key), so rotations stay in this test."""
    directory = tmp_path / "keys"
    generate_key(directory, "RS256")
    return make_app(keys_dir=str(directory))


def _rotate(app, *args):
    """Run `idp keys rotate` against the app's keys directory, as cron would."""
    env = {"IDP_KEYS_DIR": app.config["IDP"].keys_dir, "IDP_ENV": "development"}
    result = CliRunner().invoke(main, ["keys", "rotate", *args], env=env)
    assert result.exit_code == 0, result.output
    return result


def _kid(token: str) -> str:
    return jws.extract_compact(token.encode()).headers()["kid"]


def _jwks_kids(client) -> set[str]:
    return {key["kid"] for key in client.get("/jwks.json").get_json()["keys"]}


def _userinfo(client, access_token):
    return client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def test_tokens_issued_before_a_rotation_keep_verifying_until_they_expire(
    app, browser, client, confidential_client, user
):
    ring = app.extensions["idp.keys"]
    old_kid = ring.signing_key().kid
    before = login_tokens(browser, client, confidential_client)
    assert _kid(before["id_token"]) == _kid(before["access_token"]) == old_kid
    first_jwks = client.get("/jwks.json")

    _rotate(app)  # the first rotation publishes the next key
    ring.refresh(force=True)
    upcoming = _jwks_kids(client) - {old_kid}
    assert len(upcoming) == 1
    assert client.get("/jwks.json").headers["ETag"] != first_jwks.headers["ETag"]
    assert ring.signing_key().kid == old_kid  # published first, signing later

    clock.advance(JWKS_CACHE_SECONDS + 11)
    _rotate(app)  # the next key has been in every cached JWKS: it signs from now on
    ring.refresh(force=True)
    new_kid = ring.signing_key().kid
    assert {new_kid} == upcoming

    jwks = client.get("/jwks.json").get_json()
    assert {old_kid, new_kid} < {key["kid"] for key in jwks["keys"]}
    claims = verify_jwt(before["id_token"], jwks).claims
    assert claims["sub"] == str(user.id)
    assert verify_jwt(before["access_token"], jwks).claims["sub"] == str(user.id)
    assert _userinfo(client, before["access_token"]).status_code == 200
    assert introspect(client, confidential_client, before["access_token"])["active"] is True

    after = refresh(client, confidential_client, before["refresh_token"]).get_json()
    assert _kid(after["id_token"]) == _kid(after["access_token"]) == new_kid
    assert verify_jwt(after["id_token"], jwks).claims["sub"] == str(user.id)

    # The retired key leaves JWKS once every token it signed can have expired.
    clock.advance(TOKEN_TTL)
    ring.refresh(force=True)
    assert old_kid in _jwks_kids(client)
    clock.advance(71)  # reload interval and clock leeway
    ring.refresh(force=True)
    assert old_kid not in _jwks_kids(client)
    assert new_kid in _jwks_kids(client)
    assert introspect(client, confidential_client, before["access_token"])["active"] is False


def test_running_servers_pick_up_a_cli_rotation_without_a_restart(app, make_app, monkeypatch, user):
    # Two workers on one keys directory; each checks it at most every RELOAD_CHECK_SECONDS.
    worker_a, worker_b = app, make_app(keys_dir=app.config["IDP"].keys_dir)
    service = make_client(
        app, "Reports", [], grant_types=["client_credentials"], scope="reports:read"
    )

    def service_token(worker):
        response = worker.test_client().post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=(service.client_id, service.plain_secret),
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()["access_token"]

    old_token = service_token(worker_a)
    old_kid = _kid(old_token)
    _rotate(app)
    clock.advance(JWKS_CACHE_SECONDS + 11)
    new_kid = json.loads(_rotate(app).output)["activated"]

    # Nothing restarts: once the check interval has passed, the next request reloads.
    monkeypatch.setattr(keys_module, "RELOAD_CHECK_SECONDS", 0)
    new_token = service_token(worker_a)  # a signing request, no JWKS request before it
    assert _kid(new_token) == new_kid
    for worker in (worker_a, worker_b):
        web = worker.test_client()
        assert {old_kid, new_kid} <= _jwks_kids(web)
        jwks = web.get("/jwks.json").get_json()
        for token in (old_token, new_token):
            assert verify_jwt(token, jwks).claims["sub"] == service.client_id
            answer = web.post(
                "/introspect", data={"token": token}, auth=(service.client_id, service.plain_secret)
            )
            assert answer.get_json()["active"] is True
    assert _kid(service_token(worker_b)) == new_kid


def test_discovery_lists_exactly_the_algorithms_of_active_keys(app, client):
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    generate_key(app.config["IDP"].keys_dir, "ES256")
    app.extensions["idp.keys"].refresh(force=True)
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in document["grant_types_supported"]


def test_a_client_registered_for_es256_gets_es256_id_tokens_verifiable_from_jwks(
    app, browser, client, user
):
    from idp.services.clients import ClientError

    with pytest.raises(ClientError):
        make_client(app, "EC app", [REDIRECT_URI], id_token_signed_response_alg="ES256")
    ec_kid = generate_key(app.config["IDP"].keys_dir, "ES256")
    app.extensions["idp.keys"].refresh(force=True)
    ec_client = make_client(app, "EC app", [REDIRECT_URI], id_token_signed_response_alg="ES256")
    rs_client = make_client(app, "RSA app", [REDIRECT_URI])

    tokens = login_tokens(browser, client, ec_client)
    jwks = client.get("/jwks.json").get_json()
    id_token = verify_jwt(tokens["id_token"], jwks, algorithms=("ES256",))
    assert id_token.header["alg"] == "ES256" and id_token.header["kid"] == ec_kid
    assert id_token.claims["aud"] == [ec_client.client_id]
    assert "at_hash" in id_token.claims
    # Access tokens stay RS256: services verify one algorithm.
    assert verify_jwt(tokens["access_token"], jwks).header["alg"] == "RS256"
    refreshed = refresh(client, ec_client, tokens["refresh_token"]).get_json()
    assert verify_jwt(refreshed["id_token"], jwks, algorithms=("ES256",)).header["kid"] == ec_kid

    rsa_tokens = login_tokens(browser, client, rs_client)
    assert verify_jwt(rsa_tokens["id_token"], jwks).header["alg"] == "RS256"
