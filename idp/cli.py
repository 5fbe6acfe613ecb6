"""The `idp` command: the operator's interface. Every failure is one line and a non-zero exit."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps

import click
from flask import Flask

from .cli_options import collect, model_options
from .errors import IdpError
from .schemas.clients import ClientMetadata

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password-123"  # noqa: S105 - documented demo credentials
DEMO_REDIRECT_URI = "http://127.0.0.1:8000/callback"


def _app() -> Flask:
    from . import create_app

    try:
        return create_app()
    except IdpError as exc:
        raise failure(exc) from exc


def failure(exc: IdpError) -> click.ClickException:
    """The CLI's answer to any of idp's errors: its message on one line, its exit status."""
    answer = click.ClickException(str(exc))
    answer.exit_code = exc.exit_code
    return answer


def with_app(func: Callable) -> Callable:
    """Run the command inside an app context, turning known failures into one line."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        from sqlalchemy.exc import SQLAlchemyError

        from .errors import StoreUnavailable
        from .preflight import describe_database_error, describe_store_error

        app = _app()
        with app.app_context():
            try:
                return func(*args, **kwargs)
            except SQLAlchemyError as exc:
                url = app.config["SQLALCHEMY_DATABASE_URI"]
                raise click.ClickException(describe_database_error(exc, url)) from exc
            except StoreUnavailable as exc:
                url = app.config["IDP"].redis_url
                raise click.ClickException(describe_store_error(exc, url)) from exc
            except IdpError as exc:
                raise failure(exc) from exc

    return wrapper


@click.group()
def main() -> None:
    """Operate an idp OpenID Provider."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@with_app
def db_upgrade() -> None:
    """Apply the migrations to DATABASE_URL."""
    from flask_migrate import upgrade

    upgrade()  # a database failure becomes one line in with_app (host, port, reason)
    click.echo("database is up to date")


@db.command("purge")
@with_app
def db_purge() -> None:
    """Delete expired codes, dead refresh tokens, ended sessions and old links (cron daily)."""
    from .services.housekeeping import purge

    click.echo(json.dumps(purge()))


@main.command()
@click.option("--once", is_flag=True, help="Drain what is due now, print the counts, exit.")
@click.option(
    "--interval",
    type=click.FloatRange(0.05, 60),
    default=1.0,
    show_default=True,
    help="Seconds between drains when the outbox is idle.",
)
@with_app
def worker(once: bool, interval: float) -> None:
    """Drain the outbox table: audit rows, mail, back-channel logouts, account jobs.

    Optional: web workers drain it after their responses too. Run one or more (they never
    take the same row) to deliver on time without traffic, or with IDP_OUTBOX_DRAIN=worker
    to keep SMTP and back-channel calls off the web workers. SIGTERM stops after the
    current batch.
    """
    import signal
    import time

    from .services import outbox

    if once:
        click.echo(json.dumps(outbox.drain()))
        return
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    click.echo(f"idp worker: draining the outbox every {interval:g} s", err=True)
    while not stopping:
        counts = outbox.drain()
        if not any(counts.values()):
            deadline = time.monotonic() + interval
            while not stopping and time.monotonic() < deadline:
                time.sleep(min(0.1, interval))


@main.group()
def keys() -> None:
    """Signing keys."""


@keys.command("generate")
@click.option("--alg", type=click.Choice(["RS256", "ES256"]), default="RS256", show_default=True)
@click.option("--if-missing", is_flag=True, help="Do nothing when an active key of ALG exists.")
def keys_generate(alg: str, if_missing: bool) -> None:
    """Create a signing key and print its kid."""
    from .config import load_config
    from .oauth.keys import KeyRing, generate_key

    try:
        keys_dir = load_config().keys_dir
        if if_missing:
            ring = KeyRing(keys_dir)
            if alg in ring.algorithms:
                click.echo(ring.signing_key(alg).kid)
                return
        click.echo(generate_key(keys_dir, alg))
    except IdpError as exc:
        raise failure(exc) from exc
    except OSError as exc:
        raise click.ClickException(str(exc)) from exc


@keys.command("rotate")
@click.option("--alg", type=click.Choice(["RS256", "ES256"]), default="RS256", show_default=True)
@click.option(
    "--force",
    is_flag=True,
    help="Promote even a next key published for less than the JWKS cache time.",
)
def keys_rotate(alg: str, force: bool) -> None:
    """Promote the next key to active, retire the active one, create a new next key.

    The first run only publishes a next key. Schedule it, e.g. monthly from cron:
    `0 3 1 * * idp keys rotate` (and `idp keys rotate --alg ES256` if you sign with ES256).
    Running workers pick the change up within 10 seconds, no restart; prints one JSON object.
    """
    from .config import load_config
    from .oauth.keys import config_min_published, config_retired_ttl, rotate

    try:
        config = load_config()
        result = rotate(
            config.keys_dir,
            alg,
            min_published_seconds=config_min_published(config),
            retired_ttl_seconds=config_retired_ttl(config),
            force=force,
        )
    except IdpError as exc:
        raise failure(exc) from exc
    except OSError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(result))


@keys.command("list")
def keys_list() -> None:
    """Print every key with its state and age, oldest first, one JSON object per line."""
    from . import clock
    from .config import load_config
    from .oauth.keys import config_retired_ttl, read_keys

    try:
        config = load_config()
        stored = read_keys(config.keys_dir)
    except IdpError as exc:
        raise failure(exc) from exc
    except OSError as exc:
        raise click.ClickException(str(exc)) from exc
    now = clock.now()
    for key in stored:
        click.echo(json.dumps(key.describe(config_retired_ttl(config), now)))


@keys.command("prune")
def keys_prune() -> None:
    """Delete retired keys whose tokens have all expired (rotate also does this)."""
    from .config import load_config
    from .oauth.keys import config_retired_ttl, prune

    try:
        config = load_config()
        removed = prune(config.keys_dir, config_retired_ttl(config))
    except IdpError as exc:
        raise failure(exc) from exc
    except OSError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({"pruned": removed}))


@main.group()
def clients() -> None:
    """Relying-party clients."""


@clients.command("create")
@click.option("--public", is_flag=True, help="A client that cannot keep a secret (uses PKCE).")
@model_options(ClientMetadata)
@with_app
def clients_create(public: bool, **options) -> None:
    """Register a client and print it as JSON (the secret is shown this once).

    The options are the fields of the client schema (idp/schemas/clients.py).
    """
    from .services.clients import describe, model_input, register

    data = collect(ClientMetadata, options)
    if public:
        data = model_input({**data, "public": True})
    client, secret = register(data)
    click.echo(json.dumps(describe(client, secret), indent=2))


@clients.command("list")
@with_app
def clients_list() -> None:
    """List registered clients, one JSON object per line."""
    from .services.clients import describe, list_clients

    for client in list_clients():
        click.echo(json.dumps(describe(client)))


@clients.command("delete")
@click.argument("client_id")
@with_app
def clients_delete(client_id: str) -> None:
    """Delete a client."""
    from .services.clients import delete_client

    if not delete_client(client_id):
        raise click.ClickException(f"no client with client_id {client_id!r}")
    click.echo(f"deleted {client_id}")


@main.group()
def users() -> None:
    """User accounts."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", default="")
