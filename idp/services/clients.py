"""Client registration and lookup.

What a registration may hold is idp.schemas.clients.ClientMetadata: every entry point (admin
API, console, CLI, dynamic registration) hands its input, with RFC 7591 names, to `register`
or `change`, which validate it with that model and store what it produces.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

from flask import current_app

from ..extensions import db
from ..models import AuthorizationCode, Client, Consent, RefreshToken, hash_client_secret
from ..schemas.clients import (  # noqa: F401 - the constants are this service's vocabulary too
    AUTH_METHODS,
    DEFAULT_GRANT_TYPES,
    DEFAULT_SCOPE,
    GRANT_TYPES,
    LOOPBACK_HOSTS,
    MAX_AUDIENCE_LENGTH,
    MAX_RETRY_WINDOW_SECONDS,
    TOKEN_EXCHANGE_GRANT_TYPE,
    Rules,
    stored_fields,
    validate_client,
    validate_redirect_uri,
)
from ..schemas.clients import InvalidClientMetadata as ClientError
from . import audit, client_cache, outbound, revocation

# Python callers' keyword names (tests, bench, `idp demo`) for what the model names otherwise.
ARGUMENT_NAMES = {"name": "client_name", "auth_method": "token_endpoint_auth_method"}


def rules() -> Rules:
    """What validating a client needs from this app: the outbound rules and signing keys."""
    keys = current_app.extensions["idp.keys"]
    return Rules(check_fetchable=_check_fetchable, signing_algorithms=keys.algorithms)


def register(data: Mapping[str, Any], *, actor: str | None = None) -> tuple[Client, str | None]:
    """Register a client from model input; return it and its secret (None without one).
    `actor` is who did it, for the audit row written in the same transaction.

    Raise ClientError naming the field that is wrong.
    """
    client, secret = _new_client(data)
    audit.record("client_created", client_id=client.client_id, actor=actor)
    db.session.commit()
    return client, secret


def register_dynamically(data: Mapping[str, Any]) -> tuple[Client, str | None, str]:
    """RFC 7591: register a client with a registration access token for RFC 7592; return
    it, its secret and that token, all in one transaction."""
    client, secret = _new_client(data)
    token = secrets.token_urlsafe(32)
    client.registration_token_hash = _registration_token_hash(token)
    audit.record("client_created", client_id=client.client_id, actor="dynamic_registration")
    db.session.commit()
    return client, secret, token


def find_by_registration_token(presented: str | None) -> Client | None:
    """The client a registration access token was issued for (RFC 7592), else None."""
    if not presented or len(presented) > 256:
        return None
    return db.session.execute(
        db.select(Client).filter_by(registration_token_hash=_registration_token_hash(presented))
    ).scalar_one_or_none()


def _registration_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_client_id() -> str:
    """A random client id that never starts with "-", which a command line reads as an option."""
    while (client_id := secrets.token_urlsafe(18)).startswith("-"):
        pass
    return client_id


def _new_client(data: Mapping[str, Any]) -> tuple[Client, str | None]:
    """A new client in the session (not committed) and its secret."""
    metadata = validate_client(data, rules())
    secret = secrets.token_urlsafe(32) if metadata.has_secret else None
    client = Client(
        client_id=_new_client_id(),
        client_secret=hash_client_secret(secret) if secret else None,
        client_id_issued_at=int(time.time()),
        first_party=metadata.first_party,
    )
    client.set_client_metadata(metadata.to_metadata())
    db.session.add(client)
    return client, secret


def change(
    client: Client,
    changes: Mapping[str, Any],
    reset: Iterable[str] = (),
    *,
    actor: str | None = None,
) -> Client:
    """Change part of a registration (model input); fields in `reset` that `changes` does
    not name go back to their defaults. A client keeps its kind of credential: switching
    between a secret and none or keys means a new client. Raise ClientError."""
    current = stored_fields(client.client_metadata, client.first_party)
    for name in reset:
        current.pop(name, None)
    metadata = validate_client({**current, **changes}, rules())
    if metadata.has_secret != _has_secret(client.token_endpoint_auth_method):
        raise ClientError("a client cannot switch between secret and secret-less authentication")
    client.set_client_metadata(metadata.to_metadata())
    client.first_party = metadata.first_party
    audit.record("client_updated", client_id=client.client_id, actor=actor)
    db.session.commit()
    client_cache.forget(client.client_id)
    return client


def model_input(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Model input from Python keyword arguments: None means "not set", tuples are lists,
    `public=True` means auth method 'none', and `exchange_audiences`/`exchange_scopes` fill
    `token_exchange`."""
    data = {
        ARGUMENT_NAMES.get(name, name): list(value) if isinstance(value, tuple) else value
        for name, value in fields.items()
        if value is not None and name not in ("public", "exchange_audiences", "exchange_scopes")
    }
    if "public" in fields:
        public = bool(fields["public"])
        method = data.setdefault("token_endpoint_auth_method", "none" if public else None)
        if method is None:
            data.pop("token_endpoint_auth_method")
        elif public != (method == "none"):
            raise ClientError("public clients use auth method 'none'; confidential clients do not")
    audiences, scopes = fields.get("exchange_audiences"), fields.get("exchange_scopes")
    if audiences or scopes:
        data["token_exchange"] = {"audiences": list(audiences or []), "scopes": list(scopes or [])}
    if not data.get("grant_types"):
        data.pop("grant_types", None)
    return data


