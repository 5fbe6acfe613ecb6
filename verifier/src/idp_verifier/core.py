"""Verify idp access tokens (RFC 9068 JWTs) locally, with the keys idp publishes.

Only the standard library and joserfc (with cryptography, which joserfc itself requires):
a resource server needs neither Flask nor idp's database to use this module. joserfc
parses the JWKS; the hot path (split, one cached header, one signature check, the claims)
is done here, because joserfc's generic `jwt.decode` costs three times the signature check.
"""

from __future__ import annotations

import binascii
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry

from . import _http
from .errors import (
    INSUFFICIENT_SCOPE,
    INVALID_REQUEST,
    INVALID_TOKEN,
    TokenError,
    VerifierUnavailable,
)

log = logging.getLogger("idp.verifier")

# The algorithms a verifier may pin, with the key each needs (kty, crv). Symmetric ones and
# "none" are absent on purpose (RFC 8725 §3.1–3.2): a public key must never become an HMAC
# secret, and a token must never choose to be unsigned.
KEY_TYPES: dict[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
}
# RFC 9068 §2.1: "at+jwt"; §4: compare case-insensitively, with or without "application/".
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
MAX_TOKEN_LENGTH = 8192
MAX_LEEWAY_SECONDS = 300
HEADER_CACHE_SIZE = 64  # distinct (alg, kid, typ) headers: a handful per key
NO_KEYS_RETRY_SECONDS = 5.0  # while no JWKS was ever loaded, retry this often at most
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_json_decode = json.JSONDecoder().decode
# "+", "/" and "=" are not base64url: map them to a byte strict mode refuses.
_URLSAFE = bytes.maketrans(b"-_+/=", b"+/***")


def _b64decode(segment: str) -> bytes:
    """base64url without padding (RFC 7515 §2), strictly: any other character is an error."""
    return binascii.a2b_base64(
        segment.encode("ascii").translate(_URLSAFE) + b"=" * (-len(segment) % 4),
        strict_mode=True,
    )


def _rsa_verifier(pad: padding.AsymmetricPadding, digest: hashes.HashAlgorithm):
    def verify(public_key: Any, signing_input: bytes, signature: bytes) -> bool:
        try:
            public_key.verify(signature, signing_input, pad, digest)
        except InvalidSignature:
            return False
        return True

    return verify


def _ec_verifier(digest: hashes.HashAlgorithm, size: int):
    scheme = ec.ECDSA(digest)

    def verify(public_key: Any, signing_input: bytes, signature: bytes) -> bool:
        # RFC 7518 §3.4: R || S, each `size` bytes; cryptography wants DER.
        if len(signature) != 2 * size:
            return False
        der = encode_dss_signature(
            int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        )
        try:
            public_key.verify(der, signing_input, scheme)
        except InvalidSignature:
            return False
        return True

    return verify


def _pss(digest: hashes.HashAlgorithm) -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)


# RFC 7518 §3: each algorithm's check, on the native public key.
SIGNATURE_CHECKS: dict[str, Callable[[Any, bytes, bytes], bool]] = {
    "RS256": _rsa_verifier(padding.PKCS1v15(), hashes.SHA256()),
    "RS384": _rsa_verifier(padding.PKCS1v15(), hashes.SHA384()),
    "RS512": _rsa_verifier(padding.PKCS1v15(), hashes.SHA512()),
    "PS256": _rsa_verifier(_pss(hashes.SHA256()), hashes.SHA256()),
    "PS384": _rsa_verifier(_pss(hashes.SHA384()), hashes.SHA384()),
    "PS512": _rsa_verifier(_pss(hashes.SHA512()), hashes.SHA512()),
    "ES256": _ec_verifier(hashes.SHA256(), 32),
    "ES384": _ec_verifier(hashes.SHA384(), 48),
    "ES512": _ec_verifier(hashes.SHA512(), 66),
}


