"""The refresh side of the token lifecycle: families, atomic rotation, reuse, revocation."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from authlib.oauth2.rfc6749 import scope_to_list
from flask import current_app
from joserfc import jws

from ..extensions import db
from ..models import AuthorizationCode, Client, RefreshToken, User
from ..models.base import utcnow
from ..schemas import scopes
from . import audit, blocklist, revocation

OFFLINE_SCOPE = scopes.OFFLINE_ACCESS


def new_refresh_token() -> str:
    """256 bits of randomness."""
    return secrets.token_urlsafe(32)


def hash_token(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def access_token_claims(access_token: str) -> dict:
    """The claims of an access token idp just signed (no need to verify our own signature)."""
    return json.loads(jws.extract_compact(access_token.encode()).payload)


def _access_fields(access_token: str | None) -> dict:
    if not access_token:
        return {}
    claims = access_token_claims(access_token)
    return {
        "access_jti": claims["jti"],
        "access_expires_at": datetime.fromtimestamp(claims["exp"], UTC),
    }


def retry_window(client: Client) -> int:
    """Seconds a lost refresh response may be fetched again: per client, else global."""
    per_client = client.client_metadata.get("refresh_retry_window")
    if per_client is not None:
        return int(per_client)
    return current_app.config["IDP"].refresh_retry_window


def find_refresh_token(value: str | None) -> RefreshToken | None:
    if not value or len(value) > 256:
        return None
    return db.session.execute(
        db.select(RefreshToken).filter_by(token_hash=hash_token(value))
    ).scalar_one_or_none()


def stage_code_exchange(code: AuthorizationCode, token: dict) -> None:
    """Record what the code's exchange issued and start a refresh family if one was issued."""
    fields = _access_fields(token.get("access_token"))
    code.access_jti = fields.get("access_jti")
    code.access_expires_at = fields.get("access_expires_at")
    if "refresh_token" not in token:
        return
    config = current_app.config["IDP"]
    now = utcnow()
    family_id = uuid.uuid4()
    code.family_id = family_id
    scope = token.get("scope") or code.scope
    db.session.add(
        RefreshToken(
            token_hash=hash_token(token["refresh_token"]),
            family_id=family_id,
            client_id=code.client_id,
            user_id=code.user_id,
            session_id=code.session_id,
            offline=OFFLINE_SCOPE in (scope_to_list(scope) or []),
            scope=scope,
            auth_time=code.auth_time,
            amr=code.get_amr() or [],
            issued_at=now,
            expires_at=now + timedelta(seconds=config.refresh_token_idle_ttl),
            family_expires_at=now + timedelta(seconds=config.refresh_token_absolute_ttl),
            **fields,
        )
    )


# Built once: a constant statement is compiled and cache-keyed once, not per request.
_CLAIMABLE = (
    RefreshToken.token_hash == db.bindparam("presented_hash"),
    RefreshToken.client_id == db.bindparam("presenting_client"),
    RefreshToken.used_at.is_(None),
    RefreshToken.revoked_at.is_(None),
    RefreshToken.expires_at > db.bindparam("now"),
    RefreshToken.family_expires_at > db.bindparam("now"),
)
_CLAIM = (
    db.update(RefreshToken)
    .where(*_CLAIMABLE)
    .values(used_at=db.bindparam("now"))
    .returning(RefreshToken)
    .execution_options(synchronize_session=False)
)
# PostgreSQL's UPDATE ... FROM may return the joined table's columns (SQLite's may not):
# the user comes back in the same round trip.
_CLAIM_WITH_USER = (
    db.update(RefreshToken)
    .where(*_CLAIMABLE, RefreshToken.user_id == User.id)
    .values(used_at=db.bindparam("now"))
    .returning(RefreshToken, User)
    .execution_options(synchronize_session=False)
)
_INSERT = RefreshToken.__table__.insert()  # Core: no ORM bulk-insert bookkeeping


def claim_refresh_token(
    value: str | None, client_id: str
) -> tuple[RefreshToken, User | None] | None:
    """Find the token and mark it used in one statement (UPDATE ... RETURNING): the row if
    it is this client's, unused, unrevoked and unexpired, for exactly one caller anywhere,
    with its user on PostgreSQL; None otherwise, and the caller looks at why with
    find_refresh_token.

    Not committed here: the successor is staged in the same transaction, so a concurrent
    refresh of the same token waits on the row lock, then finds it used.
    """
    if not value or len(value) > 256:
        return None
    parameters = {
        "presented_hash": hash_token(value),
        "presenting_client": client_id,
        "now": utcnow(),
    }
    if db.session.get_bind().dialect.name == "postgresql":
        row = db.session.execute(_CLAIM_WITH_USER, parameters).one_or_none()
        claimed = (row[0], row[1]) if row is not None else None
    else:
        token = db.session.scalars(_CLAIM, parameters).one_or_none()
        claimed = (token, None) if token is not None else None
    if claimed is None:
        # Nothing was written, but a claim that waited on a concurrent one keeps a lock on
        # the row (PostgreSQL's re-check of an updated row): release it before reuse
        # handling locks the family's rows in their order, or two requests deadlock.
        db.session.rollback()
    return claimed


