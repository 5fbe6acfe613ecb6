"""The sign-in state machine: from a first factor to a signed-in browser session.

Every way of signing in is a path through a few named states, and every arrow below is one
function of this module. The views parse the form, call the transition and render the
`Outcome` it names; they hold no sign-in logic of their own.

    first factor ── pwd (sign_in_with_password) ─┐
                └── fed (sign_in_upstream) ──────┤
                          │                      ├─ no second factor ───────────► SIGNED_IN
                          └─► LINK_PENDING       └─ has one ─► SECOND_FACTOR ─otp/recovery─┘
                               (the account's owner signs in with pwd: linked at SIGNED_IN)
    a signed-in session ─ step-up (an app or the admin console asks) ─► SECOND_FACTOR
    a signed-in session ─ second factor enrolled (second_factor_enrolled) ─► SIGNED_IN

A sign-in records the methods it used, in order (`METHODS`: "pwd", "fed", "otp",
"recovery"), on the session; its RFC 8176 `amr` is derived from them in one place
(`amr_for`). A new method (a passkey as first or second factor) is one entry in `METHODS`
and one transition that ends in `_first_factor_passed` or `_complete` (docs/signin.md).

State between requests lives in the browser's signed cookie (the Flask session, handed in
as `Browser.state`) under the keys below, each short-lived; the wrong-code counter of a
pending second step lives server-side (services/mfa.py), keyed by the pending sign-in's id.
"""

from __future__ import annotations

import enum
import hmac
import secrets
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass, field

from flask import current_app

from .. import clock
from ..models import BrowserSession, User
from . import federation, interaction, mfa, signin, throttle, users
from .interaction import Interaction

PENDING_MFA_SECONDS = 5 * 60
PENDING_LINK_SECONDS = 10 * 60
# Keys in the browser's signed cookie; the names are kept from before the state machine so
# a sign-in pending across an upgrade still completes.
SECOND_FACTOR_KEY = "mfa_pending"
LINK_KEY = "federation_link"
UPSTREAM_KEY = "federation"


@dataclass(frozen=True)
class Method:
    """A way to prove who you are: which factor it is and what it adds to `amr`."""

    name: str
    factor: int  # 1: starts a sign-in; 2: the second step after one
    amr: tuple[str, ...]  # RFC 8176 values (the "mfa" of a second factor is added by amr_for)


METHODS = {
    m.name: m
    for m in (
        Method("pwd", 1, ("pwd",)),
        Method("fed", 1, ("fed",)),  # an upstream provider vouched; idp's own value
        Method("otp", 2, ("otp",)),
        Method("recovery", 2, ()),  # a single-use recovery code: "mfa" alone, as before
    )
}
DEFAULT_FIRST = ["pwd"]


def amr_for(methods: list[str]) -> list[str]:
    """The `amr` values for the methods a sign-in used (unknown names are ignored)."""
    known = [METHODS[m] for m in methods if m in METHODS]
    amr = [value for method in known for value in method.amr]
    if any(method.factor == 2 for method in known):
        amr.append("mfa")
    return list(dict.fromkeys(amr))


def methods_from_amr(amr: list[str] | None) -> list[str]:
    """The methods behind a session's `amr` (the inverse of amr_for for what it produces)."""
    values = list(amr or [])
    methods = [m.name for m in METHODS.values() if m.amr and set(m.amr) <= set(values)]
    if "mfa" in values and not any(METHODS[m].factor == 2 for m in methods):
        methods.append("recovery")
    return methods


def recorded_methods(session: BrowserSession | None) -> list[str]:
    """The methods a session signed in with (read back from amr for older sessions)."""
    if session is None:
        return []
    return list(session.methods) if session.methods else methods_from_amr(session.amr)


def first_factors(methods: list[str]) -> list[str]:
    """The first-factor methods of a sign-in (a password when none is recorded)."""
    return [m for m in methods if m in METHODS and METHODS[m].factor == 1] or list(DEFAULT_FIRST)


class State(enum.Enum):
    """Where a transition left the sign-in; the view renders one page or redirect per state."""

    NOT_STARTED = "not_started"  # nothing to continue (stale, or opened directly)
    THROTTLED = "throttled"  # too many failures: wait `retry_after` seconds
    FAILED = "failed"  # a wrong credential (password or code)
    LOCKED = "locked"  # the pending second step used up its wrong codes
    REFUSED = "refused"  # the upstream identity cannot sign in (`reason` says why)
    VERIFY_EMAIL = "verify_email"  # the password is right; the email must be verified first
    LINK_PENDING = "link_pending"  # an upstream identity waits for the account's owner
    SECOND_FACTOR = "second_factor"  # the first factor passed; a code is next
    SIGNED_IN = "signed_in"  # a fresh session cookie is ready


