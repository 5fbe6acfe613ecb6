"""Remembered consent: asked again only for new scopes or prompt=consent."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import scope_to_list

from ..extensions import db
from ..models import Consent
from . import audit, revocation


def granted_scopes(user_id, client_id: str) -> set[str]:
    consent = db.session.execute(
        db.select(Consent).filter_by(user_id=user_id, client_id=client_id)
    ).scalar_one_or_none()
    return set(scope_to_list(consent.scope) or []) if consent else set()


def covers(user_id, client_id: str, scope: str | None) -> bool:
    """True when every requested scope was granted before."""
    return set(scope_to_list(scope) or []) <= granted_scopes(user_id, client_id)


def grant(user_id, client_id: str, scope: str | None) -> None:
    """Remember the scopes, adding to what was granted before."""
    requested = scope_to_list(scope) or []
    consent = db.session.execute(
        db.select(Consent).filter_by(user_id=user_id, client_id=client_id)
    ).scalar_one_or_none()
    if consent is None:
        consent = Consent(user_id=user_id, client_id=client_id, scope="")
        db.session.add(consent)
    merged = list(dict.fromkeys((scope_to_list(consent.scope) or []) + requested))
    consent.scope = " ".join(merged)
    audit.record("consent_granted", user_id=user_id, client_id=client_id, scope=consent.scope)
    db.session.commit()


def list_for_user(user_id) -> list[Consent]:
    return list(
        db.session.execute(
            db.select(Consent).filter_by(user_id=user_id).order_by(Consent.updated_at.desc())
        ).scalars()
    )


def revoke(user_id, client_id: str) -> bool:
    """Forget the consent and revoke what the client was issued for the user: refresh
    families and access tokens. False when there was no consent."""
    consent = db.session.execute(
        db.select(Consent).filter_by(user_id=user_id, client_id=client_id)
    ).scalar_one_or_none()
    if consent is None:
        return False
    db.session.delete(consent)
    revocation.revoke_grants(user_id=user_id, client_id=client_id)
    audit.record("consent_revoked", user_id=user_id, client_id=client_id)
    db.session.commit()
    return True
