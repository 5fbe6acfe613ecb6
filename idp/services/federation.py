"""Linking upstream identities to local accounts, without account takeover.

The rule: an identity is found by its upstream issuer and subject, never by email. A new
identity whose verified email belongs to an existing account is linked only after the user
signs in to that account with its own method (an unverified one is refused); otherwise a
new account is created (its email marked verified only when the upstream says it is).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..errors import LinkNeeded
from ..extensions import db
from ..models import FederatedIdentity, User
from ..models.base import utcnow
from . import audit, users


def find_identity(issuer: str, subject: str) -> FederatedIdentity | None:
    return db.session.execute(
        db.select(FederatedIdentity).filter_by(issuer=issuer, subject=subject)
    ).scalar_one_or_none()


def identities_of(user_id) -> list[FederatedIdentity]:
    return list(
        db.session.execute(
            db.select(FederatedIdentity).filter_by(user_id=user_id).order_by(FederatedIdentity.id)
        ).scalars()
    )


def sign_in(provider: str, profile) -> User:
    """The local user for this upstream identity, created if new; raise LinkNeeded when the
    email belongs to an account that has not linked this identity, or AccountError."""
    identity = find_identity(profile.issuer, profile.subject)
    if identity is not None:
        user = db.session.get(User, identity.user_id)
        if user is None or user.disabled:
            raise users.AccountError(_l("This account cannot sign in."))
        identity.last_used_at = utcnow()
        identity.email_seen = (profile.email or "")[:320]
        db.session.commit()
        return user
    if not profile.email:
        raise users.AccountError(_l("The provider did not share an email address."))
    existing = users.find_by_email(profile.email)
    if existing is not None:
        if not profile.email_verified:
            # An unverified email must not even pick the account to link: on a shared
            # computer its owner could be asked to sign in and link a stranger.
            raise users.AccountError(
                _l(
                    "The provider has not verified your email address. Verify it there and "
                    "try again, or sign in another way."
                )
            )
        raise LinkNeeded(existing.id)
    user = users.create_user(
        profile.email, None, name=profile.name, email_verified=profile.email_verified
    )
    link(user, provider, profile)
    return user


def link(user: User, provider: str, profile) -> FederatedIdentity:
    """Attach the identity to a user who has proved they own the account."""
    existing = find_identity(profile.issuer, profile.subject)
    if existing is not None:
        if existing.user_id != user.id:
            raise users.AccountError(
                _l("That account is already linked to another user of this service.")
            )
        return existing
    identity = FederatedIdentity(
        provider=provider,
        issuer=profile.issuer,
        subject=profile.subject,
        user_id=user.id,
        email_seen=(profile.email or "")[:320],
    )
    db.session.add(identity)
    audit.record("identity_linked", user_id=user.id, provider=provider)
    db.session.commit()
    return identity


def record_failure(provider: str, reason: str) -> None:
    """Audit an upstream sign-in that was refused (the reason names a check, never a value)."""
    audit.record("federation_failed", provider=provider, reason=reason)
    db.session.commit()


def unlink(user: User, identity_id: int) -> bool:
    """Remove a linked identity unless it is the last way left to sign in."""
    identity = db.session.get(FederatedIdentity, identity_id)
    if identity is None or identity.user_id != user.id:
        return False
    if user.password_hash is None and len(identities_of(user.id)) <= 1:
        raise users.AccountError(
            _l("This is your only way to sign in. Set a password or link another account first.")
        )
    db.session.delete(identity)
    audit.record("identity_unlinked", user_id=user.id, provider=identity.provider)
    db.session.commit()
    return True