@dataclass(frozen=True)
class HeldIdentity:
    """The upstream identity a pending link holds (what federation.link reads of a profile)."""

    issuer: str
    subject: str
    email: str | None


@dataclass
class Browser:
    """What a transition needs from the request: the signed cookie state, the current
    session (if any), and the address and user agent recorded on a new session."""

    state: MutableMapping
    session: BrowserSession | None
    ip: str
    user_agent: str


@dataclass
class Outcome:
    """The state a transition reached and what the view needs to render it."""

    state: State
    user: User | None = None
    retry_after: int = 0
    reason: str = ""
    session: BrowserSession | None = None
    cookie: str | None = None  # the new session cookie value (SIGNED_IN)
    ix: Interaction | None = None  # the authorization request to resume, if any
    next_page: str | None = None  # the page asked for ("account", "admin"): the view's allowlist
    linked: str | None = None  # the provider linked by this sign-in
    link: dict | None = None  # the pending link (LINK_PENDING)


@dataclass
class PendingSecondFactor:
    """A sign-in whose first factor passed, waiting (PENDING_MFA_SECONDS) for its second."""

    id: str  # names its server-side wrong-code counter (services/mfa)
    user: str
    at: float
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_FIRST))
    ix: str | None = None
    next: str | None = None
    upstream: str | None = None
    link: dict | None = None

    @classmethod
    def from_state(cls, raw) -> PendingSecondFactor | None:
        if not isinstance(raw, dict) or not raw.get("user"):
            return None
        methods = raw.get("methods") or methods_from_amr(raw.get("amr")) or DEFAULT_FIRST
        return cls(
            id=str(raw.get("id") or ""),
            user=str(raw["user"]),
            at=float(raw.get("at") or 0),
            methods=list(methods),
            ix=raw.get("ix"),
            next=raw.get("next"),
            upstream=raw.get("upstream"),
            link=raw.get("link"),
        )


@dataclass
class SecondFactorAttempt:
    """Who a code is for: a pending sign-in, or the signed-in user stepping up."""

    user: User
    methods: list[str]  # the first factors the completed sign-in keeps
    upstream: str | None
    pending: PendingSecondFactor | None
    next_page: str | None


# The first factor.


def sign_in_with_password(
    browser: Browser,
    email: str,
    password: str,
    device: str | None,
    ix: Interaction | None,
    next_page: str | None,
    link_id: str = "",
) -> Outcome:
    """Check the password (behind the progressive delay) and move the sign-in on.

    Any pending link ends here; it is completed only when the form named it (`link_id`).
    """
    wait = throttle.retry_after(email, device)
    if wait:
        return Outcome(State.THROTTLED, retry_after=wait)
    user = users.authenticate(email, password)
    if user is None:
        throttle.record_failure(email, device)
        signin.record_failed_sign_in(email)
        return Outcome(State.FAILED)
    throttle.reset(email, device)
    link = _take_pending_link(browser.state, link_id)
    if current_app.config["IDP"].require_verified_email and not user.email_verified:
        return Outcome(State.VERIFY_EMAIL, user=user)
    return _first_factor_passed(browser, user, "pwd", ix, next_page, link=link)


def sign_in_upstream(browser: Browser, provider, profile, ix: Interaction | None) -> Outcome:
    """Sign in with a verified upstream identity; hold a link when its email has an account."""
    try:
        user = federation.sign_in(provider.name, profile)
    except federation.LinkNeeded as exc:
        return Outcome(
            State.LINK_PENDING, ix=ix, link=_hold_pending_link(browser, provider, profile, exc)
        )
    except users.AccountError as exc:
        return Outcome(State.REFUSED, reason=str(exc))
    return _first_factor_passed(browser, user, "fed", ix, None, upstream=provider.name)


def _first_factor_passed(
    browser: Browser,
    user: User,
    method: str,
    ix: Interaction | None,
    next_page: str | None,
    upstream: str | None = None,
    link: dict | None = None,
) -> Outcome:
    """Users with a second factor give it next (SECOND_FACTOR); everyone else is signed in."""
    if user.mfa_enabled:
        pending = PendingSecondFactor(
            id=secrets.token_urlsafe(16),
            user=str(user.id),
            at=clock.now(),
            methods=[method],
            ix=ix.id if ix else None,
            next=next_page,
            upstream=upstream,
            link=link,
        )
        browser.state[SECOND_FACTOR_KEY] = asdict(pending)
        return Outcome(State.SECOND_FACTOR, user=user, ix=ix)
    return _complete(browser, user, [method], ix, next_page, upstream, link)


