"""What operators do to users: list, disable, roles, forced reset, erase.

Role changes reach access tokens at the user's next token refresh (tokens carry the roles
they were issued with); disabling or erasing a user ends everything at once.

Guard rails (keep_an_admin): an admin cannot remove their own admin role, disable or erase
themselves, and nobody can take away the last active admin, so the console never locks
everyone out (before, the only admin could untick their own role and be left with the CLI).
"""

from __future__ import annotations

import uuid

from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import AuditEvent, User
from ..models.base import utcnow
from . import accounts, audit, outbox, revocation, roles, signin, users


def list_users(page: int = 1, per_page: int = 50, email: str | None = None):
    """A page of users (by email, created order) and the total matching."""
    statement = db.select(User)
    if email:
        statement = statement.where(User.email.contains(email.strip().lower(), autoescape=True))
    total = db.session.execute(
        db.select(db.func.count()).select_from(statement.subquery())
    ).scalar_one()
    items = (
        db.session.execute(
            statement.order_by(User.created_at, User.email)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        .scalars()
        .all()
    )
    return items, total


ADMIN_ROLE = "admin"


class AdminGuardError(users.AccountError):
    """The change would lock the admins out; the message says why (safe to show)."""


def _is_active_admin(user: User) -> bool:
    return ADMIN_ROLE in (user.roles or []) and not user.disabled


def _other_active_admins(user: User) -> int:
    """How many enabled users besides `user` hold the admin role."""
    # Roles are a JSON list in a text column: narrow in SQL, decide in Python.
    candidates = db.session.execute(
        db.select(User).where(
            User.id != user.id,
            User.disabled.is_(False),
            db.cast(User.roles, db.String).contains(f'"{ADMIN_ROLE}"'),
        )
    ).scalars()
    return sum(1 for other in candidates if ADMIN_ROLE in (other.roles or []))


def keep_an_admin(user: User, change: str, actor: str | None = None) -> None:
    """Refuse `change` ("remove_admin", "disable", "delete") of `user` when it would remove
    the actor's own admin rights or the last active admin; raise AdminGuardError."""
    if actor is not None and actor == str(user.id):
        if change == "remove_admin":
            raise AdminGuardError(_l("You cannot remove your own admin role; ask another admin."))
        if change == "disable":
            raise AdminGuardError(_l("You cannot disable your own account."))
        if change == "delete":
            raise AdminGuardError(_l("You cannot delete your own account here."))
    if _is_active_admin(user) and _other_active_admins(user) == 0:
        raise AdminGuardError(
            _l(
                "%(email)s is the last active admin. Make someone else an admin first.",
                email=user.email,
            )
        )


def set_roles(user: User, names: list[str], actor: str | None = None) -> User:
    _set_roles(user, names, actor)
    db.session.commit()
    return user


def update_user(
    user: User,
    name: str | None = None,
    email_verified: bool | None = None,
    roles: list[str] | None = None,
    disabled: bool | None = None,
    actor: str | None = None,
) -> User:
    """Change any of a user's profile, roles and disabled state in one transaction (None:
    unchanged); an unknown role changes nothing."""
    _update_profile(user, name, email_verified)
    if roles is not None:
        _set_roles(user, roles, actor)
    if disabled is True and not user.disabled:
        _disable(user, actor)
    elif disabled is False and user.disabled:
        _enable(user, actor)
    db.session.commit()
    return user


def _set_roles(user: User, names: list[str], actor: str | None) -> None:
    names = roles.check_known(names)
    if ADMIN_ROLE in (user.roles or []) and ADMIN_ROLE not in names:
        keep_an_admin(user, "remove_admin", actor)
    user.roles = names
    audit.record("roles_changed", user_id=user.id, roles=user.roles, actor=actor)


def _update_profile(user: User, name: str | None, email_verified: bool | None) -> None:
    if name is not None:
        user.name = name.strip()[:200]
    if email_verified is not None:
        user.email_verified = email_verified


def disable(user: User, actor: str | None = None) -> None:
    """Disable sign-in and end every session, refresh family and access token of the user."""
    _disable(user, actor)
    db.session.commit()


def _disable(user: User, actor: str | None) -> None:
    keep_an_admin(user, "disable", actor)
    user.disabled = True
    accounts.sign_out_everywhere(user)
    audit.record("user_disabled", user_id=user.id, actor=actor)


def enable(user: User, actor: str | None = None) -> None:
    _enable(user, actor)
    db.session.commit()


def _enable(user: User, actor: str | None) -> None:
    user.disabled = False
    audit.record("user_enabled", user_id=user.id, actor=actor)


def force_password_reset(user: User, actor: str | None = None) -> None:
    """Make the current password useless and mail the user a reset link."""
    user.password_hash = None
    accounts.sign_out_everywhere(user)
    audit.record("password_reset_forced", user_id=user.id, actor=actor)
    db.session.commit()
    accounts.request_password_reset(user.email)


def delete_user(user: User, actor: str | None = None) -> None:
    """Erase the user's personal data; audit records stay, pseudonymous (id only)."""
    keep_an_admin(user, "delete", actor)
    # One transaction: the user's grants (families first, as in sign_out_everywhere), the
    # sessions, the erasure and its audit row.
    revocation.revoke_grants(user_id=user.id)
    signin.stage_end_sessions(user.id, reason="user_deleted")
    db.session.execute(
        db.update(AuditEvent)
        .where(AuditEvent.user_id == user.id)
        .values(ip="", user_agent="")
        .execution_options(synchronize_session=False)
    )
    # Their rows still in the outbox too; a row staged after this commits (a rotation in
    # flight elsewhere) is caught by `idp db purge`.
    outbox.blank_user_rows(user.id)
    audit.record("user_deleted", user_id=user.id, actor=actor, at=utcnow().isoformat())
    db.session.delete(user)
    db.session.commit()


def emails_by_id(user_ids) -> dict[str, str]:
    """{user id: email} for the ids that still have an account (audit rows outlive users)."""
    wanted = set()
    for value in user_ids:
        try:
            wanted.add(uuid.UUID(str(value)))
        except ValueError:
            continue
    if not wanted:
        return {}
    rows = db.session.execute(db.select(User.id, User.email).where(User.id.in_(wanted)))
    return {str(user_id): email for user_id, email in rows}


def find_user(user_id: str) -> User | None:
    return users.get_user_by_subject(user_id)
