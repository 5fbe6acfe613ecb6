"""Refusals an operator can act on: one line naming the setting and the fix, never a trace.

create_app checks the URLs (without connecting); gunicorn's master runs `refuse_to_start`
before forking workers, so a missing signing key stops the server once, not per worker;
the CLI turns database and store failures into `describe_*` lines.
"""

from __future__ import annotations

import sys

from .config import Config, ConfigError, load_config

DATABASE_URL_HINT = (
    "use postgresql://user:password@host:5432/idp, or leave DATABASE_URL empty for SQLite"
)


def check_urls(config: Config) -> None:
    """Raise ConfigError when DATABASE_URL or REDIS_URL cannot even be parsed or loaded."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(config.sqlalchemy_url).get_dialect().import_dbapi()
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"DATABASE_URL is not usable ({reason}); {DATABASE_URL_HINT}") from None
    if config.redis_url:
        import redis

        from .store import parse_cluster_or_sentinel_hosts

        try:
            if not parse_cluster_or_sentinel_hosts(config.redis_url):
                redis.ConnectionPool.from_url(config.redis_url)  # parses; connects on first use
        except ValueError as exc:
            raise ConfigError(
                f"REDIS_URL is not usable ({exc}); use redis://host:6379/0, or leave it empty "
                "for the in-process store"
            ) from None


def check_signing_key(config: Config, algorithms) -> None:
    """Production needs a key to sign with."""
    if config.production and not algorithms:
        raise ConfigError(
            f"no active signing key in IDP_KEYS_DIR ({config.keys_dir}); "
            "run 'idp keys generate' first"
        )


def refuse_to_start() -> None:
    """For gunicorn's on_starting hook: print why the server cannot start and exit 1."""
    from .oauth.keys import KeyRing

    try:
        config = load_config()
        check_urls(config)
        check_signing_key(config, KeyRing(config.keys_dir).algorithms)
    except ConfigError as exc:
        print(f"idp: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def describe_database_error(exc: Exception, url: str) -> str:
    """One line for a database failure: where, why, and what to do."""
    from sqlalchemy.engine import make_url

    orig = getattr(exc, "orig", None) or exc
    reason = " ".join(str(orig).split()) or type(orig).__name__
    if "no such table" in reason or type(orig).__name__ == "UndefinedTable":
        return "the database has no idp tables yet: run `idp db upgrade` first"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        where = parsed.database or "memory"
    else:
        where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"
    return (
        f"cannot use the database at {where} (DATABASE_URL): {reason[:300]}; "
        "check DATABASE_URL and that the server is up"
    )


def describe_store_error(exc: Exception, redis_url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
    return (
        f"cannot reach Redis at {where} (REDIS_URL): {' '.join(str(exc).split())[:300]}; "
        "check REDIS_URL and that Redis is up"
    )