# The second factor (after a first one, or to step up a signed-in session).


def pending_second_factor(state: MutableMapping) -> PendingSecondFactor | None:
    """The sign-in waiting for its second factor, if still fresh."""
    pending = PendingSecondFactor.from_state(state.get(SECOND_FACTOR_KEY))
    if pending is None or clock.now() - pending.at > PENDING_MFA_SECONDS:
        return None
    return pending


def pending_account(state: MutableMapping) -> str | None:
    """The account a pending second step is for (fresh or not): what its limits count."""
    raw = state.get(SECOND_FACTOR_KEY)
    return str(raw["user"]) if isinstance(raw, dict) and raw.get("user") else None


def second_factor_attempt(
    browser: Browser, ix: Interaction | None, next_page: str | None
) -> SecondFactorAttempt | None:
    """Who a code entered now is for, or None (then the sign-in starts over).

    A pending sign-in comes first. Without one, the signed-in user may step up when an app
    (`ix`) or the admin console (`next_page == "admin"`) asked; the session keeps how it
    first signed in.
    """
    pending = pending_second_factor(browser.state)
    if pending is not None:
        user = users.get_user_by_subject(pending.user)
        methods, upstream = first_factors(pending.methods), pending.upstream
        next_page = pending.next or next_page
    else:
        stepping_up = ix is not None or next_page == "admin"
        current = browser.session
        user = users.get_user(current.user_id) if stepping_up and current else None
        methods = first_factors(recorded_methods(current))
        upstream = current.upstream if current else None
    if user is None or not user.mfa_enabled:
        return None
    return SecondFactorAttempt(user, methods, upstream, pending, next_page)


def verify_second_factor(
    browser: Browser, attempt: SecondFactorAttempt, code: str, ix: Interaction | None
) -> Outcome:
    """Check a TOTP or recovery code; SIGNED_IN, FAILED, or LOCKED after too many wrong ones."""
    pending_id = attempt.pending.id if attempt.pending is not None else None
    if mfa.pending_locked(pending_id):
        browser.state.pop(SECOND_FACTOR_KEY, None)
        return Outcome(State.LOCKED)
    method = mfa.check_code(attempt.user, code)
    if method is None:
        mfa.record_pending_failure(pending_id, attempt.user)
        return Outcome(State.FAILED, user=attempt.user)
    browser.state.pop(SECOND_FACTOR_KEY, None)
    link = attempt.pending.link if attempt.pending is not None else None
    return _complete(
        browser,
        attempt.user,
        [*attempt.methods, method],
        ix,
        attempt.next_page,
        attempt.upstream,
        link,
    )


def second_factor_enrolled(browser: Browser, user: User, ix: Interaction | None) -> Outcome:
    """The user just proved they hold a new second factor: upgrade this session to MFA.

    The session keeps its `sid` and how it first signed in; a parked authorization request
    this session signed in for keeps counting it as signed in there.
    """
    current = browser.session
    methods = first_factors(recorded_methods(current))
    upstream = current.upstream if current else None
    session, cookie = _start_session(browser, user, [*methods, "otp"], upstream)
    if ix is not None and ix.signed_in_session:
        ix.signed_in_session = str(session.id)
        interaction.save(ix)
    return Outcome(State.SIGNED_IN, user=user, session=session, cookie=cookie, ix=ix)


# Signed in.


def _complete(
    browser: Browser,
    user: User,
    methods: list[str],
    ix: Interaction | None,
    next_page: str | None,
    upstream: str | None = None,
    link: dict | None = None,
) -> Outcome:
    """Start a fresh session and say where the user was going (SIGNED_IN).

    `link` is the pending link this very sign-in was asked to complete; any other pending
    link in the browser ends here, unused.
    """
    browser.state.pop(LINK_KEY, None)
    session, cookie = _start_session(browser, user, methods, upstream)
    linked = _finish_pending_link(user, link) if link else None
    if ix is not None:
        ix.signed_in_session = str(session.id)
        interaction.save(ix)
    return Outcome(
        State.SIGNED_IN,
        user=user,
        session=session,
        cookie=cookie,
        ix=ix,
        next_page=next_page,
        linked=linked,
    )


