"""Configuration: read once from IDP_* environment variables into a typed object."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from email.utils import formataddr
from pathlib import Path
from typing import Any

from .errors import ConfigError, MailError
from .setting_parsers import parse_allow, parse_smtp_url

# The package carries templates/, migrations/ and static/, so an installed wheel needs no
# source tree (in the repository idp/templates and idp/migrations are symlinks to the
# top-level folders: MANIFEST.in).
PACKAGE_DIR = Path(__file__).resolve().parent


def _project_root() -> Path:
    """Where keys/ and instance/ live by default: the repository when idp runs from its
    source tree, else (an installed wheel) the directory idp is run from, never the venv."""
    checkout = PACKAGE_DIR.parent
    return checkout if (checkout / "setup.cfg").is_file() else Path.cwd()


PROJECT_ROOT = _project_root()
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - refused in production
# Placeholders shipped in docs and deploy/env.example: refused in production.
PLACEHOLDER_SECRETS = (
    DEV_SECRET_KEY,
    "change-me-to-48-random-characters-from-secrets-token-urlsafe",
    "another-48-random-characters",
)
MIN_SECRET_CHARACTERS = 32

ACCESS_TOKEN_TTL_SECONDS = 15 * 60
ID_TOKEN_TTL_SECONDS = 15 * 60
AUTHORIZATION_CODE_TTL_SECONDS = 60
INTERACTION_TTL_SECONDS = 15 * 60
REFRESH_TOKEN_IDLE_TTL_SECONDS = 7 * 24 * 3600
REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS = 30 * 24 * 3600
SESSION_IDLE_TTL_SECONDS = 24 * 3600
SESSION_ABSOLUTE_TTL_SECONDS = 14 * 24 * 3600
METADATA_MAX_AGE_SECONDS = 300


PROVIDER_KINDS = ("google", "github", "oidc")
PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
GOOGLE_ISSUER = "https://accounts.google.com"
GITHUB_DEFAULTS = {
    "authorize_url": "https://github.com/login/oauth/authorize",
    "token_url": "https://github.com/login/oauth/access_token",
    "api_url": "https://api.github.com/",
}


@dataclass(frozen=True)
class ProviderConfig:
    """One upstream identity provider, from IDP_PROVIDER_<NAME>_* variables."""

    name: str
    kind: str
    client_id: str
    client_secret: str = field(repr=False)
    display_name: str = ""
    scopes: str = ""
    issuer: str = ""
    authorize_url: str = ""
    token_url: str = ""
    api_url: str = ""


def provider(
    name: str, kind: str, client_id: str, client_secret: str, **extra: str
) -> ProviderConfig:
    """A provider with the defaults of its kind filled in; raise ConfigError when unusable."""
    label = f"IDP_PROVIDER_{name.upper()}"
    if not PROVIDER_NAME.match(name):
        raise ConfigError(f"provider name {name!r} must be letters, digits or _ (IDP_PROVIDERS)")
    if kind not in PROVIDER_KINDS:
        raise ConfigError(f"{label}_KIND must be one of {', '.join(PROVIDER_KINDS)}, got {kind!r}")
    if not client_id or not client_secret:
        raise ConfigError(f"{label}_CLIENT_ID and {label}_CLIENT_SECRET are required")
    values = {k: v for k, v in extra.items() if v}
    if kind == "google":
        values.setdefault("issuer", GOOGLE_ISSUER)
        values.setdefault("display_name", "Google")
    if kind == "github":
        for key, default in GITHUB_DEFAULTS.items():
            values.setdefault(key, default)
        values.setdefault("display_name", "GitHub")
        values.setdefault("scopes", "read:user user:email")
    else:
        values.setdefault("scopes", "openid email profile")
        if not values.get("issuer", "").startswith(("https://", "http://")):
            raise ConfigError(f"{label}_ISSUER must be the provider's issuer URL")
    values.setdefault("display_name", name.replace("_", " ").title())
    return ProviderConfig(
        name=name, kind=kind, client_id=client_id, client_secret=client_secret, **values
    )


def providers_from_env() -> tuple[ProviderConfig, ...]:
    names = [n.strip().lower() for n in os.environ.get("IDP_PROVIDERS", "").split(",") if n.strip()]
    found = []
    for name in dict.fromkeys(names):

        def env(suffix: str, name: str = name) -> str:
            return os.environ.get(f"IDP_PROVIDER_{name.upper()}_{suffix}", "").strip()

        found.append(
            provider(
                name,
                env("KIND").lower(),
                env("CLIENT_ID"),
                env("CLIENT_SECRET"),
                display_name=env("DISPLAY_NAME"),
                scopes=env("SCOPES"),
                issuer=env("ISSUER"),
                authorize_url=env("AUTHORIZE_URL"),
                token_url=env("TOKEN_URL"),
                api_url=env("API_URL"),
            )
        )
    return tuple(found)


@dataclass(frozen=True)
class Config:
    """Every setting idp reads. Field names map to IDP_<NAME> unless noted."""

    env: str = "development"
    issuer: str = "http://127.0.0.1:5000"
    secret_key: str = DEV_SECRET_KEY
    database_url: str = ""  # DATABASE_URL; empty means SQLite under instance/
    redis_url: str = ""  # REDIS_URL; empty means the in-process store
    redis_prefix: str = "idp:"
    # Seconds to connect to and hear from Redis: a hung Redis costs a request this, not more.
    redis_timeout: float = 0.5
    keys_dir: str = str(PROJECT_ROOT / "keys")
    access_token_ttl: int = ACCESS_TOKEN_TTL_SECONDS
    id_token_ttl: int = ID_TOKEN_TTL_SECONDS
    code_ttl: int = AUTHORIZATION_CODE_TTL_SECONDS
    refresh_token_idle_ttl: int = REFRESH_TOKEN_IDLE_TTL_SECONDS
    refresh_token_absolute_ttl: int = REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS
    refresh_retry_window: int = 0  # seconds; 0 keeps rotation strict (RFC 9700 §4.14.2)
    interaction_ttl: int = INTERACTION_TTL_SECONDS
    session_idle_ttl: int = SESSION_IDLE_TTL_SECONDS
    session_absolute_ttl: int = SESSION_ABSOLUTE_TTL_SECONDS
    metadata_max_age: int = METADATA_MAX_AGE_SECONDS
    # RFC 7591/7592 dynamic client registration, gated by an initial access token.
    dynamic_registration: bool = False
    registration_initial_token: str = field(default="", repr=False)
    admin_require_mfa: bool = False  # the admin console needs a session that passed TOTP
    metrics_token: str = field(default="", repr=False)  # bearer token required at /metrics
    metrics_allow: str = ""  # comma-separated CIDRs allowed at /metrics, e.g. 10.0.0.0/8
    # Outbound fetches (jwks_uri, back-channel logout, upstream IdPs) may reach these hosts
    # and CIDRs even when private; empty: loopback in development, nothing in production.
    outbound_allow: str = ""
    client_assertion_max_lifetime: int = 300  # seconds a private_key_jwt assertion may live
    client_cache_seconds: int = 5  # how long a worker reuses a client row; 0: read every time
    audit_batch_seconds: int = 1  # routine audit rows are written in batches; 0: at once
    # Who drains the outbox table: "web" (each web worker after its responses, and any
    # `idp worker`) or "worker" (only `idp worker` processes).
    outbox_drain: str = "web"
    db_pool_size: int = 5  # connections kept per worker process
    db_max_overflow: int = 10  # extra connections a worker may open under load
    proxy_hops: int = 0  # trusted reverse proxies in front: X-Forwarded-For/-Proto from them
    log_level: str = "INFO"
    log_json: bool = True  # one JSON object per log line (observability.configure_logging)
    registration_enabled: bool = True
    require_verified_email: bool = False  # refuse sign-in until the address is verified
    totp_key: str = ""  # encrypts TOTP secrets at rest; empty: derived from the secret key
    rate_limit_enabled: bool = True
    rate_limit_login: str = "30/minute"  # per IP
    rate_limit_login_account: str = "10/minute"  # per email address
    rate_limit_mfa: str = "10/minute"  # per IP
    rate_limit_mfa_account: str = "10/minute"  # per account, whatever the address
    mfa_max_failures: int = 5  # wrong codes before a pending sign-in is locked
    rate_limit_register: str = "10/hour"  # per IP
    rate_limit_email: str = "5/hour"  # resend and reset links, per email address
    rate_limit_token: str = "100/second"  # token, revocation, introspection, per IP
    # smtp://[user:pass@]host:port[?starttls=1] or smtps://...; empty writes to the outbox.
    smtp_url: str = field(default="", repr=False)  # may hold a password
    mail_from: str = "idp <no-reply@localhost>"
    outbox_dir: str = ""  # empty means instance/outbox/
    providers: tuple[ProviderConfig, ...] = ()  # IDP_PROVIDERS and IDP_PROVIDER_<NAME>_*
    # Branding (docs/theming.md): the product name on pages, in mails and authenticator apps.
    brand_name: str = "idp"
    brand_logo_url: str = ""  # https URL, or a path such as /brand/logo.svg
    brand_favicon_url: str = ""  # same forms as the logo
    brand_primary_color: str = ""  # #rgb or #rrggbb; buttons, links and focus rings
    brand_stylesheet_url: str = ""  # loaded after idp.css; https URL or a path
    brand_dir: str = ""  # a folder served at /brand/ (logo, favicon, stylesheet, fonts)
    templates_dir: str = ""  # its files override the built-in templates one by one
    testing: bool = False

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def https(self) -> bool:
        return self.issuer.startswith("https://")

    @property
    def session_cookie_name(self) -> str:
        # The __Host- prefix pins the cookie to this host, path / and Secure.
        return "__Host-idp_session" if self.https else "idp_session"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        instance = PROJECT_ROOT / "instance"
        instance.mkdir(exist_ok=True)
        return f"sqlite:///{instance / 'idp.sqlite3'}"


_ENV_NAMES = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL", "env": "IDP_ENV"}
_INT_FIELDS = {f.name for f in fields(Config) if f.type == "int"}
_BOOL_FIELDS = {f.name for f in fields(Config) if f.type == "bool"}
_FLOAT_FIELDS = {f.name for f in fields(Config) if f.type == "float"}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_MAY_BE_ZERO = {
    "refresh_retry_window",
    "proxy_hops",
    "db_max_overflow",
    "client_cache_seconds",
    "audit_batch_seconds",
}


def is_placeholder(secret: str) -> bool:
    """A value copied from the docs or deploy/env.example rather than generated."""
    lowered = secret.lower()
    return secret in PLACEHOLDER_SECRETS or "change-me" in lowered or "changeme" in lowered


def normalise_database_url(url: str) -> str:
    """Use psycopg2 for postgres:// and postgresql:// (SQLAlchemy 2.1 would pick psycopg 3)."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme) :]
    return url


