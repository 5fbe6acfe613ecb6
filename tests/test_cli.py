"""The `idp` command as an operator or a deployment script drives it."""

from __future__ import annotations

import json
import secrets

import pytest
from click.testing import CliRunner

from idp.cli import main
from idp.oauth.keys import KeyRing

from .conftest import USER_EMAIL, USER_PASSWORD


@pytest.fixture
def idp(app, settings, tmp_path):
    """Run `idp ...` against the test database; `app` wipes what it creates."""
    env = {
        "DATABASE_URL": settings["database_url"],
        "REDIS_URL": settings["redis_url"],
        "IDP_KEYS_DIR": settings["keys_dir"],
        "IDP_SECRET_KEY": settings["secret_key"],
        "IDP_ENV": "development",
        "IDP_ISSUER": settings["issuer"],
    }

    def run(*args, input=None, **extra_env):
        return CliRunner().invoke(main, list(args), input=input, env={**env, **extra_env})

    return run


def test_db_upgrade_is_idempotent(idp):
    result = idp("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_keys_generate_prints_a_kid_and_writes_a_private_file(idp, tmp_path):
    result = idp("keys", "generate", "--alg", "ES256", IDP_KEYS_DIR=str(tmp_path))
    assert result.exit_code == 0, result.output
    kid = result.output.strip()
    path = tmp_path / f"{kid}.json"
    assert path.exists() and (path.stat().st_mode & 0o077) == 0
    assert KeyRing(tmp_path).signing_key("ES256").kid == kid
    again = idp("keys", "generate", "--alg", "ES256", "--if-missing", IDP_KEYS_DIR=str(tmp_path))
    assert again.output.strip() == kid


def test_clients_create_prints_json_with_secret_once_and_list_hides_it(idp):
    result = idp(
        "clients",
        "create",
        "--name",
        "Notes",
        "--redirect-uri",
        "https://notes.example/cb",
        "--redirect-uri",
        "http://127.0.0.1:9000/cb",
        "--first-party",
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["client_secret"]
    assert created["token_endpoint_auth_method"] == "client_secret_basic"
    assert created["grant_types"] == ["authorization_code", "refresh_token"]
    assert created["first_party"] is True
    listed = [json.loads(line) for line in idp("clients", "list").output.splitlines()]
    assert [c["client_id"] for c in listed] == [created["client_id"]]
    assert "client_secret" not in listed[0]
    assert idp("clients", "delete", created["client_id"]).exit_code == 0
    assert idp("clients", "list").output == ""


def test_public_client_uses_auth_method_none(idp):
    result = idp(
        "clients",
        "create",
        "--name",
        "Mobile",
        "--redirect-uri",
        "com.example.app:/callback",
        "--public",
    )
    created = json.loads(result.stdout)
    assert created["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in created


@pytest.mark.parametrize(
    "args",
    [
        ("clients", "create", "--name", "Bad", "--redirect-uri", "http://evil.example/cb"),
        ("clients", "create", "--name", "Bad", "--redirect-uri", "https://x.example/cb#frag"),
        ("clients", "create", "--name", "Bad", "--redirect-uri", "javascript:alert(1)"),
        (
            "clients",
            "create",
            "--name",
            "Bad",
            "--redirect-uri",
            "https://x.example/cb",
            "--grant-type",
            "password",
        ),
        ("clients", "delete", "no-such-client"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(idp, args):
    result = idp(*args)
    assert result.exit_code != 0
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("Error:")


def test_users_create_reads_the_password_from_stdin(idp, browser):
    result = idp(
        "users",
        "create",
        "--email",
        USER_EMAIL,
        "--name",
        "Ada",
        "--role",
        "admin",
        "--password-stdin",
        input=USER_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["roles"] == ["admin"]
    assert browser.sign_in(USER_EMAIL, USER_PASSWORD).status_code == 303
    duplicate = idp(
        "users",
        "create",
        "--email",
        USER_EMAIL.upper(),
        "--password-stdin",
        input="another-password\n",
    )
    assert duplicate.exit_code != 0


def test_demo_is_idempotent_and_prints_a_ready_authorization_url(idp):
    outputs = [idp("demo").stdout for _ in range(2)]
    first, second = (json.loads(out.split("\nOpen this URL")[0]) for out in outputs)
    assert first["client"]["client_id"] == second["client"]["client_id"]
    assert first["user"]["email"] == "demo@example.com"
    assert f"client_id={first['client']['client_id']}" in outputs[0]
    assert "code_challenge_method=S256" in outputs[0]


def test_production_mode_refuses_unsafe_settings(idp):
    result = idp("clients", "list", IDP_ENV="production")
    assert result.exit_code != 0
    assert result.output == "Error: IDP_ISSUER must be an https URL in production\n"


def test_audit_list_shows_recent_events_filtered_by_user_and_type(idp, browser, user):
    browser.sign_in(USER_EMAIL, "wrong password")
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    result = idp("audit", "list", "--user", USER_EMAIL)
    events = [json.loads(line) for line in result.output.splitlines()]
    assert [e["event_type"] for e in events] == ["login_success", "login_failure"]
    assert all(e["user_id"] == str(user.id) for e in events)
    assert USER_PASSWORD not in result.output and "wrong password" not in result.output
    failures = idp("audit", "list", "--type", "login_failure").output.splitlines()
    assert len(failures) == 1
    assert idp("audit", "list", "--type", "nonsense").exit_code != 0
    assert idp("audit", "list", "--user", "nobody@example.com").exit_code != 0


def test_db_purge_deletes_only_what_expired_long_ago(idp, app, browser, user):
    from idp import clock
    from idp.extensions import db
    from idp.models import BrowserSession

    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    browser.submit(browser.get("/"), "/logout", {})
    browser.sign_in(USER_EMAIL, USER_PASSWORD)  # a live session that must stay
    assert json.loads(idp("db", "purge").stdout)["browser_sessions"] == 0
    clock.advance(2 * 24 * 3600)  # the CLI runs in this process: the moved clock applies
    result = json.loads(idp("db", "purge").stdout)
    assert result["browser_sessions"] == 1
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(BrowserSession.id))).scalar_one() == 1


def test_a_client_id_never_reads_as_an_option(idp, monkeypatch):
    """A generated client id that began with "-" could not be named on the command line."""
    ids = iter(["-Leading-dash", "aSafeClientId"])
    real_token = secrets.token_urlsafe
    monkeypatch.setattr(
        secrets, "token_urlsafe", lambda n=None: next(ids) if n == 18 else real_token(n)
    )
    result = idp("clients", "create", "--name", "Dash", "--redirect-uri", "https://dash.example/cb")
    assert result.exit_code == 0, result.output
    client_id = json.loads(result.stdout)["client_id"]
    assert not client_id.startswith("-")
    assert idp("clients", "delete", client_id).exit_code == 0