def _start_session(
    browser: Browser, user: User, methods: list[str], upstream: str | None
) -> tuple[BrowserSession, str]:
    return signin.start_session(
        user,
        amr_for(methods),
        browser.ip,
        browser.user_agent,
        previous=browser.session,
        upstream=upstream,
        methods=list(methods),
    )


def sign_out(browser: Browser) -> None:
    """End the browser's session (if any) and drop every sign-in it had pending."""
    if browser.session is not None:
        signin.end_session(browser.session)
    for key in (SECOND_FACTOR_KEY, LINK_KEY, UPSTREAM_KEY):
        browser.state.pop(key, None)


# Federation: the round trip to the upstream, and linking.


def start_upstream(state: MutableMapping, ix_id: str | None) -> None:
    """Remember, across the upstream round trip, the authorization request to resume."""
    state[UPSTREAM_KEY] = {"ix": ix_id, "link": False}


def start_upstream_link(state: MutableMapping, user: User) -> None:
    """Remember that the signed-in `user` asked to link the upstream account."""
    state[UPSTREAM_KEY] = {"ix": None, "link": True, "user": str(user.id)}


def take_upstream(state: MutableMapping) -> dict:
    """End the upstream round trip; return what start_upstream(_link) remembered."""
    pending = state.pop(UPSTREAM_KEY, None)
    return pending if isinstance(pending, dict) else {}


def decline(ix: Interaction) -> None:
    """The user said no (at the upstream today): the app gets access_denied on resuming."""
    ix.extra["denied"] = True
    interaction.save(ix)


def link_upstream_to_signed_in(
    browser: Browser, provider, profile, started_by: str | None
) -> Outcome:
    """Link to the account that asked for it, if that account is still the one signed in.

    NOT_STARTED when another (or no) account is signed in now; REFUSED when the identity
    belongs to another user; SIGNED_IN (the session unchanged) with `linked` otherwise.
    """
    current = browser.session
    user = users.get_user(current.user_id) if current is not None else None
    if user is None or str(user.id) != started_by:
        return Outcome(State.NOT_STARTED)
    try:
        federation.link(user, provider.name, profile)
    except users.AccountError as exc:
        return Outcome(State.REFUSED, reason=str(exc))
    return Outcome(State.SIGNED_IN, user=user, session=current, linked=provider.name)


def _hold_pending_link(browser: Browser, provider, profile, needed: federation.LinkNeeded) -> dict:
    """Remember an upstream identity that needs the owner of the account to sign in.

    The link page's sign-in form carries the pending link's random id; only a sign-in
    through that form, to that account, within PENDING_LINK_SECONDS, links it. Any other
    sign-in, a sign-out or the timeout drops it (a shared computer hands nothing on).
    """
    pending = {
        "id": secrets.token_urlsafe(16),
        "provider": provider.name,
        "display_name": provider.display_name,
        "issuer": profile.issuer,
        "subject": profile.subject,
        "email": profile.email,
        "account": str(needed.account_id),
        "at": clock.now(),
    }
    browser.state[LINK_KEY] = pending
    return pending


def pending_link(state: MutableMapping, link_id: str) -> dict | None:
    """The pending link, if fresh and named by the form (`link_id`, the link page's)."""
    pending = state.get(LINK_KEY)
    if (
        not isinstance(pending, dict)
        or not link_id
        or not hmac.compare_digest(link_id.encode(), str(pending.get("id", "")).encode())
        or clock.now() - pending.get("at", 0) > PENDING_LINK_SECONDS
    ):
        return None
    return pending


def _take_pending_link(state: MutableMapping, link_id: str) -> dict | None:
    """End the browser's pending link; return it when this sign-in is the one it asked for."""
    pending = pending_link(state, link_id)
    state.pop(LINK_KEY, None)
    return pending


def _finish_pending_link(user: User, pending: dict) -> str | None:
    """Link the upstream identity this sign-in was asked for, if it names this account.

    Signing in to the account with its own method is the proof of ownership the linking
    rule asks for (services/federation.py). Returns the provider name when linked.
    """
    if (
        pending.get("account") != str(user.id)
        or clock.now() - pending.get("at", 0) > PENDING_LINK_SECONDS
    ):
        return None
    profile = HeldIdentity(pending["issuer"], pending["subject"], pending.get("email"))
    try:
        federation.link(user, pending["provider"], profile)
    except users.AccountError:
        return None
    return pending["provider"]
