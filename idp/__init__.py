"""idp: an OpenID Connect provider on Flask and Authlib."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .config import PACKAGE_DIR, Config, load_config

if TYPE_CHECKING:  # importing idp (idp.healthcheck, idp.verifier) loads no Flask
    from flask import Flask

MIGRATIONS_DIR = str(PACKAGE_DIR / "migrations")


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment, optionally overridden by `config`."""
    from flask import Flask

    from . import models, observability, preflight  # noqa: F401  (models registers tables)
    from .extensions import csrf, db, migrate
    from .oauth.keys import KeyRing
    from .oauth.server import init_oauth
    from .oauth.upstream import init_upstream
    from .pool import ping_idle_connections, tune_sqlite
    from .services import client_cache, outbound, outbox
    from .state_cookie import StateCookieSessionInterface
    from .store import create_store
    from .views import (
        account,
        admin_api,
        admin_console,
        auth,
        branding,
        consent,
        demo,
        discovery,
        edge,
        errors,
        federation,
        i18n,
        logout,
        mfa,
        oauth,
        operations,
        ratelimits,
        security,
        userinfo_edge,
    )

    settings = config if isinstance(config, Config) else load_config(config)
    preflight.check_urls(settings)
    if settings.log_json and not settings.testing:
        observability.configure_logging(settings.log_level)
    app = Flask(__name__, template_folder=str(PACKAGE_DIR / "templates"))
    app.session_interface = StateCookieSessionInterface()
    app.config.update(
        IDP=settings,
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        SQLALCHEMY_DATABASE_URI=settings.sqlalchemy_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings),
        SESSION_COOKIE_NAME="__Host-idp_state" if settings.https else "idp_state",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.https,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the signed state cookie
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    edge.init_app(app)  # first: control characters never reach CSRF, limits or views
    branding.init_app(app)  # before any template renders: the loader is read once
    i18n.init_app(app)
    db.init_app(app)
    with app.app_context():
        ping_idle_connections(db.engine)
        tune_sqlite(db.engine)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    csrf.init_app(app)
    app.extensions["idp.store"] = create_store(
        settings.redis_url, settings.redis_prefix, settings.redis_timeout
    )
    app.extensions["idp.keys"] = KeyRing(settings.keys_dir)
    client_cache.init_app(app)
    outbound.init_app(app)
    outbox.init_app(app)
    preflight.check_signing_key(settings, app.extensions["idp.keys"].algorithms)
    init_oauth(app)
    init_upstream(app)
    for blueprint in (
        oauth.bp,
        discovery.bp,
        auth.bp,
        consent.bp,
        account.bp,
        mfa.bp,
        logout.bp,
        federation.bp,
        admin_api.bp,
        admin_console.bp,
        operations.bp,
    ):
        app.register_blueprint(blueprint)
    if settings.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Only as many hops as the deployment really has: a client cannot spoof its address.
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops
        )
    discovery.init_app(app)
    demo.init_app(app)
    userinfo_edge.init_app(app)
    errors.init_app(app)
    ratelimits.init_app(app)
    observability.init_app(app)
    security.init_app(app)
    return app


def _engine_options(settings: Config) -> dict[str, Any]:
    """Per-worker pool sizes; nothing session-level, so PgBouncer transaction mode works."""
    # No pool_pre_ping: pool.ping_idle_connections pings only connections that sat idle.
    options: dict[str, Any] = {"pool_pre_ping": False}
    if settings.sqlalchemy_url.startswith("postgresql"):
        options.update(pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    return options
