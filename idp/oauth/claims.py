"""Which user claims each scope releases (OIDC Core §5.4)."""

from __future__ import annotations

from authlib.oidc.core import UserInfo

from ..models import User


def user_info(user: User, scope: str) -> UserInfo:
    """Return the claims of `user` that `scope` allows, always with `sub`."""
    info = UserInfo(
        sub=str(user.id),
        name=user.name or None,
        email=user.email,
        email_verified=bool(user.email_verified),
    )
    claims = {k: v for k, v in info.filter(scope).items() if v is not None}
    if "roles" in (scope or "").split():
        claims["roles"] = list(user.roles)
    return UserInfo(claims)
