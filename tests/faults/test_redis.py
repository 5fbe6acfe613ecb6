"""A hung, stopped or restarted Redis: bounded answers, nothing revoked comes back."""

from __future__ import annotations

import threading
import time

import pytest

from .conftest import post, register, sign_in_tokens

BUDGET_SECONDS = 2.0  # a request that needs Redis answers within this while Redis hangs


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _resume_later(redis_server, seconds: float) -> threading.Timer:
    """Never leave the test hanging if the server under test waits on Redis forever."""
    timer = threading.Timer(seconds, redis_server.resume)
    timer.start()
    return timer


def test_a_hung_redis_gets_answers_within_the_budget(fault_app, fault_user, redis_server):
    registered = register(fault_app)
    machine = register(fault_app, grant_types=["client_credentials"])
    tokens = sign_in_tokens(fault_app, registered, fault_user[1])
    client = fault_app.test_client()
    redis_server.pause()
    timer = _resume_later(redis_server, 10)
    try:
        for path in ("/.well-known/openid-configuration", "/jwks.json", "/healthz"):
            response, took = _timed(lambda path=path: client.get(path))
            assert response.status_code == 200 and took < 0.5, (path, took)
        # The token endpoint is rate limited (the limiter's Redis) and needs nothing else.
        for _ in range(3):
            response, took = _timed(
                lambda: post(fault_app, "/token", machine, grant_type="client_credentials")
            )
            assert response.status_code == 200 and took < BUDGET_SECONDS, took
        # Introspection reads the revocation record: answered, not held.
        response, took = _timed(
            lambda: post(fault_app, "/introspect", registered, token=tokens["access_token"])
        )
        assert took < BUDGET_SECONDS, took
        assert response.status_code == 200 and response.get_json()["active"] is True
        # A sign-in parks the request in Redis: a 503 page that says to retry, in time.
        response, took = _timed(
            lambda: client.get(f"/authorize?client_id={registered[0]}&response_type=code")
        )
        assert took < BUDGET_SECONDS, took
    finally:
        timer.cancel()
        redis_server.resume()


def test_a_page_that_needs_a_stopped_redis_answers_503_and_says_retry(
    fault_app, fault_user, redis_server
):
    from ..conftest import REDIRECT_URI
    from ..helpers import AuthorizationRequest

    registered = register(fault_app)
    redis_server.stop()
    request = AuthorizationRequest(registered[0], REDIRECT_URI)
    response, took = _timed(lambda: fault_app.test_client().get(request.url()))
    assert response.status_code == 503 and took < BUDGET_SECONDS
    assert "try again" in response.get_data(as_text=True).lower()
    assert response.headers["Retry-After"]


def test_revoked_access_tokens_stay_revoked_after_redis_restarts_empty(
    fault_app, fault_user, redis_server
):
    registered = register(fault_app)
    revoked = sign_in_tokens(fault_app, registered, fault_user[1])
    assert post(fault_app, "/revoke", registered, token=revoked["access_token"]).status_code == 200
    # A reused refresh token revokes its family's access tokens too.
    family = sign_in_tokens(fault_app, registered, fault_user[1])
    successor = post(
        fault_app, "/token", registered, grant_type="refresh_token",
        refresh_token=family["refresh_token"],
    ).get_json()  # fmt: skip
    reuse = post(
        fault_app, "/token", registered, grant_type="refresh_token",
        refresh_token=family["refresh_token"],
    )  # fmt: skip
    assert reuse.get_json()["error"] == "invalid_grant"
    live = sign_in_tokens(fault_app, registered, fault_user[1])

    redis_server.restart()

    for token in (revoked["access_token"], successor["access_token"], family["access_token"]):
        answer = post(fault_app, "/introspect", registered, token=token)
        assert answer.status_code == 200 and answer.get_json() == {"active": False}
        userinfo = fault_app.test_client().get(
            "/userinfo", headers={"Authorization": f"Bearer {token}"}
        )
        assert userinfo.status_code == 401
    answer = post(fault_app, "/introspect", registered, token=live["access_token"])
    assert answer.get_json()["active"] is True


def test_refresh_token_reuse_revokes_the_family_while_redis_is_down(
    fault_app, fault_user, redis_server
):
    from idp.extensions import db
    from idp.models import AuditEvent

    registered = register(fault_app)
    tokens = sign_in_tokens(fault_app, registered, fault_user[1])
    successor = post(
        fault_app, "/token", registered, grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
    ).get_json()  # fmt: skip

    redis_server.stop()
    reuse = post(
        fault_app, "/token", registered, grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
    )  # fmt: skip
    assert reuse.status_code == 400 and reuse.get_json()["error"] == "invalid_grant"
    redis_server.start()

    again = post(
        fault_app, "/token", registered, grant_type="refresh_token",
        refresh_token=successor["refresh_token"],
    )  # fmt: skip
    assert again.get_json()["error"] == "invalid_grant"  # the family was revoked
    answer = post(fault_app, "/introspect", registered, token=successor["access_token"])
    assert answer.get_json() == {"active": False}
    with fault_app.app_context():
        reuse_rows = db.session.scalars(
            db.select(AuditEvent).filter_by(
                event_type="refresh_token_reuse", client_id=registered[0]
            )
        ).all()
    assert len(reuse_rows) >= 1


