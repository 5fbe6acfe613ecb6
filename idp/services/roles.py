"""Roles: the built-in ones plus any an admin defines."""

from __future__ import annotations

from ..extensions import db
from ..models import BUILT_IN_ROLES, Role
from ..schemas.users import checked_role_name
from . import audit
from .users import AccountConflict, AccountError


def all_roles() -> list[str]:
    defined = db.session.execute(db.select(Role.name).order_by(Role.name)).scalars()
    return [*BUILT_IN_ROLES, *[name for name in defined if name not in BUILT_IN_ROLES]]


def define(name: str, description: str = "") -> Role:
    """Add a role; raise AccountError for a bad or taken name."""
    checked_role_name(name)
    if name in all_roles():
        raise AccountConflict(f"the role {name!r} exists already")
    role = Role(name=name, description=description[:200])
    db.session.add(role)
    audit.record("role_defined", role=name)
    db.session.commit()
    return role


def check_known(names: list[str]) -> list[str]:
    """The roles, de-duplicated; raise AccountError naming the first unknown one."""
    known = set(all_roles())
    for name in names:
        if name not in known:
            raise AccountError(f"unknown role {name!r}; define it first")
    return list(dict.fromkeys(names))
