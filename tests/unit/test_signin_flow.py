"""The sign-in state machine's method bookkeeping: which methods a sign-in used, and the
RFC 8176 `amr` derived from them (the flows themselves are tested over HTTP in tests/flows)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from idp import clock
from idp.services import signin_flow
from idp.services.signin_flow import PendingSecondFactor, amr_for, first_factors, methods_from_amr

# What sessions have recorded as amr since TOTP shipped, for each way of signing in.
SIGN_INS = [
    (["pwd"], ["pwd"]),
    (["fed"], ["fed"]),
    (["pwd", "otp"], ["pwd", "otp", "mfa"]),
    (["pwd", "recovery"], ["pwd", "mfa"]),
    (["fed", "otp"], ["fed", "otp", "mfa"]),
    (["fed", "recovery"], ["fed", "mfa"]),
]


@pytest.mark.parametrize(("methods", "amr"), SIGN_INS)
def test_amr_is_derived_from_the_methods_used(methods, amr):
    assert amr_for(methods) == amr


@pytest.mark.parametrize(("methods", "amr"), SIGN_INS)
def test_a_sessions_amr_gives_back_its_methods(methods, amr):
    assert methods_from_amr(amr) == methods


def test_unknown_methods_add_nothing_to_amr():
    assert amr_for(["pwd", "carrier-pigeon"]) == ["pwd"]
    assert amr_for([]) == []


def test_every_method_is_a_first_or_a_second_factor():
    assert {m.factor for m in signin_flow.METHODS.values()} == {1, 2}
    assert all(name == m.name for name, m in signin_flow.METHODS.items())


def test_a_step_up_keeps_the_first_factors_a_password_by_default():
    assert first_factors(["fed", "otp"]) == ["fed"]
    assert first_factors(["otp"]) == ["pwd"]
    assert first_factors([]) == ["pwd"]


def test_a_pending_second_step_from_before_the_state_machine_still_reads():
    """A cookie written by the previous release (amr, not methods) completes after an upgrade."""
    raw = {"id": "p1", "user": "u1", "ix": None, "at": clock.now(), "next": "account"}
    old = PendingSecondFactor.from_state({**raw, "amr": ["fed"], "upstream": "corp"})
    assert old.methods == ["fed"] and old.next == "account" and old.upstream == "corp"
    assert PendingSecondFactor.from_state(raw).methods == ["pwd"]


@pytest.mark.parametrize("raw", [None, "text", [], {}, {"id": "p1"}])
def test_a_malformed_pending_second_step_is_no_pending_step(raw):
    assert PendingSecondFactor.from_state(raw) is None
    assert signin_flow.pending_second_factor({signin_flow.SECOND_FACTOR_KEY: raw}) is None


def test_a_pending_second_step_goes_stale():
    fresh = {"id": "p1", "user": "u1", "at": clock.now() - signin_flow.PENDING_MFA_SECONDS + 5}
    stale = {**fresh, "at": clock.now() - signin_flow.PENDING_MFA_SECONDS - 5}
    assert signin_flow.pending_second_factor({signin_flow.SECOND_FACTOR_KEY: fresh}) is not None
    assert signin_flow.pending_second_factor({signin_flow.SECOND_FACTOR_KEY: stale}) is None


def test_a_session_gives_its_recorded_methods_or_reads_them_from_amr():
    recorded = SimpleNamespace(methods=["fed", "recovery"], amr=["fed", "mfa"])
    older = SimpleNamespace(methods=None, amr=["pwd", "otp", "mfa"])
    assert signin_flow.recorded_methods(recorded) == ["fed", "recovery"]
    assert signin_flow.recorded_methods(older) == ["pwd", "otp"]
    assert signin_flow.recorded_methods(None) == []
