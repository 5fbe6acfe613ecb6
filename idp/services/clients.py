"""Client registration and lookup."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import scope_to_list
from flask import current_app
from joserfc.jwk import KeySet

from ..extensions import db
from ..models import AuthorizationCode, Client, Consent, RefreshToken, hash_client_secret
from . import blocklist, client_cache, outbound, tokens

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
TOKEN_EXCHANGE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"  # RFC 8693
GRANT_TYPES = (
    "authorization_code",
    "refresh_token",
    "client_credentials",
    TOKEN_EXCHANGE_GRANT_TYPE,
)
DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")
MAX_RETRY_WINDOW_SECONDS = 60
DEFAULT_SCOPE = "openid profile email"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
MAX_AUDIENCE_LENGTH = 255


class ClientError(ValueError):
    """Client metadata that cannot be registered; the message says which field."""


def validate_redirect_uri(uri: str, field: str = "redirect_uri") -> str:
    """Absolute, no fragment; https, http on loopback, or a private-use scheme (RFC 8252)."""
    parts = urlsplit(uri)
    if not parts.scheme or parts.fragment or uri != uri.strip():
        raise ClientError(f"{field} must be an absolute URI without a fragment: {uri!r}")
    if parts.scheme == "https" and parts.netloc:
        return uri
    if parts.scheme == "http":
        if parts.hostname in LOOPBACK_HOSTS:
            return uri
        raise ClientError(f"{field} must use https unless it is a loopback address: {uri!r}")
    if parts.scheme in ("javascript", "data", "file", "vbscript"):
        raise ClientError(f"{field} uses a forbidden scheme: {uri!r}")
    if "." not in parts.scheme:
        # RFC 8252 §7.1: private-use schemes are reverse domain names.
        raise ClientError(f"{field} private-use schemes must be reverse domain names: {uri!r}")
    return uri


def build_metadata(
    name: str,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str] | None = None,
    public: bool = False,
    grant_types: list[str] | None = None,
    scope: str = DEFAULT_SCOPE,
    auth_method: str | None = None,
    jwks: dict | None = None,
    jwks_uri: str | None = None,
    refresh_retry_window: int | None = None,
    require_mfa: bool = False,
    backchannel_logout_uri: str | None = None,
    backchannel_logout_session_required: bool = False,
    id_token_signed_response_alg: str | None = None,
    exchange_audiences: list[str] | None = None,
    exchange_scopes: list[str] | None = None,
) -> dict[str, Any]:
    """Validated RFC 7591-style metadata; raise ClientError naming the field that is wrong.

    The one place client metadata is checked, for the CLI, the admin API and console, and
    dynamic registration alike.
    """
    if not isinstance(name, str) or not name.strip():
        raise ClientError("a client name is required")
    auth_method = auth_method or ("none" if public else "client_secret_basic")
    if auth_method not in AUTH_METHODS:
        raise ClientError(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
    if public != (auth_method == "none"):
        raise ClientError("public clients use auth method 'none'; confidential clients do not")
    grant_types = list(dict.fromkeys(grant_types or DEFAULT_GRANT_TYPES))
    unknown = [g for g in grant_types if g not in GRANT_TYPES]
    if unknown:
        raise ClientError(f"unsupported grant type {unknown[0]!r}")
    if public and "client_credentials" in grant_types:
        raise ClientError("public clients cannot use the client_credentials grant")
    if public and TOKEN_EXCHANGE_GRANT_TYPE in grant_types:
        raise ClientError("public clients cannot use the token-exchange grant")
    if "authorization_code" in grant_types and not redirect_uris:
        raise ClientError("at least one redirect URI is required")
    metadata: dict[str, Any] = {
        "client_name": name.strip()[:200],
        "redirect_uris": [validate_redirect_uri(u) for u in redirect_uris],
        "post_logout_redirect_uris": [
            validate_redirect_uri(u, "post_logout_redirect_uri")
            for u in post_logout_redirect_uris or []
        ],
        "grant_types": grant_types,
        "response_types": ["code"] if "authorization_code" in grant_types else [],
        "scope": " ".join(dict.fromkeys(scope_to_list(scope) or [])),
        "token_endpoint_auth_method": auth_method,
    }
    if auth_method == "private_key_jwt":
        metadata.update(_validate_client_keys(jwks, jwks_uri))
    elif jwks or jwks_uri:
        raise ClientError("jwks and jwks_uri are only for private_key_jwt clients")
    if refresh_retry_window is not None:
        if not 0 <= refresh_retry_window <= MAX_RETRY_WINDOW_SECONDS:
            raise ClientError(
                f"refresh_retry_window must be 0 to {MAX_RETRY_WINDOW_SECONDS} seconds"
            )
        metadata["refresh_retry_window"] = refresh_retry_window
    if require_mfa:
        metadata["require_mfa"] = True
    if backchannel_logout_uri:
        validate_redirect_uri(backchannel_logout_uri, "backchannel_logout_uri")
        if urlsplit(backchannel_logout_uri).scheme not in ("http", "https"):
            raise ClientError("backchannel_logout_uri must be an http(s) URL")
        _check_fetchable(backchannel_logout_uri, "backchannel_logout_uri")
        metadata["backchannel_logout_uri"] = backchannel_logout_uri
        metadata["backchannel_logout_session_required"] = backchannel_logout_session_required
    if id_token_signed_response_alg:
        metadata["id_token_signed_response_alg"] = _validate_id_token_alg(
            id_token_signed_response_alg
        )
    if TOKEN_EXCHANGE_GRANT_TYPE in grant_types:
        metadata["token_exchange"] = _validate_exchange(
            exchange_audiences, exchange_scopes, scope_to_list(metadata["scope"]) or []
        )
    elif exchange_audiences or exchange_scopes:
        raise ClientError("exchange audiences and scopes need the token-exchange grant type")
    return metadata


def _has_secret(auth_method: str) -> bool:
    return auth_method in ("client_secret_basic", "client_secret_post")


def create_client(
    name: str, redirect_uris: list[str], first_party: bool = False, **fields: Any
) -> tuple[Client, str | None]:
    """Register a client; return it and its secret (None when it has no secret).

    `fields` are build_metadata's keyword arguments.
    """
    metadata = build_metadata(name, redirect_uris, **fields)
    secret = (
        secrets.token_urlsafe(32) if _has_secret(metadata["token_endpoint_auth_method"]) else None
    )
    client = Client(
        client_id=secrets.token_urlsafe(18),
        client_secret=hash_client_secret(secret) if secret else None,
        client_id_issued_at=int(time.time()),
        first_party=first_party,
    )
    client.set_client_metadata(metadata)
    db.session.add(client)
    db.session.commit()
    return client, secret


def registered_fields(client: Client) -> dict[str, Any]:
    """The client's registration as build_metadata's arguments (for partial updates)."""
    metadata = client.client_metadata
    exchange = metadata.get("token_exchange") or {}
    return {
        "name": metadata.get("client_name", ""),
        "redirect_uris": metadata.get("redirect_uris", []),
        "post_logout_redirect_uris": metadata.get("post_logout_redirect_uris", []),
        "public": client.is_public,
        "grant_types": metadata.get("grant_types"),
        "scope": metadata.get("scope", ""),
        "auth_method": client.token_endpoint_auth_method,
        "jwks": metadata.get("jwks"),
        "jwks_uri": metadata.get("jwks_uri"),
        "refresh_retry_window": metadata.get("refresh_retry_window"),
        "require_mfa": bool(metadata.get("require_mfa")),
        "backchannel_logout_uri": metadata.get("backchannel_logout_uri"),
        "backchannel_logout_session_required": bool(
            metadata.get("backchannel_logout_session_required")
        ),
        "id_token_signed_response_alg": metadata.get("id_token_signed_response_alg"),
        "exchange_audiences": exchange.get("audiences"),
        "exchange_scopes": exchange.get("scopes"),
    }


def update_client(client: Client, first_party: bool | None = None, **fields: Any) -> Client:
    """Change a client's metadata; fields not given keep their value. A client keeps its kind
    of credential: switching between a secret and none or keys means a new client."""
    merged = {**registered_fields(client), **fields}
    metadata = build_metadata(**merged)
    if _has_secret(metadata["token_endpoint_auth_method"]) != _has_secret(
        client.token_endpoint_auth_method
    ):
        raise ClientError("a client cannot switch between secret and secret-less authentication")
    client.set_client_metadata(metadata)
    if first_party is not None:
        client.first_party = first_party
    db.session.commit()
    client_cache.forget(client.client_id)
    return client


def rotate_secret(client: Client) -> str:
    """A new secret for a confidential client; the old one stops working at once."""
    if not _has_secret(client.token_endpoint_auth_method):
        raise ClientError("only clients that authenticate with a secret have one to rotate")
    secret = secrets.token_urlsafe(32)
    client.client_secret = hash_client_secret(secret)
    db.session.commit()
    client_cache.forget(client.client_id)
    return secret


def _check_fetchable(url: str, field: str) -> None:
    """idp fetches this URL: refuse what the outbound rules would refuse (a host name is
    checked again, resolved, at every fetch)."""
    try:
        current_app.extensions["idp.outbound"].check_url(url)
    except outbound.OutboundRefused as exc:
        raise ClientError(f"{field} is not a URL idp may fetch: {exc}") from None


def _validate_client_keys(jwks: dict | None, jwks_uri: str | None) -> dict[str, Any]:
    """private_key_jwt clients register public keys, inline or by https URI."""
    if bool(jwks) == bool(jwks_uri):
        raise ClientError("private_key_jwt clients register exactly one of jwks or jwks_uri")
    if jwks_uri:
        parts = urlsplit(jwks_uri)
        loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
        if not (parts.scheme == "https" or loopback) or not parts.netloc:
            raise ClientError(f"jwks_uri must be an https URL: {jwks_uri!r}")
        _check_fetchable(jwks_uri, "jwks_uri")
        return {"jwks_uri": jwks_uri}
    try:
        keys = KeySet.import_key_set(jwks)
    except (ValueError, KeyError, TypeError) as exc:
        raise ClientError("jwks is not a valid JSON Web Key Set") from exc
    if not keys.keys or any(key.is_private for key in keys.keys):
        raise ClientError("jwks must hold public keys only")
    return {"jwks": {"keys": [key.as_dict(private=False) for key in keys.keys]}}


def _validate_id_token_alg(alg: str) -> str:
    """One of the algorithms an active key signs with now (discovery advertises the same)."""
    supported = current_app.extensions["idp.keys"].algorithms
    if alg not in supported:
        raise ClientError(
            f"id_token_signed_response_alg must be one of {', '.join(supported)} (the algorithms"
            f" of active signing keys); for {alg!r} run 'idp keys generate --alg {alg}' first"
        )
    return alg


def _validate_exchange(
    audiences: list[str] | None, scopes: list[str] | None, client_scopes: list[str]
) -> dict[str, Any]:
    """What a token-exchange client may ask for: scopes within its registered scope (all of
    it by default), and audiences (other clients or resource identifiers) besides itself."""
    scope_list = list(dict.fromkeys(s for value in scopes or [] for s in scope_to_list(value)))
    scope_list = scope_list or list(client_scopes)
    if not scope_list:
        raise ClientError("token-exchange clients need at least one scope")
    outside = [s for s in scope_list if s not in client_scopes]
    if outside:
        raise ClientError(f"exchange scope {outside[0]!r} is not in the client's scope")
    audience_list = list(dict.fromkeys(audiences or []))
    for audience in audience_list:
        if not audience or len(audience) > MAX_AUDIENCE_LENGTH or any(map(str.isspace, audience)):
            raise ClientError(f"exchange audience must be a non-empty word: {audience!r}")
    return {"audiences": audience_list, "scopes": scope_list}


def find_client(client_id: str | None) -> Client | None:
    if not client_id or not isinstance(client_id, str) or len(client_id) > 48:
        return None
    return db.session.execute(db.select(Client).filter_by(client_id=client_id)).scalar_one_or_none()


def list_clients() -> list[Client]:
    return list(db.session.execute(db.select(Client).order_by(Client.id)).scalars())


def delete_client(client_id: str) -> bool:
    """Delete a client, revoking its tokens; False if it did not exist."""
    client = find_client(client_id)
    if client is None:
        return False
    families = (
        db.session.execute(
            db.select(RefreshToken.family_id).filter_by(client_id=client_id).distinct()
        )
        .scalars()
        .all()
    )
    for family_id in families:
        tokens.revoke_family(family_id)
    for jti, expires_at in db.session.execute(
        db.select(AuthorizationCode.access_jti, AuthorizationCode.access_expires_at).where(
            AuthorizationCode.client_id == client_id, AuthorizationCode.access_jti.is_not(None)
        )
    ):
        blocklist.block(jti, expires_at)
    db.session.execute(db.delete(RefreshToken).filter_by(client_id=client_id))
    db.session.execute(db.delete(AuthorizationCode).filter_by(client_id=client_id))
    db.session.execute(db.delete(Consent).filter_by(client_id=client_id))
    db.session.delete(client)
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