def stage_successor(presented: RefreshToken, token: dict) -> None:
    """Add the next token of the family; the idle deadline moves, the absolute one does not.

    A plain INSERT rather than a new ORM object: nothing reads the successor back in this
    request, and the unit of work's bookkeeping was the costliest part of a rotation.
    """
    config = current_app.config["IDP"]
    now = utcnow()
    db.session.execute(
        _INSERT,
        {
            "token_hash": hash_token(token["refresh_token"]),
            "family_id": presented.family_id,
            "parent_id": presented.id,
            "client_id": presented.client_id,
            "user_id": presented.user_id,
            "session_id": presented.session_id,
            "offline": presented.offline,
            "scope": token.get("scope") or presented.scope,
            "auth_time": presented.auth_time,
            "amr": presented.amr,
            "issued_at": now,
            "expires_at": min(
                now + timedelta(seconds=config.refresh_token_idle_ttl),
                presented.family_expires_at,
            ),
            "family_expires_at": presented.family_expires_at,
            **_access_fields(token.get("access_token")),
        },
    )


def handle_reuse(presented: RefreshToken, client: Client) -> None:
    """A used or revoked token came back: revoke the family and say so in the audit log."""
    revoked = revocation.revoke_grants(family_id=presented.family_id)
    audit.record(
        "refresh_token_reuse",
        user_id=presented.user_id,
        client_id=client.client_id,
        family_id=str(presented.family_id),
        tokens_revoked=revoked,
    )
    db.session.commit()


def revoke_code_grant(code: AuthorizationCode) -> None:
    """A replayed code: revoke what its first exchange issued (RFC 6749 §4.1.2)."""
    db.session.refresh(code)  # a concurrent exchange may have just recorded what it issued
    revocation.revoke_grants(code=code)
    audit.record("code_replay", user_id=code.user_id, client_id=code.client_id)
    db.session.commit()


def revoke_refresh_token(presented: RefreshToken, client: Client) -> None:
    """RFC 7009 for a refresh token: the family stops working from here on."""
    revoked = revocation.revoke_grants(family_id=presented.family_id)
    audit.record(
        "token_revoked",
        user_id=presented.user_id,
        client_id=client.client_id,
        token_type="refresh_token",
        family_id=str(presented.family_id),
        tokens_revoked=revoked,
    )
    db.session.commit()


def revoke_access_token(claims: dict, client: Client) -> None:
    """RFC 7009 for an access token: blocklisted for the rest of its lifetime."""
    blocklist.block(claims["jti"], claims["exp"])
    audit.record(
        "token_revoked",
        user_id=_uuid_or_none(claims.get("sub")),
        client_id=client.client_id,
        token_type="access_token",
    )
    db.session.commit()


def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# The token endpoint's use cases end here: the grant (an Authlib subclass in oauth/) staged
# the tokens; these record the audit row and commit, once per request.


def finish_code_exchange(code: AuthorizationCode, token: dict, grant_type: str) -> None:
    """Commit a code exchange: the consumed code, what save_token staged, the audit row."""
    audit.record(
        "tokens_issued",
        user_id=code.user_id,
        client_id=code.client_id,
        grant_type=grant_type,
        scope=token.get("scope"),
        refresh_token="refresh_token" in token,
    )
    db.session.commit()


def finish_rotation(presented: RefreshToken, client_id: str, scope: str | None) -> None:
    """Commit a refresh: the claimed token, its successor, the (outbox) audit row."""
    # Routine and frequent: batched through the outbox table (services.outbox), in this
    # transaction; reuse is written to audit_events directly.
    audit.record(
        "refresh_rotated",
        user_id=presented.user_id,
        client_id=client_id,
        batched=True,
        family_id=str(presented.family_id),
        scope=scope,
    )
    db.session.commit()


def finish_client_credentials(client_id: str, grant_type: str, scope: str) -> None:
    """Commit a client_credentials grant: nothing but its audit row, a lean outbox row
    committed before the token is sent (IDP_AUDIT_BATCH_SECONDS=0: into audit_events)."""
    audit.record(
        "tokens_issued", client_id=client_id, batched=True, grant_type=grant_type, scope=scope
    )
    db.session.commit()


def refuse_foreign_client(presented: RefreshToken, client_id: str) -> None:
    """Audit a refresh token presented by another client than its own (nothing revoked)."""
    audit.record(
        "refresh_token_foreign_client",
        user_id=presented.user_id,
        client_id=client_id,
        family_id=str(presented.family_id),
    )
    db.session.commit()


def finish_exchange(user: User, client_id: str, **details) -> None:
    """Commit an RFC 8693 token exchange's audit row (the token itself is not stored)."""
    audit.record("token_exchanged", user_id=user.id, client_id=client_id, **details)
    db.session.commit()


def refuse_exchange(user: User | None, client_id: str | None, **details) -> None:
    """Audit a refused token exchange (nothing else was written)."""
    audit.record(
        "token_exchange_refused",
        user_id=user.id if user is not None else None,
        client_id=client_id,
        **details,
    )
    db.session.commit()
