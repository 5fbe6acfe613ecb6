"""Revoke everything issued for X: one refresh family, browser sessions, a user, a client,
a consent (user and client), or what one authorization code issued.

Every path that ends a grant calls `revoke_grants`, so none can skip a step: the refresh
families stop working, and every still-valid access token they or the matching code
exchanges issued is blocklisted (resource servers see revocations only through the
blocklist). Nothing is committed here: the caller's use case commits once, with its audit row.

Locks are taken in one order everywhere, so concurrent revocations (and a refresh-token
reuse racing a sign-out) wait for each other instead of deadlocking: the refresh-token rows
of every matching family in one statement, ordered by (family_id, id); then the blocklist
rows, inserted in jti order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from ..extensions import db
from ..models import AuthorizationCode, RefreshToken
from ..models.base import utcnow
from . import blocklist


def revoke_grants(
    *,
    family_id: uuid.UUID | None = None,
    session_ids: Iterable[uuid.UUID] | None = None,
    user_id: uuid.UUID | None = None,
    client_id: str | None = None,
    code: AuthorizationCode | None = None,
    keep_offline: bool = False,
) -> int:
    """Revoke the refresh families and blocklist the access tokens matching every given
    criterion; return how many refresh tokens were revoked. The caller commits.

    `keep_offline` spares offline_access families (a browser session ending, as OIDC
    intends); the access tokens its code exchanges issued are blocklisted all the same.
    `code` selects what one authorization code issued (a replayed code, RFC 6749 §4.1.2).
    """
    sessions = sorted(set(session_ids)) if session_ids is not None else None
    if sessions == [] or (code is not None and code.id is None):
        return 0
    now = utcnow()
    family_filters = []
    code_filters = []
    if family_id is not None:
        family_filters.append(RefreshToken.family_id == family_id)
        code_filters.append(AuthorizationCode.family_id == family_id)
    if code is not None:
        family_filters.append(RefreshToken.family_id == code.family_id)
        code_filters.append(AuthorizationCode.id == code.id)
    if sessions is not None:
        family_filters.append(RefreshToken.session_id.in_(sessions))
        code_filters.append(AuthorizationCode.session_id.in_(sessions))
    if user_id is not None:
        family_filters.append(RefreshToken.user_id == user_id)
        code_filters.append(AuthorizationCode.user_id == user_id)
    if client_id is not None:
        family_filters.append(RefreshToken.client_id == client_id)
        code_filters.append(AuthorizationCode.client_id == client_id)
    if not family_filters:
        raise ValueError("revoke_grants needs at least one criterion")
    if keep_offline:
        family_filters.append(RefreshToken.offline.is_(False))

    # Every row of a family shares its user, client, session and offline flag, so the
    # criteria select whole families; their live rows are locked in (family_id, id) order.
    families: set[uuid.UUID] = set()
    if code is None or code.family_id is not None:
        families = set(
            db.session.execute(
                db.select(RefreshToken.family_id)
                .where(*family_filters, RefreshToken.revoked_at.is_(None))
                .order_by(RefreshToken.family_id, RefreshToken.id)
                .with_for_update()
            ).scalars()
        )
        named = family_id if family_id is not None else code.family_id if code else None
        if named is not None:
            families.add(named)  # already revoked: its tokens are blocklisted again, harmlessly
    issued: dict[str, object] = {}
    if families:
        issued.update(
            db.session.execute(
                db.select(RefreshToken.access_jti, RefreshToken.access_expires_at).where(
                    RefreshToken.family_id.in_(sorted(families)),
                    RefreshToken.access_jti.is_not(None),
                    RefreshToken.access_expires_at > now,
                )
            ).all()
        )
    issued.update(
        db.session.execute(
            db.select(AuthorizationCode.access_jti, AuthorizationCode.access_expires_at).where(
                *code_filters,
                AuthorizationCode.access_jti.is_not(None),
                AuthorizationCode.access_expires_at > now,
            )
        ).all()
    )
    for jti in sorted(issued):
        blocklist.block(jti, issued[jti])
    if not families:
        return 0
    result = db.session.execute(
        db.update(RefreshToken)
        .where(RefreshToken.family_id.in_(sorted(families)), RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
