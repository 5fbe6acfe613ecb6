"""Errors of the verifier, each ready to become an RFC 6750 §3 response."""

from __future__ import annotations

import re

INVALID_REQUEST = "invalid_request"
INVALID_TOKEN = "invalid_token"
INSUFFICIENT_SCOPE = "insufficient_scope"
TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"

# RFC 6750 §3: error_description and scope values use %x20-21 / %x23-5B / %x5D-7E only.
_UNSAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def _quoted(value: str) -> str:
    return '"' + _UNSAFE.sub("", value) + '"'


class TokenError(Exception):
    """The request cannot be served with the token it carries.

    `error` is the RFC 6750 code (None when the request has no token at all, §3.1),
    `status` the HTTP status to answer, `www_authenticate` the header value to send.
    """

    def __init__(
        self,
        error: str | None,
        description: str,
        status: int = 401,
        scope: str | None = None,
        realm: str | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.scope = scope
        self.realm = realm

    @property
    def www_authenticate(self) -> str:
        """The `WWW-Authenticate` value: `Bearer realm="…", error="…", error_description="…"`."""
        params = []
        if self.realm:
            params.append(f"realm={_quoted(self.realm)}")
        if self.error:
            params.append(f"error={_quoted(self.error)}")
            params.append(f"error_description={_quoted(self.description)}")
        if self.scope:
            params.append(f"scope={_quoted(self.scope)}")
        return "Bearer " + ", ".join(params) if params else "Bearer"

    @property
    def headers(self) -> dict[str, str]:
        """Response headers for this error."""
        return {"WWW-Authenticate": self.www_authenticate, "Cache-Control": "no-store"}

    def as_dict(self) -> dict[str, str]:
        """A JSON body: `{"error": …, "error_description": …}` (no `error` without a token)."""
        body = {"error_description": self.description}
        if self.error:
            body = {"error": self.error, **body}
        return body

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.error!r}, {self.description!r}, status={self.status})"


class VerifierUnavailable(TokenError):
    """What the verifier depends on (JWKS, the blocklist, introspection) cannot be reached.

    Answered as 503: the token may be fine, but it cannot be checked, and a service that
    asked for a revocation check must not serve a request it could not check (fail closed).
    """

    RETRY_AFTER_SECONDS = 5

    def __init__(self, description: str) -> None:
        super().__init__(TEMPORARILY_UNAVAILABLE, description, status=503)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}

    def as_dict(self) -> dict[str, str]:
        # The detail (a URL, a Redis error) is for the service's log, not for its callers.
        return {
            "error": TEMPORARILY_UNAVAILABLE,
            "error_description": "The access token cannot be checked right now.",
        }
