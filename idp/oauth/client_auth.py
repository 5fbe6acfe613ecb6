"""Client authentication at the token, revocation and introspection endpoints.

Registered with Authlib's ClientAuthentication so one answer covers an unknown client and a
wrong secret, and malformed Basic credentials end as invalid_client instead of a 500.
"""

from __future__ import annotations

import time

import requests
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .. import clock
from ..services import outbound, replay

CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
ALL_AUTH_METHODS = [*CONFIDENTIAL_AUTH_METHODS, "none"]
JWKS_URI_CACHE_SECONDS = 300
JWKS_URI_TIMEOUT_SECONDS = 5
ASYMMETRIC_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})


def client_secret_basic(query_client, request):
    try:
        client_id, client_secret = extract_basic_authorization(request.headers)
    except (UnicodeDecodeError, ValueError):
        return None
    return _check_secret(query_client, client_id, client_secret)


def client_secret_post(query_client, request):
    return _check_secret(
        query_client, request.form.get("client_id"), request.form.get("client_secret")
    )


def _check_secret(query_client, client_id, client_secret):
    if not client_id or not client_secret:
        return None
    client = query_client(client_id)
    if client is not None and client.check_client_secret(client_secret):
        return client
    return None


def none(query_client, request):
    """Public clients: a client_id in the body and no credentials anywhere."""
    client_id = request.form.get("client_id")
    if not client_id or request.form.get("client_secret") or request.headers.get("Authorization"):
        return None
    return query_client(client_id)


class PrivateKeyJWT(JWTBearerClientAssertion):
    """RFC 7523 client assertions signed with a key the client registered (jwks or jwks_uri)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"
    _jwks_uri_cache: dict[str, tuple[float, KeySet]] = {}

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=30)

    def get_audiences(self) -> list[str]:
        issuer = current_app.config["IDP"].issuer
        return [issuer, f"{issuer}/token"]

    def verify_claims(self, claims) -> None:
        """Refuse assertions that live long (IDP_CLIENT_ASSERTION_MAX_LIFETIME after `iat`
        and after now): a `jti` is remembered only until `exp`, so a long-lived assertion
        would outlast the memory of it."""
        limit = current_app.config["IDP"].client_assertion_max_lifetime
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise InvalidClientError(description="The assertion needs a numeric 'exp'.")
        if exp > clock.now() + limit + self.leeway or (isinstance(iat, int) and exp - iat > limit):
            raise InvalidClientError(
                description=f"The assertion may be valid for at most {limit} seconds."
            )
        super().verify_claims(claims)

    def validate_jti(self, claims, jti) -> bool:
        """A `jti` is accepted once per client, remembered until its assertion expires."""
        if not isinstance(jti, str) or len(jti) > 256:
            return False
        ttl = int(claims["exp"] - clock.now()) + self.leeway
        return replay.first_use(replay.CLIENT_ASSERTION_PREFIX, claims["sub"], jti, ttl)

    def resolve_client_public_key(self, client) -> KeySet:
        metadata = client.client_metadata
        if metadata.get("jwks"):
            return _import_keys(metadata["jwks"])
        uri = metadata.get("jwks_uri")
        if not uri:
            raise InvalidClientError(description="The client has no registered keys.")
        cached = self._jwks_uri_cache.get(uri)
        if cached and time.monotonic() - cached[0] < JWKS_URI_CACHE_SECONDS:
            return cached[1]
        try:
            with outbound.session() as http:
                response = http.get(uri, timeout=JWKS_URI_TIMEOUT_SECONDS)
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            document = response.json()
        except (requests.RequestException, OSError, ValueError) as exc:
            raise InvalidClientError(description="The client's jwks_uri cannot be read.") from exc
        keys = _import_keys(document)
        self._jwks_uri_cache[uri] = (time.monotonic(), keys)
        return keys


def _import_keys(document) -> KeySet:
    """The client's key set; raise invalid_client when it is empty or malformed."""
    try:
        keys = KeySet.import_key_set(document)
    except (JoseError, KeyError, TypeError, ValueError) as exc:
        raise InvalidClientError(description="The client's key set is not usable.") from exc
    # A key set is public: an `oct` key in it would let anyone sign (RFC 7523 §2.2 wants the
    # client's private key), so only asymmetric keys verify assertions.
    keys = KeySet([key for key in keys.keys if key.key_type in ASYMMETRIC_KEY_TYPES])
    if not keys.keys:
        raise InvalidClientError(description="The client's key set has no usable public key.")
    return keys


def register(server) -> None:
    """Install our client authentication methods on the Authlib server."""
    server.register_client_auth_method("client_secret_basic", client_secret_basic)
    server.register_client_auth_method("client_secret_post", client_secret_post)
    server.register_client_auth_method("none", none)
    server.register_client_auth_method("private_key_jwt", PrivateKeyJWT())
