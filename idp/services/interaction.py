"""Parked authorization requests and the checks that decide sign-in or consent.

/authorize never renders a form: when the user must sign in or consent, the validated
request is parked here under a random id with a short TTL, the browser is sent to the
page, and the request resumes from the store. Each reason is a named check mapped to the
error `prompt=none` answers with (OIDC Core §3.1.2.6).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    InteractionRequiredError,
    LoginRequiredError,
)
from flask import current_app

from .. import clock
from ..models import BrowserSession, Client
from . import consents, users
from .mfa import ACR_MFA, ACR_PASSWORD

KEY_PREFIX = "ix:"


@dataclass
class Interaction:
    """A parked authorization request and what the user has done for it so far."""

    id: str
    params: dict[str, str]
    created_at: float
    signed_in_session: str | None = None  # session id started during this interaction
    consent_given: bool = False
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """Something the user must do before a code can be issued."""

    page: str  # "login", "mfa" or "consent"
    reason: str
    prompt_none_error: type[OAuth2Error]


def _store():
    return current_app.extensions["idp.store"]


def park(params: Mapping[str, str]) -> Interaction:
    """Store a validated authorization request; return it with its new id."""
    interaction = Interaction(
        id=secrets.token_urlsafe(24), params=dict(params), created_at=clock.now()
    )
    save(interaction)
    return interaction


def save(interaction: Interaction) -> None:
    ttl = current_app.config["IDP"].interaction_ttl
    _store().put(KEY_PREFIX + interaction.id, json.dumps(asdict(interaction)), ttl)


def load(interaction_id: str | None) -> Interaction | None:
    if not interaction_id or len(interaction_id) > 64:
        return None
    raw = _store().get(KEY_PREFIX + interaction_id)
    return Interaction(**json.loads(raw)) if raw else None


def finish(interaction: Interaction) -> None:
    _store().delete(KEY_PREFIX + interaction.id)


def parse_max_age(params: Mapping[str, str]) -> int | None:
    """Return max_age in seconds, None when absent; raise invalid_request when malformed."""
    raw = params.get("max_age")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 10:
        raise InvalidRequestError("'max_age' must be a non-negative integer")
    return int(raw)


# The named checks, in the order they are asked.


def not_signed_in(session: BrowserSession | None, ix: Interaction | None, **_) -> bool:
    return session is None


def other_user_hinted(hinted_subject: str | None, session, **_) -> bool:
    """id_token_hint names another user than the one signed in."""
    return hinted_subject is not None and hinted_subject != str(session.user_id)


def prompt_login(prompts: set[str], ix: Interaction | None, session, **_) -> bool:
    return "login" in prompts and not _signed_in_here(ix, session)


def max_age_passed(params: Mapping[str, str], session, ix: Interaction | None, **_) -> bool:
    max_age = parse_max_age(params)
    if max_age is None or _signed_in_here(ix, session):
        return False
    return clock.now() - session.auth_time.timestamp() > max_age


def essential_acr_values(params: Mapping[str, str]) -> list[str]:
    """The values of an essential `acr` claim in `claims` (OIDC Core §5.5.1.1), the only
    part of that parameter idp reads; raise invalid_request when it is not JSON."""
    raw = params.get("claims")
    if not raw:
        return []
    try:
        claims = json.loads(raw)
    except ValueError:
        raise InvalidRequestError("'claims' must be a JSON object") from None
    if not isinstance(claims, dict):
        raise InvalidRequestError("'claims' must be a JSON object")
    acr = (
        (claims.get("id_token") or {}).get("acr")
        if isinstance(claims.get("id_token"), dict)
        else None
    )
    if not isinstance(acr, dict) or acr.get("essential") is not True:
        return []
    values = acr.get("values") if "values" in acr else [acr.get("value")]
    return [v for v in values or [] if isinstance(v, str)]


def mfa_by_preference(values: list[str], can_do_mfa: bool) -> bool:
    """Whether a preference list of acr values (OIDC Core §3.1.2.1) demands MFA: the first
    value the user can satisfy wins. A password satisfies `pwd`; `mfa` is satisfiable when
    the user has a second factor (or it is the only value of ours left to satisfy)."""
    ours = [v for v in values if v in (ACR_PASSWORD, ACR_MFA)]
    for index, value in enumerate(ours):
        if value == ACR_PASSWORD:
            return False
        if can_do_mfa or ACR_PASSWORD not in ours[index + 1 :]:
            return True
    return False


def mfa_missing(params: Mapping[str, str], client: Client, session, **_) -> bool:
    """MFA is wanted (by registration, acr_values or an essential acr claim) and the
    session lacks it."""
    if "mfa" in (session.amr or []):
        return False
    if client.client_metadata.get("require_mfa"):
        return True
    user = users.get_user(session.user_id)
    can_do_mfa = bool(user and user.mfa_enabled)
    essential = essential_acr_values(params)
    if essential and mfa_by_preference(essential, can_do_mfa):
        return True
    return mfa_by_preference((params.get("acr_values") or "").split(), can_do_mfa)


def consent_missing(client: Client, session, scope: str, **_) -> bool:
    return not client.first_party and not consents.covers(session.user_id, client.client_id, scope)


def prompt_consent(prompts: set[str], client: Client, ix: Interaction | None, **_) -> bool:
    return "consent" in prompts and not (ix and ix.consent_given)


CHECKS = (
    (not_signed_in, Step("login", "not_signed_in", LoginRequiredError)),
    (other_user_hinted, Step("login", "id_token_hint_mismatch", LoginRequiredError)),
    (prompt_login, Step("login", "prompt_login", LoginRequiredError)),
    (max_age_passed, Step("login", "max_age", LoginRequiredError)),
    (mfa_missing, Step("mfa", "mfa_required", InteractionRequiredError)),
    (prompt_consent, Step("consent", "prompt_consent", ConsentRequiredError)),
    (consent_missing, Step("consent", "scopes_not_granted", ConsentRequiredError)),
)


def _signed_in_here(ix: Interaction | None, session: BrowserSession | None) -> bool:
    return bool(ix and session and ix.signed_in_session == str(session.id))


def required_step(
    params: Mapping[str, str],
    client: Client,
    scope: str,
    session: BrowserSession | None,
    ix: Interaction | None,
    hinted_subject: str | None = None,
) -> Step | None:
    """Return the first thing the user must do, or None when a code can be issued."""
    prompts = set((params.get("prompt") or "").split())
    context = {
        "hinted_subject": hinted_subject,
        "params": params,
        "client": client,
        "scope": scope,
        "session": session,
        "ix": ix,
        "prompts": prompts,
    }
    for check, step in CHECKS:
        if check(**context):
            return step
    return None
