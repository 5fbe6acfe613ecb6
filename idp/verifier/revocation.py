"""Optional revocation checks, so that revocation and logout stop a token at once.

A JWT access token stays valid until it expires; idp records revoked ones (RFC 7009
revocation, logout, refresh-token reuse) in a blocklist. A service that needs "logout takes
effect on the next request" passes one of these to `Verifier(revocation=...)`:

- `RedisBlocklist`: reads idp's Redis blocklist directly (`<prefix>bl:<jti>`); one Redis
  round trip, no call to idp. Sees revocation, logout and reuse detection, but not the
  per-user cut-off of a password reset (that lives in idp's database).
- `Introspection`: asks idp's RFC 7662 endpoint, which sees everything, with a short cache.

Both fail closed: when the backend cannot be reached they raise VerifierUnavailable and the
request is answered 503, never served with a token that might be revoked.
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
    from .core import VerifiedToken, Verifier

BLOCKLIST_KEY = "bl:"  # idp/services/blocklist.py


class RedisBlocklist:
    """Refuse tokens whose `jti` is on idp's Redis blocklist.

    `url` and `prefix` are idp's REDIS_URL and IDP_REDIS_PREFIX; pass `client` to reuse a
    redis.Redis you already have. Needs the `redis` package.
    """

    def __init__(
        self,
        url: str | None = None,
        prefix: str = "idp:",
        *,
        client: Any = None,
        timeout: float = 0.5,
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
        self._errors = (redis.RedisError, OSError)

    def __repr__(self) -> str:
        return f"RedisBlocklist(prefix={self.prefix!r})"

    def is_revoked(self, token: str, verified: VerifiedToken) -> bool:
        """True when blocklisted; raises VerifierUnavailable when Redis cannot answer."""
        try:
            return bool(self._redis.exists(self.prefix + BLOCKLIST_KEY + verified.jti))
        except self._errors as exc:
            raise VerifierUnavailable(
                f"the blocklist is unreachable: {type(exc).__name__}"
            ) from None

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