def load_config(overrides: Mapping[str, Any] | None = None) -> Config:
    """Build the config from the environment, then apply explicit overrides."""
    values: dict[str, Any] = {}
    for f in fields(Config):
        if f.name in ("testing", "providers"):
            continue
        env_name = _ENV_NAMES.get(f.name, f"IDP_{f.name.upper()}")
        raw = os.environ.get(env_name)
        if raw is None or raw == "":
            continue
        if f.name in _BOOL_FIELDS:
            if raw.lower() not in _TRUE + _FALSE:
                raise ConfigError(f"{env_name} must be true or false, got {raw!r}")
            values[f.name] = raw.lower() in _TRUE
        elif f.name in _FLOAT_FIELDS:
            try:
                values[f.name] = float(raw)
            except ValueError:
                raise ConfigError(f"{env_name} must be a number of seconds, got {raw!r}") from None
        elif f.name in _INT_FIELDS:
            try:
                values[f.name] = int(raw)
            except ValueError:
                raise ConfigError(
                    f"{env_name} must be a whole number of seconds, got {raw!r}"
                ) from None
        else:
            values[f.name] = raw
    values["providers"] = providers_from_env()
    config = replace(Config(), **values)
    if overrides:
        unknown = sorted(set(overrides) - {f.name for f in fields(Config)})
        if unknown:  # a misspelt override would otherwise be silently ignored
            raise ConfigError(f"unknown setting {unknown[0]!r}")
        config = replace(config, **overrides)
    config = replace(config, issuer=config.issuer.rstrip("/"))
    if config.mail_from == Config.mail_from and config.brand_name != Config.brand_name:
        # Mail comes from the product, not from "idp", unless IDP_MAIL_FROM says otherwise.
        config = replace(config, mail_from=formataddr((config.brand_name, "no-reply@localhost")))
    validate(config)
    return config


