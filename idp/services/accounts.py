"""Self-service account use cases: register, verify email, reset and change a password.

Registration, resend and reset answer the same whether or not the email is known: the
views say "if an account exists, we sent a link", the same argon2 work is done either way,
and mail goes out from a background thread so its delivery time does not show.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

from flask import current_app

from ..extensions import db
from ..models import BrowserSession, User
from ..models.base import utcnow
from . import account_tokens, audit, mail, revocation, signin, users
from .passwords import check_password

log = logging.getLogger("idp.security")
_mailer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="idp-mail")
_pending: list[Future] = []


def _link(path: str, token: str) -> str:
    return f"{current_app.config['IDP'].issuer}{path}?token={token}"


def deliver_later(to: str, subject: str, template: str, **context) -> None:
    """Render and send in the background; failures are logged, never shown to the user."""
    run_later(_deliver, to, subject, template, **context)


def _deliver(to: str, subject: str, template: str, **context) -> None:
    try:
        mail.send_mail(to, subject, template, **context)
    except Exception:  # noqa: BLE001 - a mail outage must not break sign-up
        log.exception("mail delivery failed", extra={"template": template})


def run_later(job, *args, **kwargs) -> None:
    """Run `job` after the response, in the app's context: work that only happens for a
    known email must not show in the response time (no enumeration by timing)."""
    app = current_app._get_current_object()

    def run() -> None:
        with app.app_context():
            try:
                job(*args, **kwargs)
            except Exception:  # noqa: BLE001 - logged; the user already has the answer
                db.session.rollback()
                log.exception("background account job failed", extra={"job": job.__name__})

    _pending.append(_mailer.submit(run))
    _pending[:] = [f for f in _pending if not f.done()]


def wait_for_mail(timeout: float = 10.0) -> None:
    """Block until queued mail is handed over (tests, graceful shutdown)."""
    for future in list(_pending):
        future.result(timeout=timeout)


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
        _deliver(
            existing.email,
            "Someone tried to register with your email",
            "account_exists",
            name=existing.name,
            link=f"{current_app.config['IDP'].issuer}/password/forgot",
        )
        return
    user = users.create_user(
        email, None, name=name, email_verified=False, password_hash=password_hash
    )
    send_verification(user, now=True)


def send_verification(user: User, now: bool = False) -> None:
    """Mail a verification link (from a background job when `now`: already off the request)."""
    token = account_tokens.issue(user, account_tokens.VERIFY_EMAIL)
    db.session.commit()
    (_deliver if now else deliver_later)(
        user.email,
        "Confirm your email address",
        "verify_email",
        name=user.name,
        link=_link("/verify-email", token),
    )


def resend_verification(email: str) -> None:
    """Send a new link if the email has an unverified account; silently nothing otherwise.
    The lookup runs after the response, so known and unknown addresses cost the same."""
    run_later(_resend_verification, email)


def _resend_verification(email: str) -> None:
    user = users.find_by_email(email)
    if user is not None and not user.email_verified and not user.disabled:
        send_verification(user, now=True)


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
    db.session.commit()
    _deliver(
        user.email,
        "Reset your password",
        "password_reset",
        name=user.name,
        link=_link("/password/reset", token),
    )


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
    db.session.commit()
    deliver_later(user.email, "Your password was changed", "password_changed", name=user.name)
    return user


def change_password(
    user: User, current: str, new_password: str, keep: BrowserSession | None = None
) -> None:
    """Change a signed-in user's password and end everything signed in with the old one
    but the session `keep` (the browser that changed it); raise AccountError when it
    cannot be done."""
    if users.authenticate(user.email, current) is None:
        raise users.AccountError("The current password is not correct.")
    reason = check_password(new_password, user.email)
    if reason:
        raise users.AccountError(reason)
    user.password_hash = users.password_hasher.hash(new_password)
    sign_out_everywhere(user, keep=keep, reason="password_changed")
    audit.record("password_changed", user_id=user.id)
    db.session.commit()
    deliver_later(user.email, "Your password was changed", "password_changed", name=user.name)


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
