"""Configuration: defaults, parsing and production refusals."""

from __future__ import annotations

import pytest

from idp import create_app
from idp.config import ConfigError, load_config

STRONG_SECRET = "x" * 40


def test_defaults_match_the_documented_lifetimes(monkeypatch):
    for name in ("IDP_ISSUER", "IDP_ACCESS_TOKEN_TTL", "IDP_ID_TOKEN_TTL", "IDP_CODE_TTL"):
        monkeypatch.delenv(name, raising=False)
    config = load_config()
    assert config.issuer == "http://127.0.0.1:5000"
    assert (config.access_token_ttl, config.id_token_ttl, config.code_ttl) == (900, 900, 60)


def test_environment_is_read_and_checked(monkeypatch):
    monkeypatch.setenv("IDP_ACCESS_TOKEN_TTL", "300")
    assert load_config().access_token_ttl == 300
    monkeypatch.setenv("IDP_ACCESS_TOKEN_TTL", "soon")
    with pytest.raises(ConfigError, match="IDP_ACCESS_TOKEN_TTL"):
        load_config()


def test_postgres_urls_use_psycopg2():
    config = load_config({"database_url": "postgres://u@h/db"})
    assert config.sqlalchemy_url == "postgresql+psycopg2://u@h/db"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"issuer": "https://id.example"}, "IDP_SECRET_KEY"),
        ({"issuer": "https://id.example", "secret_key": "short"}, "IDP_SECRET_KEY"),
        ({"issuer": "http://id.example", "secret_key": STRONG_SECRET}, "https"),
        ({"issuer": "https://id.example", "secret_key": STRONG_SECRET}, "IDP_SMTP_URL"),
        (
            {"issuer": "https://id.example", "secret_key": STRONG_SECRET, "smtp_url": "smtps://m"},
            "REDIS_URL must be set in production",
        ),
    ],
)
def test_production_refuses_unsafe_settings(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"env": "production", **overrides})


def test_production_refuses_to_start_without_a_signing_key(tmp_path, settings):
    with pytest.raises(ConfigError, match="signing key"):
        create_app(
            {
                **settings,
                "env": "production",
                "issuer": "https://id.example",
                "secret_key": STRONG_SECRET,
                "keys_dir": str(tmp_path),
                "smtp_url": "smtps://mail.example",
                "redis_url": "redis://127.0.0.1:1/0",  # not contacted while building
            }
        )


def test_https_issuer_makes_cookies_secure_and_host_prefixed(make_app):
    app = make_app(issuer="https://id.example")
    assert app.config["IDP"].session_cookie_name == "__Host-idp_session"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_redis_urls_of_every_supported_form_build_a_client():
    from idp.store import redis_client

    assert redis_client("redis://127.0.0.1:6379/2").connection_pool.connection_kwargs["db"] == 2
    sentinel = redis_client("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2/primary/3")
    assert sentinel.connection_pool.service_name == "primary"
    assert sentinel.connection_pool.connection_kwargs["db"] == 3
    assert [
        s.connection_pool.connection_kwargs["host"]
        for s in sentinel.connection_pool.sentinel_manager.sentinels
    ] == ["10.0.0.1", "10.0.0.2"]
    with pytest.raises(ValueError, match="service_name"):
        redis_client("redis+sentinel://10.0.0.1:26379")


def test_postgres_pools_are_sized_per_worker(make_app, settings):
    app = make_app(db_pool_size=3, db_max_overflow=2)
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    if settings["database_url"].startswith("postgresql"):
        assert (options["pool_size"], options["max_overflow"]) == (3, 2)
    assert options["pool_pre_ping"] is False  # idp.pool pings idle connections only


def _deploy_example() -> dict[str, str]:
    from idp.config import PROJECT_ROOT

    lines = (PROJECT_ROOT / "deploy" / "env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"secret_key": _deploy_example()["IDP_SECRET_KEY"]}, "IDP_SECRET_KEY"),
        ({"totp_key": _deploy_example()["IDP_TOTP_KEY"]}, "IDP_TOTP_KEY"),
        ({"totp_key": "x" * 28}, "IDP_TOTP_KEY"),
        ({"outbound_allow": "10.0.0.0/8, not a host!"}, "IDP_OUTBOUND_ALLOW"),
    ],
)
def test_production_refuses_placeholders_and_short_keys(overrides, message):
    settings = {
        "env": "production",
        "issuer": "https://id.example",
        "secret_key": STRONG_SECRET,
        "smtp_url": "smtp://127.0.0.1:2525",
        "redis_url": "redis://127.0.0.1:6379/0",
    }
    with pytest.raises(ConfigError, match=message):
        load_config({**settings, **overrides})
    assert load_config({**settings, "totp_key": "t" * 32}).totp_key == "t" * 32


def test_redis_timeout_is_a_short_configurable_number_of_seconds(monkeypatch):
    assert load_config().redis_timeout == 0.5
    monkeypatch.setenv("IDP_REDIS_TIMEOUT", "0.25")
    assert load_config().redis_timeout == 0.25
    for bad in ("soon", "0", "600"):
        monkeypatch.setenv("IDP_REDIS_TIMEOUT", bad)
        with pytest.raises(ConfigError, match="IDP_REDIS_TIMEOUT"):
            load_config()


def test_gunicorn_refuses_several_workers_without_redis_in_one_line():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", "127.0.0.1:0"]
    result = subprocess.run(
        [*command, "--workers", "3", "wsgi:app"], cwd=root, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "idp: 3 workers need REDIS_URL (the in-process store serves one process); "
        "set REDIS_URL or IDP_WORKERS=1"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2/primary/3",
        "redis+cluster://10.0.0.1:6379,10.0.0.2:6379",
        "rediss+cluster://:pw@10.0.0.1:6379",
    ],
)
def test_apps_start_with_sentinel_and_cluster_redis_urls(url):
    # Checked without connecting: these hosts do not exist.
    from idp.preflight import check_urls

    check_urls(load_config({"redis_url": url}))


def test_a_redis_url_with_a_bad_port_is_refused_with_a_hint():
    from idp.config import ConfigError
    from idp.preflight import check_urls

    with pytest.raises(ConfigError, match="REDIS_URL is not usable"):
        check_urls(load_config({"redis_url": "redis+cluster://10.0.0.1:port"}))