@click.option("--role", "roles", multiple=True)
@click.option(
    "--password-stdin",
    is_flag=True,
    expose_value=False,  # stdin is the only way: the flag says so in scripts, nothing more
    help="Read the password from stdin (always; never from an argument).",
)
@with_app
def users_create(email: str, name: str, roles: tuple[str, ...]) -> None:
    """Create a user; the password comes from standard input, never an argument."""
    from .schemas.users import NewUser, validate
    from .services.users import create_user

    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.ClickException("no password on standard input")
    new = validate(NewUser, {"email": email, "name": name, "roles": list(roles) or ["user"]})
    user = create_user(new.email, password, name=new.name, roles=new.roles, email_verified=True)
    click.echo(json.dumps({"id": str(user.id), "email": user.email, "roles": user.roles}))


@users.command("totp-enroll")
@click.argument("email")
@click.option("--generate", is_flag=True, help="Create the secret and print it with its URI.")
@with_app
def users_totp_enroll(email: str, generate: bool) -> None:
    """Enable TOTP for a user with a base32 secret from stdin (or a generated one)."""
    import binascii

    import pyotp

    from .services import mfa
    from .services import users as user_service

    user = user_service.find_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with email {email!r}")
    if generate:
        secret = pyotp.random_base32(32)
    else:
        secret = sys.stdin.readline().strip().replace(" ", "").upper()
        try:
            pyotp.TOTP(secret).now()
        except (binascii.Error, ValueError) as exc:
            raise click.ClickException("standard input is not a base32 TOTP secret") from exc
        if len(secret) < 16:
            raise click.ClickException("the secret must be at least 80 bits (16 base32 characters)")
    codes = mfa.enable(user, secret)
    result = {"email": user.email, "recovery_codes": codes}
    if generate:
        uri, _ = mfa.provisioning(user, secret)
        result.update(secret=secret, otpauth_uri=uri)
    click.echo(json.dumps(result, indent=2))


@main.group()
def audit() -> None:
    """The audit log."""


