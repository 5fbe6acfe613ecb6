"""One metadata document feeds OIDC Discovery and RFC 8414: only what really works."""

from __future__ import annotations

from typing import Any

from ..config import Config
from ..schemas import scopes
from ..services.mfa import ACR_MFA, ACR_PASSWORD
from .client_auth import ALL_AUTH_METHODS, CONFIDENTIAL_AUTH_METHODS
from .keys import KeyRing
from .responses import RESPONSE_MODES
from .token_exchange import TOKEN_EXCHANGE_GRANT_TYPE


def metadata(config: Config, keys: KeyRing) -> dict[str, Any]:
    """Return the provider metadata for the current config and keys."""
    issuer = config.issuer
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "end_session_endpoint": f"{issuer}/session/end",
        "scopes_supported": scopes.supported(),
        "response_types_supported": ["code"],
        "response_modes_supported": list(RESPONSE_MODES),
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            TOKEN_EXCHANGE_GRANT_TYPE,
        ],
        "subject_types_supported": ["public"],
        # Exactly what can sign now; a client may register one (id_token_signed_response_alg).
        "id_token_signing_alg_values_supported": keys.algorithms,
        "token_endpoint_auth_methods_supported": ALL_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "revocation_endpoint_auth_methods_supported": ALL_AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_AUTH_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": scopes.claims_supported(),
        "prompt_values_supported": ["none", "login", "consent"],
        "acr_values_supported": [ACR_PASSWORD, ACR_MFA],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }
    if config.dynamic_registration:
        document["registration_endpoint"] = f"{issuer}/connect/register"
    return document
