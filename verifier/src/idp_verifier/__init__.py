"""idp-verifier: check idp access tokens in a resource server, locally.

    from idp_verifier import Verifier, TokenError

    verifier = Verifier("https://id.example.com", audience="notes-app")
    try:
        token = verifier.verify_header(request_headers.get("Authorization"),
                                       scopes=["notes:read"])
    except TokenError as error:
        # answer error.status with error.headers (WWW-Authenticate) and error.as_dict()
        ...
    token.sub, token.scope, token.roles, token.client_id, token.claims

A distribution of its own (`pip install idp-verifier`): the core needs only the standard
library and joserfc (with cryptography, which joserfc requires), and imports nothing of the
idp server. Adapters import their framework when imported (extras install it):
`idp_verifier.flask` (`require_token`; extra `flask`), `idp_verifier.wsgi`
(`VerifierMiddleware`), `idp_verifier.starlette` (`RequireToken` for FastAPI's Depends;
extra `fastapi`). Revocation checks (`RedisBlocklist` reads the key format idp publishes,
extra `redis`; `Introspection` asks idp's RFC 7662 endpoint with urllib) make logout take
effect on the next request; both fail closed. `idp.verifier` re-exports all of this for
code written against the server package.
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
from .revocation import (
    REVOKED_COMPLETE_KEY,
    REVOKED_KEY_PREFIX,
    Introspection,
    RedisBlocklist,
)
from .wsgi import VerifierMiddleware

__all__ = [
    "ACCESS_TOKEN_TYPES",
    "INSUFFICIENT_SCOPE",
    "INVALID_REQUEST",
    "INVALID_TOKEN",
    "KEY_TYPES",
    "Introspection",
    "REVOKED_COMPLETE_KEY",
    "REVOKED_KEY_PREFIX",
    "RedisBlocklist",
    "RevocationCheck",
    "TokenError",
    "VerifiedToken",
    "Verifier",
    "VerifierMiddleware",
    "VerifierUnavailable",
    "bearer_token",
]
