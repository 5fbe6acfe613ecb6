"""Rate limits (Flask-Limiter, sliding window counters): per IP and per account.

The limits live here, applied to the views when the app is built, so each app (and each
test app) has its own limiter bound to its own storage: Redis when REDIS_URL is set,
memory otherwise.

The token endpoints (token, revocation, introspection) are the exception: their per-IP limit
is a flood guard on endpoints whose credentials cannot be guessed (256-bit secrets, signed
assertions), and checking it in Redis cost a token request a fifth of its CPU. It is counted
in each worker process (a sliding window counter in memory, a few µs), so an address may
reach IDP_RATE_LIMIT_TOKEN in every worker: up to workers × the limit per instance.
Sign-in, second-factor, registration and email limits, which guard guessable secrets, stay
shared in Redis.
"""

from __future__ import annotations

import math
import threading
import time
from functools import wraps

from flask import Flask, current_app, jsonify, request, session
from flask_babel import gettext as _
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import parse

from .. import clock
from ..observability import count_rate_limited
from ..services import signin_flow
from ..services.throttle import email_digest
from ..store import timeouts
from . import context
from .errors import error_page, wants_json


def _email_key() -> str:
    return "email:" + email_digest(request.form.get("email", "")[:320])


def _mfa_account_key() -> str:
    """The account a second-factor attempt is for: the pending sign-in's user, else the
    signed-in user stepping up; a bare request falls back to its address."""
    pending = signin_flow.pending_account(session)
    if pending:
        return "mfa-user:" + pending
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

    if config.rate_limit_enabled:
        per_process = _ProcessLimit(config.rate_limit_token)
        for endpoint in ("oauth.issue_token", "oauth.revoke_token", "oauth.introspect_token"):
            app.view_functions[endpoint] = per_process.limit(app.view_functions[endpoint])

    @app.errorhandler(RateLimitExceeded)
    def too_many(exc: RateLimitExceeded):
        current = limiter.current_limit
        retry_after = max(1, math.ceil(current.reset_at - time.time())) if current else 60
        return too_many_response(retry_after)

    return limiter


def too_many_response(retry_after: int):
    """429 with Retry-After: JSON at the API, a page in the browser."""
    count_rate_limited()
    if wants_json():
        response = jsonify(
            error="temporarily_unavailable", error_description="Too many requests. Retry later."
        )
        response.status_code = 429
        response.headers["Cache-Control"] = "no-store"
    else:
        message = _("Too many attempts. Wait a little and try again.")
        body, status, headers = error_page(message, 429)
        response = current_app.make_response((body, status, headers))
    response.headers["Retry-After"] = str(retry_after)
    return response


class _ProcessLimit:
    """One per-IP limit counted in this process (see the module docstring).

    The same sliding-window-counter approximation Flask-Limiter uses: the previous window's
    count, weighted by how much of it the sliding window still covers, plus this window's.
    Written here because the `limits` library's memory storage starts a timer thread every
    10 ms to expire keys: a thread per request at these rates.
    """

    MAX_ADDRESSES = 10_000  # beyond this, addresses idle for two windows are forgotten

    def __init__(self, limit: str) -> None:
        item = parse(limit)  # the limits library's syntax, as for every other limit
        self.amount = item.amount
        self.window = float(item.get_expiry())
        self.counts: dict[str, tuple[int, int, int]] = {}  # address -> window, now, before
        self.lock = threading.Lock()

    def retry_after(self, address: str, now: float) -> int | None:
        """Count a request from `address`; None when allowed, else seconds to wait."""
        position = now / self.window
        index = int(position)
        with self.lock:
            window, current, previous = self.counts.get(address, (index, 0, 0))
            if window != index:
                previous = current if window == index - 1 else 0
                current = 0
            if previous * (1 - (position - index)) + current + 1 > self.amount:
                return max(1, math.ceil((index + 1 - position) * self.window))
            self.counts[address] = (index, current + 1, previous)
            if len(self.counts) > self.MAX_ADDRESSES:
                self.counts = {k: v for k, v in self.counts.items() if v[0] >= index - 1}
        return None

    def limit(self, view):
        @wraps(view)
        def limited(*args, **kwargs):
            if request.method == "POST":
                wait = self.retry_after(get_remote_address(), clock.now())
                if wait is not None:
                    return too_many_response(wait)
            return view(*args, **kwargs)

        return limited
