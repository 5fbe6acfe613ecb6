"""The database models; importing this module registers every table."""

from .account_token import AccountToken, RecoveryCode
from .audit import AuditEvent
from .authorization_code import AuthorizationCode
from .browser_session import BrowserSession
from .client import Client, hash_client_secret
from .consent import Consent
from .federated_identity import FederatedIdentity
from .outbox import OutboxMessage
from .revocation import RevokedAccessToken
from .role import Role
from .token import RefreshToken
from .user import BUILT_IN_ROLES, User

__all__ = [
    "BUILT_IN_ROLES",
    "AccountToken",
    "AuditEvent",
    "AuthorizationCode",
    "BrowserSession",
    "Client",
    "Consent",
    "FederatedIdentity",
    "OutboxMessage",
    "RecoveryCode",
    "RefreshToken",
    "RevokedAccessToken",
    "Role",
    "User",
    "hash_client_secret",
]
