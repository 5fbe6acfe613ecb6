"""Which user claims each scope releases (OIDC Core §5.4), as the scope registry says."""

from __future__ import annotations

from authlib.oidc.core import UserInfo

from ..models import User
from ..schemas import scopes


def user_info(user: User, scope: str) -> UserInfo:
    """Return the claims of `user` that `scope` allows, always with `sub`."""
    claims = {
        "sub": str(user.id),
        "name": user.name or None,
        "email": user.email,
        "email_verified": bool(user.email_verified),
        "roles": list(user.roles),
    }
    return UserInfo(scopes.release(claims, (scope or "").split()))
