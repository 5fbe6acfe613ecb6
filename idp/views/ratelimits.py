"""Rate limits (Flask-Limiter, sliding window counters): per IP and per account.

The limits live here, applied to the views when the app is built, so each app (and each
test app) has its own limiter bound to its own storage: Redis when REDIS_URL is set,
memory otherwise.
"""

from __future__ import annotations

import math
import time

from flask import Flask, jsonify, request, session
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from ..observability import count_rate_limited
from ..services.throttle import email_digest
from ..store import timeouts
from . import context
from .errors import error_page, wants_json


def _email_key() -> str:
    return "email:" + email_digest(request.form.get("email", "")[:320])


def _mfa_account_key() -> str:
    """The account a second-factor attempt is for: the pending sign-in's user, else the
    signed-in user stepping up; a bare request falls back to its address."""
    pending = session.get("mfa_pending")
    if isinstance(pending, dict) and pending.get("user"):
        return "mfa-user:" + str(pending["user"])
    user = context.current_user()
    return "mfa-user:" + str(user.id) if user is not None else get_remote_address()


class ViewLimiter(Limiter):
    """idp's limits are all per view (decorators below), none default or per blueprint, so
    the limiter's pass before every request had nothing to check but cost a tenth of a
    token request. The decorators still check their limits."""

    def _check_request_limit(self, callable_name=None, in_middleware=True) -> None:
        if not in_middleware:
            super()._check_request_limit(callable_name, in_middleware)


def init_app(app: Flask) -> Limiter:
    config = app.config["IDP"]
    app.config.update(
        RATELIMIT_ENABLED=config.rate_limit_enabled,
        RATELIMIT_STORAGE_URI=config.redis_url or "memory://",
        RATELIMIT_STRATEGY="sliding-window-counter",
        RATELIMIT_KEY_PREFIX=config.redis_prefix + "rl",
        # Retry-After is set on the 429 itself, not on every limited response.
        RATELIMIT_HEADERS_ENABLED=False,
        # The same short timeouts as idp's store: a hung Redis must not hold the request.
        RATELIMIT_STORAGE_OPTIONS=timeouts(config.redis_timeout) if config.redis_url else {},
        # Redis down: keep limiting per process rather than failing every request (the
        # README's operations section says what that loosens).
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,
    )
    limiter = ViewLimiter(key_func=get_remote_address, app=app)
    post = {"methods": ["POST"]}
    per_ip = {
        "auth.login": config.rate_limit_login,
        "mfa.verify": config.rate_limit_mfa,
        "account.register": config.rate_limit_register,
        "account.resend_verification": config.rate_limit_register,
        "account.forgot_password": config.rate_limit_register,
        "oauth.issue_token": config.rate_limit_token,
        "oauth.revoke_token": config.rate_limit_token,
        "oauth.introspect_token": config.rate_limit_token,
    }
    per_email = {
        "auth.login": config.rate_limit_login_account,
        "account.resend_verification": config.rate_limit_email,
        "account.forgot_password": config.rate_limit_email,
    }
    for endpoint, limit in per_ip.items():
        view = limiter.limit(limit, **post)(app.view_functions[endpoint])
        if endpoint in per_email:
            view = limiter.limit(per_email[endpoint], key_func=_email_key, **post)(view)
        app.view_functions[endpoint] = view
    app.view_functions["mfa.verify"] = limiter.limit(
        config.rate_limit_mfa_account, key_func=_mfa_account_key, **post
    )(app.view_functions["mfa.verify"])

    @app.errorhandler(RateLimitExceeded)
    def too_many(exc: RateLimitExceeded):
        count_rate_limited()
        current = limiter.current_limit
        retry_after = max(1, math.ceil(current.reset_at - time.time())) if current else 60
        if wants_json():
            response = jsonify(
                error="temporarily_unavailable", error_description="Too many requests. Retry later."
            )
            response.status_code = 429
            response.headers["Cache-Control"] = "no-store"
        else:
            body, status, headers = error_page(
                "Too many attempts. Wait a little and try again.", 429
            )
            response = app.make_response((body, status, headers))
        response.headers["Retry-After"] = str(retry_after)
        return response

    return limiter