def test_rate_limits_hold_per_worker_while_redis_is_down(make_fault_app, redis_server):
    app = make_fault_app(rate_limit_token="3/minute")
    machine = register(app, grant_types=["client_credentials"])
    redis_server.stop()
    statuses = [
        post(app, "/token", machine, grant_type="client_credentials").status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]


def test_readiness_probe_rebuilds_the_revocation_cache_after_a_redis_restart(
    fault_app, fault_user, redis_server
):
    """Services that read the published list (idp-verifier's RedisBlocklist) refuse to
    answer while Redis has lost it, and see revoked tokens again once a probe ran, without
    waiting for idp's own next check."""
    from types import SimpleNamespace

    from idp_verifier import RedisBlocklist, VerifierUnavailable

    from idp.services.tokens import access_token_claims

    registered = register(fault_app)
    tokens = sign_in_tokens(fault_app, registered, fault_user[1])
    assert post(fault_app, "/revoke", registered, token=tokens["access_token"]).status_code == 200
    verified = SimpleNamespace(jti=access_token_claims(tokens["access_token"])["jti"])
    blocklist = RedisBlocklist(redis_server.url, prefix=fault_app.config["IDP"].redis_prefix)
    try:
        assert blocklist.is_revoked(tokens["access_token"], verified) is True
        redis_server.restart()
        # The entry is gone and so is the "complete" marker: no answer, rather than "active".
        with pytest.raises(VerifierUnavailable):
            blocklist.is_revoked(tokens["access_token"], verified)
        assert fault_app.test_client().get("/readyz").status_code == 200
        assert blocklist.is_revoked(tokens["access_token"], verified) is True
    finally:
        blocklist.close()


def test_a_revocation_the_cache_refused_reaches_it_afterwards(fault_app, fault_user, redis_server):
    """Redis kept its data (and its "complete" marker) but refused a revocation's write (here:
    out of memory): the write is retried, so neither idp nor a service reading the cache
    serves the token."""
    from types import SimpleNamespace

    import redis
    from idp_verifier import RedisBlocklist

    from idp.services.tokens import access_token_claims

    registered = register(fault_app)
    tokens = sign_in_tokens(fault_app, registered, fault_user[1])
    assert fault_app.test_client().get("/readyz").status_code == 200  # the cache is complete
    admin = redis.Redis.from_url(redis_server.url)
    admin.config_set("maxmemory", "1")  # every write now fails: OOM, noeviction
    try:
        revoked = post(fault_app, "/revoke", registered, token=tokens["access_token"])
        assert revoked.status_code == 200  # recorded in Postgres
        # Until the write succeeds, the cache is not trusted (another worker asks Postgres).
        assert admin.get(fault_app.config["IDP"].redis_prefix + "bl-complete") is None
    finally:
        admin.config_set("maxmemory", "0")
        admin.close()
    answer = post(fault_app, "/introspect", registered, token=tokens["access_token"])
    assert answer.get_json() == {"active": False}
    verified = SimpleNamespace(jti=access_token_claims(tokens["access_token"])["jti"])
    blocklist = RedisBlocklist(redis_server.url, prefix=fault_app.config["IDP"].redis_prefix)
    try:
        assert blocklist.is_revoked(tokens["access_token"], verified) is True
    finally:
        blocklist.close()


def test_an_api_request_that_needs_a_stopped_redis_gets_json_503_and_retry_after(
    fault_app, fault_user, redis_server
):
    # A client with a retry window keeps each refresh response in Redis.
    registered = register(fault_app, refresh_retry_window=10)
    tokens = sign_in_tokens(fault_app, registered, fault_user[1])
    redis_server.stop()
    response, took = _timed(
        lambda: post(
            fault_app, "/token", registered, grant_type="refresh_token",
            refresh_token=tokens["refresh_token"],
        )  # fmt: skip
    )
    assert took < BUDGET_SECONDS
    assert response.status_code == 503
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    redis_server.start()
    # Nothing was issued or spent: the same refresh token works once Redis is back.
    again = post(
        fault_app, "/token", registered, grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
    )  # fmt: skip
    assert again.status_code == 200
