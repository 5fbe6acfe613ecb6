"""The interaction policy: the named checks that decide whether /authorize needs the user.

Each check is asked in order and the first one that holds names the page (login, mfa,
consent) and the error `prompt=none` answers with (OIDC Core §3.1.2.6). These tests drive
services/interaction.py directly, with stand-ins for the session, the client and the two
lookups it makes (the user's second factor, the consents given).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    InteractionRequiredError,
    LoginRequiredError,
)

from idp import clock
from idp.services import interaction
from idp.services.interaction import Interaction
from idp.services.mfa import ACR_MFA, ACR_PASSWORD

USER_ID = "6f1c1c1e-0000-4000-8000-000000000001"
SCOPE = "openid profile"


@pytest.fixture(autouse=True)
def lookups(monkeypatch):
    """The user has no second factor and has consented to nothing, unless a test says so."""
    state = SimpleNamespace(mfa_enabled=False, granted=set())
    monkeypatch.setattr(
        interaction.users,
        "get_user",
        lambda user_id: SimpleNamespace(id=user_id, mfa_enabled=state.mfa_enabled),
    )
    monkeypatch.setattr(
        interaction.consents,
        "covers",
        lambda user_id, client_id, scope: set(scope.split()) <= state.granted,
    )
    yield state
    clock.reset()


def session(amr=("pwd",), signed_in_seconds_ago: float = 10, sid: str = "sid-1"):
    auth_time = datetime.fromtimestamp(clock.now() - signed_in_seconds_ago, UTC)
    return SimpleNamespace(id=sid, user_id=USER_ID, amr=list(amr), auth_time=auth_time)


def client(first_party: bool = False, **metadata):
    return SimpleNamespace(client_id="app", first_party=first_party, client_metadata=metadata)


def parked(signed_in_session: str | None = None, consent_given: bool = False) -> Interaction:
    return Interaction(
        id="ix-1",
        params={},
        created_at=clock.now(),
        signed_in_session=signed_in_session,
        consent_given=consent_given,
    )


def step(params=None, rp=None, current=None, ix=None, hinted=None, scope=SCOPE):
    found = interaction.required_step(
        params or {}, rp or client(first_party=True), scope, current, ix, hinted
    )
    return (found.page, found.reason) if found else None


# Signing in.


def test_no_session_needs_sign_in():
    assert step(current=None) == ("login", "not_signed_in")


def test_a_fresh_session_for_a_first_party_app_needs_nothing():
    assert step(current=session()) is None


def test_an_id_token_hint_for_another_user_needs_sign_in():
    assert step(current=session(), hinted="someone-else") == ("login", "id_token_hint_mismatch")
    assert step(current=session(), hinted=USER_ID) is None


def test_prompt_login_needs_sign_in_until_the_user_signed_in_for_this_request():
    current = session()
    assert step({"prompt": "login"}, current=current) == ("login", "prompt_login")
    assert step({"prompt": "login"}, current=current, ix=parked("sid-1")) is None
    # A sign-in for another parked request (another session id) does not count.
    assert step({"prompt": "login"}, current=current, ix=parked("sid-2")) == (
        "login",
        "prompt_login",
    )


def test_max_age_counts_from_the_last_sign_in():
    assert step({"max_age": "60"}, current=session(signed_in_seconds_ago=30)) is None
    assert step({"max_age": "60"}, current=session(signed_in_seconds_ago=61)) == (
        "login",
        "max_age",
    )
    assert step({"max_age": "0"}, current=session(signed_in_seconds_ago=1)) == ("login", "max_age")
    # Signing in for this very request satisfies it, however small max_age is.
    assert (
        step({"max_age": "0"}, current=session(signed_in_seconds_ago=1), ix=parked("sid-1")) is None
    )


@pytest.mark.parametrize("raw", ["-1", "1.5", "soon", "1" * 11])
def test_malformed_max_age_is_invalid_request(raw):
    with pytest.raises(InvalidRequestError):
        step({"max_age": raw}, current=session())


def test_an_empty_max_age_is_no_max_age():
    assert interaction.parse_max_age({"max_age": ""}) is None
    assert interaction.parse_max_age({}) is None
    assert interaction.parse_max_age({"max_age": "3600"}) == 3600


# A second factor.


def test_a_client_registered_with_require_mfa_needs_mfa_once():
    rp = client(first_party=True, require_mfa=True)
    assert step(rp=rp, current=session()) == ("mfa", "mfa_required")
    assert step(rp=rp, current=session(amr=("pwd", "otp", "mfa"))) is None


def test_acr_values_asking_for_mfa_first_need_mfa():
    assert step({"acr_values": ACR_MFA}, current=session()) == ("mfa", "mfa_required")
    assert step({"acr_values": f"{ACR_MFA} {ACR_PASSWORD}"}, current=session()) is None


def test_acr_values_is_a_preference_list_the_user_can_satisfy(lookups):
    lookups.mfa_enabled = True
    assert step({"acr_values": f"{ACR_MFA} {ACR_PASSWORD}"}, current=session()) == (
        "mfa",
        "mfa_required",
    )
    assert step({"acr_values": f"{ACR_PASSWORD} {ACR_MFA}"}, current=session()) is None
    assert step({"acr_values": "urn:other:acr"}, current=session()) is None


def test_mfa_by_preference():
    assert interaction.mfa_by_preference([ACR_MFA], can_do_mfa=False)
    assert not interaction.mfa_by_preference([ACR_MFA, ACR_PASSWORD], can_do_mfa=False)
    assert interaction.mfa_by_preference([ACR_MFA, ACR_PASSWORD], can_do_mfa=True)
    assert not interaction.mfa_by_preference([ACR_PASSWORD, ACR_MFA], can_do_mfa=True)
    assert not interaction.mfa_by_preference(["urn:other"], can_do_mfa=True)
    assert not interaction.mfa_by_preference([], can_do_mfa=True)


def test_an_essential_acr_claim_needs_mfa_a_voluntary_one_does_not():
    def claims(acr: dict) -> str:
        return json.dumps({"id_token": {"acr": acr}})

    essential = claims({"essential": True, "values": [ACR_MFA]})
    voluntary = claims({"values": [ACR_MFA]})
    single = claims({"essential": True, "value": ACR_MFA})
    assert step({"claims": essential}, current=session()) == ("mfa", "mfa_required")
    assert step({"claims": single}, current=session()) == ("mfa", "mfa_required")
    assert step({"claims": voluntary}, current=session()) is None


@pytest.mark.parametrize("raw", ["not json", "[]", '"a string"'])
def test_a_claims_parameter_that_is_not_a_json_object_is_invalid_request(raw):
    with pytest.raises(InvalidRequestError):
        interaction.essential_acr_values({"claims": raw})


def test_claims_without_an_acr_request_ask_for_nothing():
    assert interaction.essential_acr_values({"claims": '{"userinfo": {"email": null}}'}) == []
    assert interaction.essential_acr_values({"claims": '{"id_token": []}'}) == []
    assert interaction.essential_acr_values({}) == []


# Consent.


def test_a_third_party_app_needs_consent_for_scopes_not_granted(lookups):
    rp = client(first_party=False)
    assert step(rp=rp, current=session()) == ("consent", "scopes_not_granted")
    lookups.granted = {"openid", "profile"}
    assert step(rp=rp, current=session()) is None
    assert step(rp=rp, current=session(), scope="openid email") == (
        "consent",
        "scopes_not_granted",
    )


def test_a_first_party_app_needs_no_consent():
    assert step(rp=client(first_party=True), current=session()) is None


def test_prompt_consent_asks_again_until_answered_for_this_request(lookups):
    lookups.granted = {"openid", "profile"}
    assert step({"prompt": "consent"}, current=session()) == ("consent", "prompt_consent")
    answered = parked(consent_given=True)
    assert step({"prompt": "consent"}, current=session(), ix=answered) is None


# The order and what prompt=none answers.


def test_the_first_check_that_holds_wins():
    everything = {"prompt": "login consent", "acr_values": ACR_MFA}
    rp = client(first_party=False, require_mfa=True)
    assert step(everything, rp=rp, current=None) == ("login", "not_signed_in")
    assert step(everything, rp=rp, current=session()) == ("login", "prompt_login")
    here = parked("sid-1")
    assert step(everything, rp=rp, current=session(), ix=here) == ("mfa", "mfa_required")
    with_mfa = session(amr=("pwd", "otp", "mfa"))
    assert step(everything, rp=rp, current=with_mfa, ix=here) == ("consent", "prompt_consent")


def test_each_reason_maps_to_its_prompt_none_error():
    errors = {step.reason: step.prompt_none_error for _, step in interaction.CHECKS}
    assert errors == {
        "not_signed_in": LoginRequiredError,
        "id_token_hint_mismatch": LoginRequiredError,
        "prompt_login": LoginRequiredError,
        "max_age": LoginRequiredError,
        "mfa_required": InteractionRequiredError,
        "prompt_consent": ConsentRequiredError,
        "scopes_not_granted": ConsentRequiredError,
    }
