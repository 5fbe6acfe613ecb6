"""Self-service account use cases: register, verify email, reset and change a password.

Registration, resend and reset answer the same whether or not the email is known: the
views say "if an account exists, we sent a link", the same argon2 work is done either way,
and what differs (the lookup, a new row, the mail) is an account job in the outbox table,
run after the response (services/outbox.py), so its time does not show.
"""

from __future__ import annotations

import logging

from flask import current_app
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import BrowserSession, User
from ..models.base import utcnow
from . import account_tokens, audit, mail, outbox, revocation, signin, users
from .passwords import check_password

log = logging.getLogger("idp.security")


def _link(path: str, token: str) -> str:
    return f"{current_app.config['IDP'].issuer}{path}?token={token}"


def deliver_later(to: str, subject: str, template: str, **context) -> None:
    """Stage a mail in the current transaction (the caller commits); failures are retried
    and logged, never shown to the user."""
    mail.send_later(to, subject, template, **context)


def run_later(job, *args) -> None:
    """Run `job` after the response, from the outbox: work that only happens for a known
    email must not show in the response time (no enumeration by timing). Commits."""
    assert _JOBS.get(job.__name__) is job, f"{job.__name__} is not an account job"
    payload = {"job": job.__name__, "args": list(args), "locale": mail.current_locale()}
    outbox.enqueue("account_job", payload)
    db.session.commit()


def _run_job(payload: dict, _attempt: int) -> None:
    with mail.speaking(payload.get("locale")):
        _JOBS[payload["job"]](*payload["args"])


def register(email: str, password: str, name: str) -> None:
    """Register an account and mail a verification link; raise AccountError on bad input.

    The request does the same work for every address (checks and the argon2 hash); the
    lookup, the new row and the mail happen after the response, so its time does not tell
    a taken address from a free one. A taken address gets a notice instead.
    """
    reason = check_password(password, email)
    if reason:
        raise users.AccountError(reason)
    email = users.checked_email(email)
    password_hash = users.password_hasher.hash(password)
    run_later(_finish_registration, email, password_hash, name)


def _finish_registration(email: str, password_hash: str, name: str) -> None:
    existing = users.find_by_email(email)
    if existing is not None:
        deliver_later(
            existing.email,
            _l("Someone tried to register with your email"),
            "account_exists",
            name=existing.name,
            link=f"{current_app.config['IDP'].issuer}/password/forgot",
        )
        return
    user = users.create_user(
        email, None, name=name, email_verified=False, password_hash=password_hash
    )
    send_verification(user)


def send_verification(user: User) -> None:
    """Mail a verification link: the link and the mail commit together."""
    token = account_tokens.issue(user, account_tokens.VERIFY_EMAIL)
    deliver_later(
        user.email,
        _l("Confirm your email address"),
        "verify_email",
        name=user.name,
        link=_link("/verify-email", token),
    )
    db.session.commit()


def resend_verification(email: str) -> None:
    """Send a new link if the email has an unverified account; silently nothing otherwise.
    The lookup runs after the response, so known and unknown addresses cost the same."""
    run_later(_resend_verification, email)


def _resend_verification(email: str) -> None:
    user = users.find_by_email(email)
    if user is not None and not user.email_verified and not user.disabled:
        send_verification(user)


def verify_email(token: str) -> User | None:
    """Mark the address verified; None when the link is unknown, used or expired."""
    item = account_tokens.find(token, account_tokens.VERIFY_EMAIL)
    if item is None or not account_tokens.consume(item):
        return None
    user = db.session.get(User, item.user_id)
    user.email_verified = True
    audit.record("email_verified", user_id=user.id)
    db.session.commit()
    return user


def request_password_reset(email: str) -> None:
    """Mail a reset link if the email has an account; silently nothing otherwise.
    The lookup runs after the response, so known and unknown addresses cost the same."""
    run_later(_send_reset_link, email)


def _send_reset_link(email: str) -> None:
    user = users.find_by_email(email)
    if user is None or user.disabled:
        return
    token = account_tokens.issue(user, account_tokens.RESET_PASSWORD)
    audit.record("password_reset_requested", user_id=user.id)
    deliver_later(
        user.email,
        _l("Reset your password"),
        "password_reset",
        name=user.name,
        link=_link("/password/reset", token),
    )
    db.session.commit()


def reset_password(token: str, new_password: str) -> User | None:
    """Set a new password from a reset link and end everything signed in with the old one.

    Returns None for an unknown, used or expired link; raises AccountError for a password
    the policy refuses (the link stays usable).
    """
    item = account_tokens.find(token, account_tokens.RESET_PASSWORD)
    if item is None:
        return None
    user = db.session.get(User, item.user_id)
    reason = check_password(new_password, user.email)
    if reason:
        raise users.AccountError(reason)
    if not account_tokens.consume(item):
        return None
    user.password_hash = users.password_hasher.hash(new_password)
    sign_out_everywhere(user)
    audit.record("password_reset", user_id=user.id)
    deliver_later(user.email, _l("Your password was changed"), "password_changed", name=user.name)
    db.session.commit()
    return user


def change_password(
    user: User, current: str, new_password: str, keep: BrowserSession | None = None
) -> None:
    """Change a signed-in user's password and end everything signed in with the old one
    but the session `keep` (the browser that changed it); raise AccountError when it
    cannot be done."""
    if users.authenticate(user.email, current) is None:
        raise users.AccountError(_l("The current password is not correct."))
    reason = check_password(new_password, user.email)
    if reason:
        raise users.AccountError(reason)
    user.password_hash = users.password_hasher.hash(new_password)
    sign_out_everywhere(user, keep=keep, reason="password_changed")
    audit.record("password_changed", user_id=user.id)
    deliver_later(user.email, _l("Your password was changed"), "password_changed", name=user.name)
    db.session.commit()


def sign_out_everywhere(
    user: User, keep: BrowserSession | None = None, reason: str = "password_reset"
) -> None:
    """End every browser session but `keep` (apps are told) and every refresh family of
    the user, offline ones too; access tokens issued before now stop working. The caller
    commits."""
    # The user's families first, then the sessions (whose families are then revoked
    # already): one lock statement over the user's families, as every revocation takes them.
    user.tokens_valid_after = utcnow()
    revocation.revoke_grants(user_id=user.id)
    signin.stage_end_sessions(user.id, keep=keep, reason=reason)
    account_tokens.revoke_outstanding(user, account_tokens.RESET_PASSWORD)


# Only these run from the outbox (by name: a row never names arbitrary code).
_JOBS = {
    job.__name__: job for job in (_finish_registration, _resend_verification, _send_reset_link)
}
# A database hiccup: a few attempts over about five minutes.
outbox.register(
    "account_job",
    outbox.Kind(deliver=_run_job, delays=(1, 10, 60, 300), sealed=True, transactional=True),
)
