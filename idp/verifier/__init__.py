"""Check idp access tokens in a resource server, locally.

    from idp.verifier import Verifier, TokenError

    verifier = Verifier("https://id.example.com", audience="notes-app")
    try:
        token = verifier.verify_header(request_headers.get("Authorization"),
                                       scopes=["notes:read"])
    except TokenError as error:
        # answer error.status with error.headers (WWW-Authenticate) and error.as_dict()
        ...
    token.sub, token.scope, token.roles, token.client_id, token.claims

The core needs only the standard library and joserfc (and cryptography, which joserfc
requires). Adapters import their framework when imported: `idp.verifier.flask`
(`require_token`), `idp.verifier.wsgi` (`VerifierMiddleware`), `idp.verifier.starlette`
(`RequireToken` for FastAPI's Depends).
Revocation checks (`RedisBlocklist` needs redis; `Introspection` only urllib) make logout
take effect on the next request; both fail closed.
"""

from .core import (
    ACCESS_TOKEN_TYPES,
    KEY_TYPES,
    RevocationCheck,
    VerifiedToken,
    Verifier,
    bearer_token,
)
from .errors import (
    INSUFFICIENT_SCOPE,
    INVALID_REQUEST,
    INVALID_TOKEN,
    TokenError,
    VerifierUnavailable,
)
from .revocation import Introspection, RedisBlocklist
from .wsgi import VerifierMiddleware

__all__ = [
    "ACCESS_TOKEN_TYPES",
    "INSUFFICIENT_SCOPE",
    "INVALID_REQUEST",
    "INVALID_TOKEN",
    "KEY_TYPES",
    "Introspection",
    "RedisBlocklist",
    "RevocationCheck",
    "TokenError",
    "VerifiedToken",
    "Verifier",
    "VerifierMiddleware",
    "VerifierUnavailable",
    "bearer_token",
]
