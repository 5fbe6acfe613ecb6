"""Accounts: creation and password sign-in."""

from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..extensions import db
from ..models import BUILT_IN_ROLES, User
from ..schemas.users import (  # noqa: F401 - the account rules, defined once in the schema
    EMAIL_PATTERN,
    MAX_PASSWORD_LENGTH,
    ROLE_PATTERN,
    checked_email,
    normalise_email,
)
from ..schemas.users import InvalidAccount as AccountError

log = logging.getLogger("idp.security")

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
password_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified for unknown emails so they cost the same argon2 work as known ones.
_DUMMY_HASH = password_hasher.hash("not-a-real-password-dummy-for-timing")


class AccountConflict(AccountError):
    """The email or role name is taken (the admin API answers 409)."""

    status = 409
    error = "conflict"


def find_by_email(email: str) -> User | None:
    return db.session.execute(
        db.select(User).filter_by(email=normalise_email(email))
    ).scalar_one_or_none()


def get_user(user_id) -> User | None:
    return db.session.get(User, user_id)


def create_user(
    email: str,
    password: str | None,
    name: str = "",
    roles: list[str] | None = None,
    email_verified: bool = False,
    password_hash: str | None = None,
) -> User:
    """Create and commit a user; raise AccountError on bad input or a taken email.
    `password_hash`: an argon2 hash computed already (the password is then None)."""
    email = checked_email(email)
    if password is not None:
        from .passwords import check_password  # the one password policy (NIST SP 800-63B)

        reason = check_password(password, email)
        if reason:
            raise AccountError(reason)
    roles = list(dict.fromkeys(roles or ["user"]))
    for role in roles:
        if not ROLE_PATTERN.match(role):
            raise AccountError(f"invalid role name {role!r}")
    if find_by_email(email):
        raise AccountConflict("an account with this email already exists")
    user = User(
        email=email,
        name=name.strip(),
        roles=roles,
        email_verified=email_verified,
        password_hash=password_hasher.hash(password) if password is not None else password_hash,
    )
    db.session.add(user)
    db.session.commit()
    log.info("user created", extra={"event": "user_created", "user_id": str(user.id)})
    return user


def authenticate(email: str, password: str) -> User | None:
    """Return the user when the password matches; None otherwise, in comparable time."""
    user = find_by_email(email) if len(email) <= 320 else None
    password = password[: MAX_PASSWORD_LENGTH * 4]
    stored = user.password_hash if user and user.password_hash else _DUMMY_HASH
    try:
        password_hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.password_hash is None or user.disabled:
        return None
    if password_hasher.check_needs_rehash(user.password_hash):
        user.password_hash = password_hasher.hash(password)
        db.session.commit()
    return user


__all__ = ["BUILT_IN_ROLES", "AccountError", "authenticate", "create_user", "find_by_email"]


def get_user_by_subject(sub: str | None) -> User | None:
    """Return the user a token's `sub` names, or None for a malformed or unknown one."""
    try:
        return db.session.get(User, uuid.UUID(str(sub)))
    except ValueError:
        return None


# Built once: a constant statement is compiled and cache-keyed once, not per request.
_USER_BY_ID = sa.select(User.__table__).where(User.__table__.c.id == sa.bindparam("id"))


def read_user_by_subject(sub: str | None) -> sa.Row | None:
    """The columns of the user `sub` names, read-only (None for a malformed or unknown
    `sub`), for requests that only look at the user: /userinfo, introspection, the admin
    API's token check. A row with User's column attributes (`disabled`, `roles`...), not an
    ORM object: loading one through a session cost a quarter of a /userinfo request's CPU.

    On PostgreSQL it is read outside the request's transaction, on a pooled connection put in
    the driver's autocommit mode for the one statement: one round trip instead of three
    (psycopg2's BEGIN, the SELECT, and the ROLLBACK when the request ends), which were most
    of a /userinfo request's time under load. It reads committed data, as the request's
    transaction would have. (SQLAlchemy's AUTOCOMMIT isolation level would cost a fourth
    round trip, a SET when the connection goes back to the pool.) To change the user, use
    get_user_by_subject.
    """
    try:
        user_id = uuid.UUID(str(sub))
    except ValueError:
        return None
    if db.engine.dialect.name != "postgresql":
        # In-process database: no round trips to save, and the request's session sees
        # what it has not committed yet.
        return db.session.execute(_USER_BY_ID, {"id": user_id}).first()
    with db.engine.connect() as connection:
        driver_connection = connection.connection.dbapi_connection
        driver_connection.autocommit = True  # psycopg2: a flag, nothing is sent
        try:
            return connection.execute(_USER_BY_ID, {"id": user_id}).first()
        finally:
            driver_connection.autocommit = False