def create_client(
    name: str,
    redirect_uris: list[str],
    first_party: bool = False,
    *,
    actor: str | None = None,
    **fields: Any,
) -> tuple[Client, str | None]:
    """Register a client from keyword arguments (see model_input); return it and its secret."""
    data = model_input({"name": name, "redirect_uris": redirect_uris, **fields})
    return register({**data, "first_party": first_party}, actor=actor)


def update_client(
    client: Client, first_party: bool | None = None, *, actor: str | None = None, **fields: Any
) -> Client:
    """Change a client's metadata from keyword arguments; fields not given keep their value."""
    changes = model_input(fields)
    if first_party is not None:
        changes["first_party"] = first_party
    return change(client, changes, actor=actor)


def _has_secret(auth_method: str) -> bool:
    return auth_method in ("client_secret_basic", "client_secret_post")


def rotate_secret(client: Client, actor: str | None = None) -> str:
    """A new secret for a confidential client; the old one stops working at once."""
    if not _has_secret(client.token_endpoint_auth_method):
        raise ClientError("only clients that authenticate with a secret have one to rotate")
    secret = secrets.token_urlsafe(32)
    client.client_secret = hash_client_secret(secret)
    audit.record("client_secret_rotated", client_id=client.client_id, actor=actor)
    db.session.commit()
    client_cache.forget(client.client_id)
    return secret


def _check_fetchable(url: str, field: str) -> None:
    """idp fetches this URL: refuse what the outbound rules would refuse (a host name is
    checked again, resolved, at every fetch)."""
    try:
        current_app.extensions["idp.outbound"].check_url(url)
    except outbound.OutboundRefused as exc:
        raise ClientError(f"{field} is not a URL idp may fetch: {exc}", field) from None


def find_client(client_id: str | None) -> Client | None:
    if not client_id or not isinstance(client_id, str) or len(client_id) > 48:
        return None
    return db.session.execute(db.select(Client).filter_by(client_id=client_id)).scalar_one_or_none()


def list_clients() -> list[Client]:
    return list(db.session.execute(db.select(Client).order_by(Client.id)).scalars())


def delete_client(client_id: str, actor: str | None = None) -> bool:
    """Delete a client, revoking its tokens; False if it did not exist."""
    client = find_client(client_id)
    if client is None:
        return False
    revocation.revoke_grants(client_id=client_id)
    db.session.execute(db.delete(RefreshToken).filter_by(client_id=client_id))
    db.session.execute(db.delete(AuthorizationCode).filter_by(client_id=client_id))
    db.session.execute(db.delete(Consent).filter_by(client_id=client_id))
    db.session.delete(client)
    audit.record("client_deleted", client_id=client_id, actor=actor)
    db.session.commit()
    client_cache.forget(client_id)
    return True


def describe(client: Client, secret: str | None = None) -> dict[str, Any]:
    """The client as JSON-ready registration data (RFC 7591 names)."""
    data: dict[str, Any] = {"client_id": client.client_id}
    if secret:
        data["client_secret"] = secret
    data.update(client.client_metadata)
    data["first_party"] = client.first_party
    return data
