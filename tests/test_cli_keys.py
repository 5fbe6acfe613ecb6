"""`idp keys rotate | list | prune` and the client options of the Administration issue."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from idp import clock
from idp.cli import main
from idp.oauth.keys import KeyRing, generate_key, read_keys

METADATA_MAX_AGE = 300
TOKEN_TTL = 900
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


@pytest.fixture
def own_keys(tmp_path):
    """A keys directory of this test only: the session's signing key stays untouched."""
    directory = tmp_path / "keys"
    yield directory
    clock.reset()


@pytest.fixture
def idp(own_keys):
    """Run `idp keys ...`, which needs the keys directory and config but no database."""
    env = {
        "IDP_KEYS_DIR": str(own_keys),
        "IDP_ENV": "development",
        "IDP_METADATA_MAX_AGE": str(METADATA_MAX_AGE),
        "IDP_ACCESS_TOKEN_TTL": str(TOKEN_TTL),
        "IDP_ID_TOKEN_TTL": str(TOKEN_TTL),
    }

    def run(*args):
        return CliRunner().invoke(main, list(args), env=env)

    return run


def _json(result):
    """The command's JSON on stdout (log lines, such as the audit's, go to stderr)."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _states(own_keys) -> dict[str, str]:
    return {k.kid: k.state for k in read_keys(own_keys)}


def test_first_rotation_publishes_a_next_key_that_the_second_one_promotes(idp, own_keys):
    first = generate_key(own_keys, "RS256")
    published = _json(idp("keys", "rotate"))
    assert published["activated"] is None and published["retired"] == []
    upcoming = published["next"]
    assert _states(own_keys) == {first: "active", upcoming: "next"}
    assert KeyRing(own_keys).signing_key().kid == first
    assert {k["kid"] for k in KeyRing(own_keys).public_jwks()["keys"]} == {first, upcoming}

    clock.advance(METADATA_MAX_AGE + 11)
    rotated = _json(idp("keys", "rotate"))
    assert rotated["activated"] == upcoming
    assert rotated["retired"] == [first]
    assert _states(own_keys) == {first: "retired", upcoming: "active", rotated["next"]: "next"}
    assert KeyRing(own_keys).signing_key().kid == upcoming
    assert {k["kid"] for k in KeyRing(own_keys).public_jwks()["keys"]} == {
        first,
        upcoming,
        rotated["next"],
    }


def test_rotation_refuses_a_next_key_relying_parties_may_not_have_seen_yet(idp, own_keys):
    first = generate_key(own_keys, "RS256")
    idp("keys", "rotate")
    clock.advance(METADATA_MAX_AGE - 30)
    refused = idp("keys", "rotate")
    assert refused.exit_code != 0
    assert len(refused.output.strip().splitlines()) == 1
    assert "--force" in refused.output
    assert KeyRing(own_keys).signing_key().kid == first
    forced = _json(idp("keys", "rotate", "--force"))
    assert forced["retired"] == [first]


def test_forced_rotation_without_a_next_key_activates_a_new_key_at_once(idp, own_keys):
    first = generate_key(own_keys, "RS256")
    forced = _json(idp("keys", "rotate", "--force"))
    assert forced["activated"] not in (None, first)
    assert KeyRing(own_keys).signing_key().kid == forced["activated"]
    assert _states(own_keys)[first] == "retired"


def test_rotating_es256_leaves_the_rs256_key_alone(idp, own_keys):
    rsa = generate_key(own_keys, "RS256")
    ec = generate_key(own_keys, "ES256")
    idp("keys", "rotate", "--alg", "ES256")
    clock.advance(METADATA_MAX_AGE + 11)
    rotated = _json(idp("keys", "rotate", "--alg", "ES256"))
    assert rotated["retired"] == [ec]
    ring = KeyRing(own_keys)
    assert ring.signing_key("RS256").kid == rsa
    assert ring.signing_key("ES256").kid == rotated["activated"]
    assert ring.algorithms == ["RS256", "ES256"]


def test_list_shows_state_alg_and_age_of_every_key(idp, own_keys):
    first = generate_key(own_keys, "RS256")
    idp("keys", "rotate")
    clock.advance(METADATA_MAX_AGE + 11)
    idp("keys", "rotate")
    clock.advance(60)
    lines = [json.loads(line) for line in idp("keys", "list").output.splitlines()]
    assert [line["state"] for line in lines] == ["retired", "active", "next"]
    retired = lines[0]
    assert retired["kid"] == first and retired["alg"] == "RS256" and retired["published"]
    assert retired["age_seconds"] >= METADATA_MAX_AGE + 71
    assert retired["retired_at"] < retired["unpublish_at"]
    assert "d" not in retired and "jwk" not in retired  # nothing private
    assert all(line["published"] for line in lines)


def test_retired_key_is_unpublished_and_pruned_once_its_tokens_have_expired(idp, own_keys):
    first = generate_key(own_keys, "RS256")
    idp("keys", "rotate")
    clock.advance(METADATA_MAX_AGE + 11)
    idp("keys", "rotate")
    assert _json(idp("keys", "prune")) == {"pruned": []}
    clock.advance(TOKEN_TTL)
    assert first in {k["kid"] for k in KeyRing(own_keys).public_jwks()["keys"]}
    clock.advance(71)  # the reload interval and the clock leeway
    assert first not in {k["kid"] for k in KeyRing(own_keys).public_jwks()["keys"]}
    listed = [json.loads(line) for line in idp("keys", "list").output.splitlines()]
    assert [line["published"] for line in listed] == [False, True, True]
    assert _json(idp("keys", "prune")) == {"pruned": [first]}
    assert not (own_keys / f"{first}.json").exists()


def test_generate_if_missing_still_prints_the_signing_key(idp, own_keys):
    kid = idp("keys", "generate").output.strip()
    idp("keys", "rotate")
    assert idp("keys", "generate", "--if-missing").output.strip() == kid


@pytest.fixture
def idp_app(app, settings, tmp_path):
    """Run `idp clients ...` against the test database with a keys dir holding RS256 only."""
    keys = tmp_path / "app-keys"
    generate_key(keys, "RS256")
    env = {
        "DATABASE_URL": settings["database_url"],
        "REDIS_URL": settings["redis_url"],
        "IDP_KEYS_DIR": str(keys),
        "IDP_SECRET_KEY": settings["secret_key"],
        "IDP_ENV": "development",
        "IDP_ISSUER": settings["issuer"],
    }

    def run(*args):
        return CliRunner().invoke(main, list(args), env=env)

    run.own_keys = keys
    return run


def test_clients_create_registers_an_es256_client_once_an_es256_key_is_active(idp_app):
    args = ("clients", "create", "--name", "EC app", "--redirect-uri", "https://ec.example/cb")
    refused = idp_app(*args, "--id-token-signed-response-alg", "ES256")
    assert refused.exit_code != 0
    assert "idp keys generate --alg ES256" in refused.output
    generate_key(idp_app.own_keys, "ES256")
    created = _json(idp_app(*args, "--id-token-signed-response-alg", "ES256"))
    assert created["id_token_signed_response_alg"] == "ES256"


def test_clients_create_registers_a_token_exchange_allowance(idp_app):
    created = _json(
        idp_app(
            "clients",
            "create",
            "--name",
            "Legacy login",
            "--grant-type",
            EXCHANGE,
            "--scope",
            "openid email orders:read orders:write",
            "--exchange-audience",
            "https://api.example.org",
            "--exchange-scope",
            "orders:read",
            "--exchange-scope",
            "openid email",
        )
    )
    assert created["grant_types"] == [EXCHANGE]
    assert created["token_exchange"] == {
        "audiences": ["https://api.example.org"],
        "scopes": ["orders:read", "openid", "email"],
    }


@pytest.mark.parametrize(
    "extra",
    [
        ("--grant-type", EXCHANGE, "--exchange-scope", "orders:read"),  # beyond --scope
        ("--exchange-scope", "orders:read"),  # allowance without the grant
        ("--grant-type", EXCHANGE, "--public"),
        ("--grant-type", EXCHANGE, "--exchange-audience", "a b"),
    ],
)
def test_clients_create_refuses_an_incomplete_token_exchange_registration(idp_app, extra):
    result = idp_app("clients", "create", "--name", "Bad", *extra)
    assert result.exit_code != 0
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("Error:")