def validate(config: Config) -> None:
    """Refuse settings that cannot work, and unsafe ones in production."""
    for name in _INT_FIELDS:
        if getattr(config, name) < (0 if name in _MAY_BE_ZERO else 1):
            raise ConfigError(f"IDP_{name.upper()} must be positive")
    for name in _FLOAT_FIELDS:
        if not 0 < getattr(config, name) <= 60:
            raise ConfigError(f"IDP_{name.upper()} must be between 0 and 60 seconds")
    if config.outbox_drain not in ("web", "worker"):
        raise ConfigError(f"IDP_OUTBOX_DRAIN must be web or worker, got {config.outbox_drain!r}")
    if not config.issuer.startswith(("http://", "https://")):
        raise ConfigError(f"IDP_ISSUER must be an http(s) URL, got {config.issuer!r}")
    if config.production:
        if not config.secret_key or is_placeholder(config.secret_key):
            raise ConfigError("IDP_SECRET_KEY must be set to a random value in production")
        if len(config.secret_key) < MIN_SECRET_CHARACTERS:
            raise ConfigError("IDP_SECRET_KEY must be at least 32 characters in production")
        if config.totp_key and is_placeholder(config.totp_key):
            raise ConfigError("IDP_TOTP_KEY must be set to a random value in production")
        if config.totp_key and len(config.totp_key) < MIN_SECRET_CHARACTERS:
            raise ConfigError("IDP_TOTP_KEY must be at least 32 characters in production")
        if not config.https:
            raise ConfigError("IDP_ISSUER must be an https URL in production")
        if not config.smtp_url:
            raise ConfigError(
                "IDP_SMTP_URL must be set in production (mail would stay in the outbox)"
            )
        if not config.redis_url:
            # The in-process store is per worker: sign-ins parked by one are unknown to the
            # others, and each would count rate limits on its own.
            raise ConfigError(
                "REDIS_URL must be set in production (the in-process store serves one process only)"
            )
    if config.dynamic_registration and len(config.registration_initial_token) < 32:
        raise ConfigError(
            "IDP_DYNAMIC_REGISTRATION needs IDP_REGISTRATION_INITIAL_TOKEN "
            "(at least 32 random characters)"
        )
    from .branding import check_brand

    check_brand(config)
    try:
        parse_allow(config.outbound_allow)
    except ValueError as exc:
        raise ConfigError(f"IDP_OUTBOUND_ALLOW: {exc}") from None
    if config.smtp_url:
        try:
            parse_smtp_url(config.smtp_url)
        except MailError as exc:
            raise ConfigError(f"IDP_SMTP_URL is not usable: {exc}") from None
