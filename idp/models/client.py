"""Relying parties registered with idp."""

from __future__ import annotations

import hashlib
import hmac

import sqlalchemy as sa
from authlib.integrations.sqla_oauth2 import OAuth2ClientMixin
from authlib.oauth2.rfc6749 import list_to_scope, scope_to_list
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


def hash_client_secret(secret: str) -> str:
    """SHA-256 suits machine-generated 256-bit secrets; argon2 is for people's passwords."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Client(db.Model, OAuth2ClientMixin):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    client_id = mapped_column(sa.String(48), unique=True, nullable=False)
    # Holds the SHA-256 of the secret, never the secret.
    client_secret = mapped_column(sa.String(120))
    first_party: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # RFC 7592: SHA-256 of the registration access token of a dynamically registered client.
    registration_token_hash = mapped_column(sa.String(64))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def post_logout_redirect_uris(self) -> list[str]:
        return self.client_metadata.get("post_logout_redirect_uris", [])

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.client_secret or self.is_public:
            return False
        return hmac.compare_digest(self.client_secret, hash_client_secret(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # One registered method for every endpoint that authenticates clients.
        return method == self.token_endpoint_auth_method

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scope if the client may use all of it (the registered scope when
        none is requested); None otherwise, which Authlib answers with invalid_scope."""
        allowed = scope_to_list(self.scope) or []
        if not scope:
            return list_to_scope(allowed)
        requested = list(dict.fromkeys(scope_to_list(scope)))
        if not set(requested) <= set(allowed):
            return None
        return list_to_scope(requested)

    def get_default_redirect_uri(self) -> None:
        # redirect_uri is always required (OIDC Core §3.1.2.1): never guess one.
        return None
