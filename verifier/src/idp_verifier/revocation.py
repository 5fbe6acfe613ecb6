"""Optional revocation checks, so that revocation and logout stop a token at once.

A JWT access token stays valid until it expires; idp records revoked ones (RFC 7009
revocation, logout, refresh-token reuse) in its database. A service that needs "logout takes
effect on the next request" passes one of these to `Verifier(revocation=...)`:

- `RedisBlocklist`: reads the revocation list idp publishes in its Redis, in the documented
  format below; one Redis round trip, no call to idp. Sees revocation, logout and reuse
  detection, but not the per-user cut-off of a password reset (that lives in idp's database).
- `Introspection`: asks idp's RFC 7662 endpoint, which sees everything, with a short cache.

Both fail closed: when the backend cannot answer they raise VerifierUnavailable and the
request is answered 503, never served with a token that might be revoked.

The published format (version 1), which idp writes on purpose for services to read
(`<prefix>` is idp's IDP_REDIS_PREFIX, "idp:" by default; verifier/README.md):

- `<prefix>bl:<jti>`: present, with the token's remaining lifetime as its TTL, for every
  unexpired access token idp revoked;
- `<prefix>bl-complete`: present while the entries above hold every revocation idp
  recorded. idp sets it after rebuilding the list from its database and removes it when a
  write to the list fails; it is absent after Redis lost its data (a restart without
  persistence, a flush) until idp rebuilds the list (on its next revocation check or /readyz
  probe). Without it a missing entry proves nothing.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from . import _http
from .errors import VerifierUnavailable

if TYPE_CHECKING:
    from .core import RevocationCheck, VerifiedToken, Verifier

# The published key names (idp/services/blocklist.py writes them).
REVOKED_KEY_PREFIX = "bl:"
REVOKED_COMPLETE_KEY = "bl-complete"


class RedisBlocklist:
    """Refuse tokens on the revocation list idp publishes in Redis (the format above).

    `url` and `prefix` are idp's REDIS_URL and IDP_REDIS_PREFIX; pass `client` to reuse a
    redis.Redis (or a Sentinel or Cluster client) you already have. Needs the `redis`
    package (`pip install idp-verifier[redis]`).

    While idp's list is incomplete (no "complete" marker: Redis lost its data and idp has
    not rebuilt it yet) a missing entry proves nothing: the token is checked by `fallback`
    when given (e.g. an `Introspection`), else refused with VerifierUnavailable (503).
    """

    def __init__(
        self,
        url: str | None = None,
        prefix: str = "idp:",
        *,
        client: Any = None,
        timeout: float = 0.5,
        fallback: RevocationCheck | None = None,
    ) -> None:
        import redis  # only services that use the blocklist need redis

        if client is None:
            if not url:
                raise ValueError("a Redis URL or client is required")
            client = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        self._redis = client
        self.prefix = prefix
        self.fallback = fallback
        self._errors = (redis.RedisError, OSError)
        # A cluster client has no cross-slot MGET; its mget_nonatomic asks each node.
        self._mget = getattr(client, "mget_nonatomic", client.mget)

    def __repr__(self) -> str:
        return f"RedisBlocklist(prefix={self.prefix!r}, fallback={self.fallback!r})"

    def bind(self, verifier: Verifier) -> None:
        """Called by Verifier: hands it on to the fallback (Introspection finds its endpoint
        in the verifier's discovery document)."""
        bind = getattr(self.fallback, "bind", None)
        if callable(bind):
            bind(verifier)

    def is_revoked(self, token: str, verified: VerifiedToken) -> bool:
        """True when listed; raises VerifierUnavailable when Redis cannot answer, or when the
        list is incomplete and there is no fallback."""
        try:
            entry, complete = self._mget(
                [
                    self.prefix + REVOKED_KEY_PREFIX + verified.jti,
                    self.prefix + REVOKED_COMPLETE_KEY,
                ]
            )
        except self._errors as exc:
            raise VerifierUnavailable(
                f"the blocklist is unreachable: {type(exc).__name__}"
            ) from None
        if entry is not None:
            return True
        if complete is not None:
            return False
        if self.fallback is not None:
            return self.fallback.is_revoked(token, verified)
        raise VerifierUnavailable("idp's revocation list is incomplete (being rebuilt)")

    def close(self) -> None:
        self._redis.close()


class Introspection:
    """Ask idp's introspection endpoint (RFC 7662) whether a token is still active.

    Authenticates with `client_secret_basic`. idp answers `active: true` only to the client
    a token was issued to or a client its `aud` names, so use those credentials.

    Answers are cached by `jti`: "active" for `cache_seconds` (0 asks on every request, so
    logout takes effect on the very next one; a few seconds bounds the delay and spares
    idp), "revoked" until the token expires. The endpoint is `endpoint`, else the one named
    by `issuer`'s discovery document, else (the usual case) by the verifier's.
    """

    MAX_ENTRIES = 10_000

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        endpoint: str | None = None,
        issuer: str | None = None,
        cache_seconds: float = 5.0,
        timeout: float = 2.0,
    ) -> None:
        if not client_id or not client_secret:
            raise ValueError("introspection needs a client_id and a client_secret")
        self.client_id = client_id
        # RFC 6749 §2.3.1: form-encode both before joining them for HTTP Basic.
        credentials = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
        self._authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
        self.endpoint = endpoint
        self.issuer = issuer.rstrip("/") if issuer else None
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self._verifier: Verifier | None = None
        self._cache: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Introspection(client_id={self.client_id!r}, endpoint={self.endpoint!r})"

    def bind(self, verifier: Verifier) -> None:
        """Called by Verifier: its discovery document names the endpoint."""
        self._verifier = verifier

    def _endpoint(self) -> str:
        if self.endpoint:
            return self.endpoint
        if self.issuer:
            url = f"{self.issuer}/.well-known/openid-configuration"
            metadata = _http.request_json(url, self.timeout)
            if metadata.get("issuer") != self.issuer:
                raise VerifierUnavailable(f"{url} names another issuer")
        elif self._verifier is not None:
            metadata = self._verifier.metadata()
        else:
            raise VerifierUnavailable("no introspection endpoint configured")
        endpoint = metadata.get("introspection_endpoint")
        if not isinstance(endpoint, str):
            raise VerifierUnavailable("the issuer has no introspection endpoint")
        self.endpoint = endpoint
        return endpoint

    def is_revoked(self, token: str, verified: VerifiedToken) -> bool:
        """True when idp says the token is not active; raises VerifierUnavailable when it
        cannot say (unreachable, an error status, a malformed answer)."""
        now = time.monotonic()
        cached = self._cache.get(verified.jti)
        if cached is not None and cached[1] > now:
            return cached[0]
        answer = _http.request_json(
            self._endpoint(),
            self.timeout,
            data=urlencode({"token": token, "token_type_hint": "access_token"}).encode(),
            headers={
                "Authorization": self._authorization,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        active = answer.get("active")
        if not isinstance(active, bool):
            raise VerifierUnavailable("the introspection answer has no 'active' member")
        revoked = not active
        # A revoked token stays revoked: remember that until it expires anyway.
        ttl = verified.expires_at - time.time() if revoked else self.cache_seconds
        if ttl > 0:
            self._remember(verified.jti, revoked, now + ttl)
        return revoked

    def _remember(self, jti: str, revoked: bool, until: float) -> None:
        with self._lock:
            if len(self._cache) >= self.MAX_ENTRIES:
                now = time.monotonic()
                for key in [k for k, (_, end) in self._cache.items() if end <= now]:
                    del self._cache[key]
                if len(self._cache) >= self.MAX_ENTRIES:
                    self._cache.clear()
            self._cache[jti] = (revoked, until)