def _is_time(value: Any) -> bool:
    # bool is an int subclass, and json.loads accepts NaN and Infinity.
    return type(value) is int or (type(value) is float and math.isfinite(value))


def _names(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """Scopes or roles as a tuple: a space-separated string or any iterable of strings."""
    if not values:
        return ()
    if isinstance(values, str):
        return tuple(values.split())
    return tuple(values)


class VerifiedToken(NamedTuple):
    """An access token whose signature, issuer, audience, lifetime and type were checked.

    Immutable; a NamedTuple rather than a frozen dataclass because it is built on every
    request and a tuple is built five times faster.
    """

    sub: str
    client_id: str
    scope: frozenset[str]
    roles: frozenset[str]
    jti: str
    issued_at: int
    expires_at: int
    claims: Mapping[str, Any]

    def has_scopes(self, *scopes: str) -> bool:
        """True when the token carries every one of `scopes`."""
        return self.scope.issuperset(scopes)

    def has_roles(self, *roles: str) -> bool:
        """True when the token's user has every one of `roles`."""
        return self.roles.issuperset(roles)


class RevocationCheck(Protocol):
    """Something that knows whether idp revoked a token (see `revocation`).

    Raise VerifierUnavailable when that cannot be known: the verifier then fails closed.
    """

    def is_revoked(self, token: str, verified: VerifiedToken) -> bool: ...


def bearer_token(authorization: str | None, realm: str | None = None) -> str:
    """Return the token of an `Authorization: Bearer …` header (RFC 6750 §2.1).

    Raises TokenError: 401 without an error code when there is no bearer token (§3.1),
    400 invalid_request when the header is malformed.
    """
    if not authorization:
        raise TokenError(None, "An access token is required.", 401, realm=realm)
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise TokenError(None, "An access token is required.", 401, realm=realm)
    value = value.strip()
    if not value or " " in value:
        raise TokenError(
            INVALID_REQUEST, "The Authorization header is malformed.", 400, realm=realm
        )
    return value


class Verifier:
    """Checks idp access tokens against the issuer's JWKS, cached and thread-safe.

    The JWKS is found through discovery (`<issuer>/.well-known/openid-configuration`) on
    first use, refetched when a token names an unknown `kid` (at most once per
    `jwks_refresh_min_interval` seconds, so forged kids cannot make this service hammer
    idp) and when it is older than `jwks_max_age` seconds (so removed keys stop working).
    If a refetch fails the keys already loaded stay in use.
    """

    def __init__(
        self,
        issuer: str,
        audience: str | Iterable[str],
        algorithms: Iterable[str] = ("RS256", "ES256"),
        leeway: float = 30,
        jwks_refresh_min_interval: float = 30.0,
        revocation: RevocationCheck | None = None,
        *,
        jwks_max_age: float = 300.0,
        jwks_uri: str | None = None,
        token_types: Iterable[str] = ACCESS_TOKEN_TYPES,
        realm: str | None = None,
        http_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        max_token_length: int = MAX_TOKEN_LENGTH,
    ) -> None:
        if not isinstance(issuer, str) or not issuer.startswith(("https://", "http://")):
            raise ValueError(f"issuer must be an http(s) URL, got {issuer!r}")
        self.issuer = issuer.rstrip("/")
        self.audiences = frozenset(_names(audience))
        if not self.audiences:
            raise ValueError("at least one audience is required")
        self.algorithms = tuple(algorithms)
        refused = [alg for alg in self.algorithms if alg not in KEY_TYPES]
        if refused or not self.algorithms:
            raise ValueError(
                f"unsupported algorithm {refused[0] if refused else None!r}: "
                f"pin asymmetric ones among {', '.join(KEY_TYPES)}"
            )
        if not 0 <= leeway <= MAX_LEEWAY_SECONDS:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY_SECONDS} seconds")
        self.leeway = leeway
        self.jwks_refresh_min_interval = float(jwks_refresh_min_interval)
        self.jwks_max_age = float(jwks_max_age)
        self.jwks_uri = jwks_uri
        self.token_types = frozenset(t.lower() for t in token_types)
        self.realm = realm
        self.http_timeout = http_timeout
        self.max_token_length = max_token_length
        self.revocation = revocation
        self._clock = clock

        # kid -> {alg: (verify function, key)}; replaced whole, so readers need no lock.
        self._keys: dict[str, dict[str, tuple[Callable[..., bool], Any]]] = {}
        self._loaded_at: float | None = None
        self._last_attempt: float | None = None
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_lock = threading.Lock()
        # Header segment -> (alg, kid) for headers that already led to a valid signature.
        self._headers: dict[str, tuple[str, str]] = {}
        self.jwks_fetch_count = 0

        bind = getattr(revocation, "bind", None)
        if callable(bind):
            bind(self)

    def __repr__(self) -> str:
        return f"Verifier(issuer={self.issuer!r}, audience={sorted(self.audiences)!r})"

    # -- public API ---------------------------------------------------------------------

    def verify(
        self,
        token: str,
        scopes: str | Iterable[str] = (),
        roles: str | Iterable[str] = (),
    ) -> VerifiedToken:
        """Check `token` (and that it carries `scopes` and `roles`); return its claims.

        Raises TokenError: 401 invalid_token for any bad token, 403 insufficient_scope
        when scopes or roles are missing, VerifierUnavailable (503) when the keys or the
        revocation check cannot be reached.
        """
        if not isinstance(token, str) or len(token) > self.max_token_length:
            raise self._invalid("The access token is malformed.")
        segments = token.split(".")
        if len(segments) != 3 or not all(segments):
            raise self._invalid("The access token is malformed.")
        header_b64, payload_b64, signature_b64 = segments
        alg, kid = self._header(header_b64)
        check_signature, public_key = self._key(kid, alg)
        try:
            signature = _b64decode(signature_b64)
            signing_input = token[: len(header_b64) + len(payload_b64) + 1].encode("ascii")
        except (ValueError, binascii.Error):
            raise self._invalid("The access token is malformed.") from None
        if not check_signature(public_key, signing_input, signature):
            raise self._invalid("The access token signature is not valid.")
        if header_b64 not in self._headers:
            if len(self._headers) >= HEADER_CACHE_SIZE:
                self._headers.clear()
            self._headers[header_b64] = (alg, kid)

        try:
            claims = _json_decode(_b64decode(payload_b64).decode("utf-8"))
        except (ValueError, binascii.Error):
            raise self._invalid("The access token is malformed.") from None
        verified = self._check_claims(claims)

        if self.revocation is not None:
            try:
                revoked = self.revocation.is_revoked(token, verified)
            except VerifierUnavailable as exc:
                log.warning("revocation check unavailable, refusing the token: %s", exc)
                raise
            if revoked:
                raise self._invalid("The access token was revoked.")

        if scopes or roles:
            self._require(verified, _names(scopes), _names(roles))
        return verified

    def verify_header(
        self,
        authorization: str | None,
        scopes: str | Iterable[str] = (),
        roles: str | Iterable[str] = (),
    ) -> VerifiedToken:
        """Verify the bearer token of an `Authorization` header value (see `verify`)."""
        return self.verify(bearer_token(authorization, self.realm), scopes, roles)

    def metadata(self) -> dict[str, Any]:
        """The issuer's discovery document, fetched once and checked to name the issuer.

        Raises VerifierUnavailable when it cannot be fetched.
        """
        document = self._metadata
        if document is not None:
            return document
        with self._metadata_lock:
            if self._metadata is None:
                url = f"{self.issuer}/.well-known/openid-configuration"
                document = _http.request_json(url, self.http_timeout)
                # OIDC Discovery §4.3: the document must name the issuer it was fetched for.
                if document.get("issuer") != self.issuer:
                    raise VerifierUnavailable(f"{url} names another issuer")
                self._metadata = document
            return self._metadata

    def warm(self) -> None:
        """Load discovery and the JWKS now (e.g. at start-up); raise VerifierUnavailable."""
        with self._lock:
            self._fetch_jwks_locked(force=True)

    @property
    def may_block(self) -> bool:
        """True when `verify` will likely do network I/O: a revocation check, keys not loaded
        yet or due for their max-age refresh. (A token with an unknown `kid` may also cause
        a refetch, at most once per jwks_refresh_min_interval.)"""
        loaded_at = self._loaded_at
        return (
            self.revocation is not None
            or loaded_at is None
            or time.monotonic() - loaded_at > self.jwks_max_age
        )

    @property
    def kids(self) -> frozenset[str]:
        """The key ids currently trusted."""
        return frozenset(self._keys)

    # -- steps --------------------------------------------------------------------------

    def _invalid(self, description: str) -> TokenError:
        return TokenError(INVALID_TOKEN, description, 401, realm=self.realm)

    def _header(self, segment: str) -> tuple[str, str]:
        cached = self._headers.get(segment)
        if cached is not None:
            return cached
        try:
            header = _json_decode(_b64decode(segment).decode("utf-8"))
        except (ValueError, binascii.Error):
            raise self._invalid("The access token is malformed.") from None
        if not isinstance(header, dict):
            raise self._invalid("The access token is malformed.")
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise self._invalid("The access token is not signed with an accepted algorithm.")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in self.token_types:
            # RFC 9068 §4 / RFC 8725 §3.11: an ID token or a logout token is not accepted.
            raise self._invalid("The token is not an access token.")
        if "crit" in header:
            # RFC 7515 §4.1.11: we implement no extension, so a critical one is refused.
            raise self._invalid("The access token uses an unsupported extension.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise self._invalid("The access token names no signing key.")
        return alg, kid

    def _key(self, kid: str, alg: str) -> tuple[Callable[..., bool], Any]:
        loaded_at = self._loaded_at
        if (
            loaded_at is not None
            and time.monotonic() - loaded_at > self.jwks_max_age
            and self._lock.acquire(blocking=False)  # one thread refreshes; others go on
        ):
            try:
                self._fetch_jwks_locked(
                    cooldown=min(self.jwks_refresh_min_interval, self.jwks_max_age)
                )
            finally:
                self._lock.release()
        entry = self._keys.get(kid)
        if entry is None:
            with self._lock:
                if kid not in self._keys:  # another thread may have just loaded it
                    self._fetch_jwks_locked()
            entry = self._keys.get(kid)
            if entry is None:
                raise self._invalid("The access token was signed by an unknown key.")
        found = entry.get(alg)
        if found is None:
            raise self._invalid("The access token's algorithm does not match its key.")
        return found

    def _fetch_jwks_locked(self, force: bool = False, cooldown: float | None = None) -> None:
        """Refetch the JWKS unless one was tried within `cooldown` seconds (by default
        jwks_refresh_min_interval); the caller holds the lock.

        Raises VerifierUnavailable only when no keys were ever loaded (or when forced).
        """
        now = time.monotonic()
        if cooldown is None:
            cooldown = self.jwks_refresh_min_interval
        if not self._keys:
            cooldown = min(cooldown, NO_KEYS_RETRY_SECONDS)
        if not force and self._last_attempt is not None and now - self._last_attempt < cooldown:
            if not self._keys:
                raise VerifierUnavailable("the issuer's keys could not be loaded")
            return
        self._last_attempt = now
        self.jwks_fetch_count += 1
        try:
            jwks_uri = self.jwks_uri or self.metadata().get("jwks_uri")
            keys = self._import_jwks(_http.request_json(jwks_uri, self.http_timeout))
        except VerifierUnavailable as exc:
            log.warning("cannot refresh the JWKS of %s: %s", self.issuer, exc)
            if not self._keys or force:
                raise
            return
        if not keys:
            log.warning("the JWKS of %s holds no key usable with %s", self.issuer, self.algorithms)
        self._keys = keys
        self._loaded_at = now
        log.info("loaded %d signing keys of %s", len(keys), self.issuer)

    def _import_jwks(self, jwks: dict[str, Any]) -> dict[str, dict[str, tuple]]:
        entries = jwks.get("keys")
        if not isinstance(entries, list):
            raise VerifierUnavailable("the JWKS has no 'keys' list")
        keys: dict[str, dict[str, tuple]] = {}
        for jwk in entries:
            if not isinstance(jwk, dict):
                continue
            kid = jwk.get("kid")
            if not isinstance(kid, str) or not kid or kid in keys:
                continue
            if jwk.get("use", "sig") != "sig":
                continue
            algs = [
                alg
                for alg in self.algorithms
                if KEY_TYPES[alg][0] == jwk.get("kty")
                and KEY_TYPES[alg][1] in (None, jwk.get("crv"))
                and jwk.get("alg", alg) == alg  # a key published for one alg serves only it
            ]
            if not algs:
                continue
            public = {k: v for k, v in jwk.items() if k not in PRIVATE_JWK_MEMBERS}
            try:
                # joserfc validates the JWK; the native key is kept so no call re-derives it.
                native = JWKRegistry.import_key(public).get_op_key("verify")
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                log.warning("skipping JWKS key %r: %s", kid, type(exc).__name__)
                continue
            keys[kid] = {alg: (SIGNATURE_CHECKS[alg], native) for alg in algs}
        return keys

    def _check_claims(self, claims: Any) -> VerifiedToken:
        if type(claims) is not dict:
            raise self._invalid("The access token is malformed.")
        get = claims.get
        if get("iss") != self.issuer:
            raise self._invalid("The access token was issued by another issuer.")
        aud = get("aud")
        if type(aud) is str:
            for_us = aud in self.audiences
        elif type(aud) is list:
            for_us = any(type(a) is str and a in self.audiences for a in aud)
        else:
            for_us = False
        if not for_us:
            raise self._invalid("The access token is not meant for this service.")
        now = self._clock()
        exp = get("exp")
        if not _is_time(exp):
            raise self._invalid("The access token has no expiry.")
        if now >= exp + self.leeway:
            raise self._invalid("The access token expired.")
        nbf = get("nbf")
        if nbf is not None and (not _is_time(nbf) or now + self.leeway < nbf):
            raise self._invalid("The access token is not valid yet.")
        iat = get("iat")
        if not _is_time(iat) or iat > now + self.leeway:
            raise self._invalid("The access token has no valid issue time.")
        sub, client_id, jti = get("sub"), get("client_id"), get("jti")
        # RFC 9068 §2.2: sub, client_id and jti are required.
        if not (type(sub) is str and type(client_id) is str and type(jti) is str):
            raise self._invalid("The access token lacks a required claim.")
        if not (sub and client_id and jti):
            raise self._invalid("The access token lacks a required claim.")
        scope = get("scope", "")
        roles = get("roles", ())
        if type(scope) is not str or type(roles) not in (list, tuple):
            raise self._invalid("The access token is malformed.")
        if not all(type(role) is str for role in roles):
            raise self._invalid("The access token is malformed.")
        return VerifiedToken(
            sub,
            client_id,
            frozenset(scope.split()),
            frozenset(roles),
            jti,
            int(iat),
            int(exp),
            MappingProxyType(claims),
        )

    def _require(self, verified: VerifiedToken, scopes: tuple, roles: tuple) -> None:
        if not verified.scope.issuperset(scopes):
            raise TokenError(
                INSUFFICIENT_SCOPE,
                "The access token lacks a required scope.",
                403,
                scope=" ".join(scopes),
                realm=self.realm,
            )
        if not verified.roles.issuperset(roles):
            raise TokenError(
                INSUFFICIENT_SCOPE, "The access token lacks a required role.", 403, realm=self.realm
            )
