"""The database models; importing this module registers every table."""

from .authorization_code import AuthorizationCode
from .browser_session import BrowserSession
from .client import Client, hash_client_secret
from .consent import Consent
from .user import BUILT_IN_ROLES, User

__all__ = [
    "BUILT_IN_ROLES",
    "AuthorizationCode",
    "BrowserSession",
    "Client",
    "Consent",
    "User",
    "hash_client_secret",
]