@audit.command("list")
@click.option("--user", "user_ref", help="A user's email or id.")
@click.option("--client", "client_id", help="A client_id.")
@click.option("--type", "event_type", help="An event type, e.g. refresh_token_reuse.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@with_app
def audit_list(
    user_ref: str | None, client_id: str | None, event_type: str | None, limit: int
) -> None:
    """Print recent events, newest first, one JSON object per line."""
    from .services import audit as audit_service
    from .services import users as user_service

    user_id = None
    if user_ref:
        user = user_service.find_by_email(user_ref) or user_service.get_user_by_subject(user_ref)
        if user is None:
            raise click.ClickException(f"no user {user_ref!r}")
        user_id = user.id
    if event_type and event_type not in audit_service.EVENT_TYPES:
        raise click.ClickException(
            f"unknown event type {event_type!r}; known: {', '.join(audit_service.EVENT_TYPES)}"
        )
    for event in audit_service.query(
        user_id=user_id, client_id=client_id, event_type=event_type, limit=limit
    ):
        click.echo(
            json.dumps(
                {
                    "occurred_at": event.occurred_at.isoformat(),
                    "event_type": event.event_type,
                    "user_id": str(event.user_id) if event.user_id else None,
                    "client_id": event.client_id,
                    "ip": event.ip,
                    "user_agent": event.user_agent,
                    "details": event.details,
                }
            )
        )


@main.command()
@with_app
def demo() -> None:
    """Seed the demo user and the demo app, a public client that must ask for consent
    (idempotent), and print them with where to start."""
    from .services import clients as client_service
    from .services import users as user_service
    from .views.demo import DEMO_CLIENT_NAME, callback_uri

    user = user_service.find_by_email(DEMO_EMAIL) or user_service.create_user(
        DEMO_EMAIL, DEMO_PASSWORD, name="Demo User", email_verified=True
    )
    client = next(
        (c for c in client_service.list_clients() if c.client_name == DEMO_CLIENT_NAME), None
    )
    if client is None:
        client, _ = client_service.create_client(
            DEMO_CLIENT_NAME, [callback_uri(), DEMO_REDIRECT_URI], public=True, first_party=False
        )
    elif callback_uri() not in client.redirect_uris:  # seeded before idp served /demo
        client = client_service.update_client(
            client, redirect_uris=[callback_uri(), *client.redirect_uris]
        )
    click.echo(
        json.dumps(
            {
                "user": {"email": user.email, "password": DEMO_PASSWORD},
                "client": client_service.describe(client),
            },
            indent=2,
        )
    )
    _print_try_it(client.client_id)


def _print_try_it(client_id: str) -> None:
    """A ready-to-open authorization URL, with the PKCE verifier to redeem its code."""
    import base64
    import hashlib
    import secrets
    from urllib.parse import urlencode

    from flask import current_app

    from .views.demo import callback_uri

    issuer = current_app.config["IDP"].issuer
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": callback_uri(),
            "scope": "openid profile email",
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
    )
    click.echo(f"\nOpen this URL and sign in as {DEMO_EMAIL} / {DEMO_PASSWORD}:\n")
    click.echo(f"  {issuer}/demo\n")
    click.echo(
        "The demo app redeems the code and shows the ID-token claims and userinfo.\n"
        "To do its part by hand instead, open this authorization URL; the browser lands on\n"
        "/demo/callback, which shows the code; redeem it within 60 s:\n"
    )
    click.echo(f"  {issuer}/authorize?{query}\n")
    click.echo(
        f"  curl -s {issuer}/token -d grant_type=authorization_code -d client_id={client_id} "
        f"-d redirect_uri={callback_uri()} -d code_verifier={verifier} -d code=CODE\n"
    )


@main.command()
@click.option(
    "--production", is_flag=True, help="Run the production server (granian), not the dev one."
)
@click.option(
    "--host", help="Address to listen on [dev: 127.0.0.1; production: IDP_BIND or 0.0.0.0]."
)
@click.option("--port", type=int, help="Port [dev: 5000; production: IDP_BIND or 8000].")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Production: worker processes [IDP_WORKERS or one per core].",
)
def serve(production: bool, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the development server, or with --production the production server in the foreground."""
    if not production:
        if workers is not None:
            raise click.UsageError("--workers applies to --production only")
        from .devserver import run

        run(_app(), host=host or "127.0.0.1", port=port or 5000)
        return
    from . import serving

    try:
        settings = serving.settings_from_env(host=host, port=port, workers=workers)
    except IdpError as exc:
        raise failure(exc) from exc
    serving.prepare_environment()
    # Build the app once here so a bad setting is one line now, not a crash loop of workers;
    # each worker builds its own after the fork.
    app = _app()
    with app.app_context():
        from .extensions import db

        db.engine.dispose()
    serving.serve(settings)


if __name__ == "__main__":
    main()
