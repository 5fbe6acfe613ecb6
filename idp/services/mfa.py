"""TOTP multi-factor authentication: enrollment, sign-in checks, recovery codes.

The secret is stored encrypted with IDP_TOTP_KEY (or a key derived from IDP_SECRET_KEY when
that is unset); the last accepted time step is stored so a code works once; recovery codes
are stored as SHA-256 and each works once.
"""

from __future__ import annotations

import logging

from flask import current_app

from .. import clock
from ..extensions import db
from ..models import RecoveryCode, User
from ..models.base import utcnow
from . import audit, totp, users

log = logging.getLogger("idp.security")
ENROLLMENT_TTL_SECONDS = 15 * 60
PENDING_KEY = "mfa-enroll:"
RECOVERY_CODE_COUNT = 10
ACR_PASSWORD = "urn:idp:acr:pwd"
ACR_MFA = "urn:idp:acr:mfa"
PENDING_FAILURES_KEY = "mfa-fail:"
PENDING_FAILURES_TTL_SECONDS = 10 * 60  # outlives the pending sign-in (5 minutes)


def _key() -> str:
    config = current_app.config["IDP"]
    return config.totp_key or config.secret_key


def acr_for(amr: list[str] | None) -> str:
    return ACR_MFA if amr and "mfa" in amr else ACR_PASSWORD


def start_enrollment(user: User) -> str:
    """A new secret, kept (encrypted, 15 minutes) until the user proves they saved it."""
    secret = totp.new_secret()
    store = current_app.extensions["idp.store"]
    store.put(PENDING_KEY + str(user.id), _seal(user, secret), ENROLLMENT_TTL_SECONDS)
    return secret


def _seal(user: User, secret: str) -> str:
    # Bound to the user: a sealed secret copied onto another row does not open.
    return totp.encrypt_secret(secret, _key(), associated_data=str(user.id))


def _open(user: User, sealed: str) -> str | None:
    try:
        return totp.decrypt_secret(sealed, _key(), associated_data=str(user.id))
    except totp.SecretDecryptionError:
        log.error(
            "a TOTP secret cannot be decrypted: was IDP_TOTP_KEY or IDP_SECRET_KEY changed?",
            extra={"user_id": str(user.id)},
        )
        return None


def pending_secret(user: User) -> str | None:
    sealed = current_app.extensions["idp.store"].get(PENDING_KEY + str(user.id))
    return _open(user, sealed) if sealed else None


def provisioning(user: User, secret: str) -> tuple[str, str]:
    """The otpauth:// URI and its QR code as inline SVG."""
    issuer_name = current_app.config["IDP"].brand_name  # the name authenticator apps list
    uri = totp.provisioning_uri(secret, user.email, issuer_name=issuer_name)
    return uri, totp.qr_svg(uri)


def confirm_enrollment(user: User, code: str) -> list[str] | None:
    """Enable TOTP if the code matches the pending secret; return the new recovery codes."""
    secret = pending_secret(user)
    if secret is None:
        return None
    step = totp.verify(secret, code, None, clock.now())
    if step is None:
        return None
    current_app.extensions["idp.store"].delete(PENDING_KEY + str(user.id))
    return enable(user, secret, step)


def enable(user: User, secret: str, last_step: int | None = None) -> list[str]:
    """Store the secret encrypted, turn TOTP on and issue fresh recovery codes."""
    user.totp_secret = _seal(user, secret)
    user.totp_enabled_at = utcnow()
    user.totp_last_step = last_step
    codes = _replace_recovery_codes(user)
    audit.record("mfa_enabled", user_id=user.id)
    db.session.commit()
    return codes


def _replace_recovery_codes(user: User) -> list[str]:
    db.session.execute(db.delete(RecoveryCode).filter_by(user_id=user.id))
    codes = totp.new_recovery_codes(RECOVERY_CODE_COUNT)
    for code in codes:
        db.session.add(RecoveryCode(user_id=user.id, code_hash=totp.hash_recovery_code(code)))
    return codes


def code_already_used(user: User, code: str) -> bool:
    """Whether a refused `code` is a right TOTP code whose time step was already spent (so
    the page can say "already used" rather than "not right"). Only asked after a wrong
    code at the second step, by someone who passed the first."""
    if not user.mfa_enabled or user.totp_last_step is None or not code:
        return False
    secret = _open(user, user.totp_secret)
    step = totp.verify(secret, code.strip(), None, clock.now()) if secret else None
    return step is not None and step <= user.totp_last_step


def check_code(user: User, code: str) -> str | None:
    """Accept a TOTP code (once per time step) or an unused recovery code.

    Returns "otp" or "recovery", or None. Commits the step or the used code.
    """
    if not user.mfa_enabled or not code:
        return None
    code = code.strip()
    secret = _open(user, user.totp_secret)
    step = totp.verify(secret, code, user.totp_last_step, clock.now()) if secret else None
    if step is not None:
        # Conditional update: two requests with one code cannot both win the step.
        result = db.session.execute(
            db.update(User)
            .where(
                User.id == user.id, (User.totp_last_step.is_(None)) | (User.totp_last_step < step)
            )
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        db.session.refresh(user)
        return "otp" if result.rowcount == 1 else None
    code_hash = totp.hash_recovery_code(code)
    result = db.session.execute(
        db.update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == code_hash,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        audit.record("recovery_code_used", user_id=user.id)
        db.session.commit()
        return "recovery"
    db.session.rollback()
    return None


def pending_locked(pending_id: str | None) -> bool:
    """Whether this pending sign-in used up its wrong codes (then no code is checked)."""
    if not pending_id:
        return False
    raw = current_app.extensions["idp.store"].get(PENDING_FAILURES_KEY + pending_id)
    return int(raw or 0) >= current_app.config["IDP"].mfa_max_failures


def record_pending_failure(pending_id: str | None, user: User) -> None:
    """Count a wrong code against the pending sign-in, server-side: the pending state sits
    in a cookie an attacker can replay from any address, its counter cannot."""
    audit.record("mfa_failure", user_id=user.id)
    db.session.commit()
    if pending_id:
        current_app.extensions["idp.store"].incr(
            PENDING_FAILURES_KEY + pending_id, PENDING_FAILURES_TTL_SECONDS
        )


def regenerate_recovery_codes(user: User, code: str) -> list[str] | None:
    if check_code(user, code) is None:
        return None
    codes = _replace_recovery_codes(user)
    audit.record("recovery_codes_regenerated", user_id=user.id)
    db.session.commit()
    return codes


def disable(user: User, password: str, code: str) -> bool:
    """Turn TOTP off; needs the password and a current code (or a recovery code)."""
    if users.authenticate(user.email, password) is None or check_code(user, code) is None:
        return False
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(db.delete(RecoveryCode).filter_by(user_id=user.id))
    audit.record("mfa_disabled", user_id=user.id)
    db.session.commit()
    return True


def remaining_recovery_codes(user: User) -> int:
    return len(
        db.session.execute(
            db.select(RecoveryCode.id).filter_by(user_id=user.id, used_at=None)
        ).all()
    )
