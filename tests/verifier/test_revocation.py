"""Revocation checks: idp's Redis blocklist and introspection, both failing closed."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
import requests
from idp_verifier import (
    REVOKED_COMPLETE_KEY,
    REVOKED_KEY_PREFIX,
    Introspection,
    RedisBlocklist,
    TokenError,
    Verifier,
    VerifierUnavailable,
)

from .conftest import revoke


def _revocation_of_this_run(settings, service, issuer):
    """The list idp publishes in Redis when the run has Redis, else the introspection
    endpoint. As documented, idp is probed on /readyz, which keeps the list complete."""
    url = settings["redis_url"]
    if url:
        assert requests.get(f"{issuer}/readyz", timeout=10).status_code == 200
    if url.split("://")[0].endswith(("+sentinel", "+cluster")):
        # The verifier takes redis:// URLs; for Sentinel or Cluster it is handed a client.
        from idp.store import redis_client

        return RedisBlocklist(client=redis_client(url), prefix=settings["redis_prefix"])
    if url:
        return RedisBlocklist(url, prefix=settings["redis_prefix"])
    return Introspection(service.client_id, service.plain_secret, cache_seconds=0)


def _refused_as_revoked(verifier: Verifier, token: str) -> None:
    with pytest.raises(TokenError) as caught:
        verifier.verify(token)
    assert (caught.value.status, caught.value.error) == (401, "invalid_token")
    assert "revoked" in caught.value.description


def test_token_revoked_at_idp_is_refused_through_the_blocklist(idp, service, settings):
    verifier = Verifier(
        idp.issuer,
        audience=service.client_id,
        revocation=_revocation_of_this_run(settings, service, idp.issuer),
    )
    token, other = service.mint(), service.mint()
    assert verifier.verify(token).sub == service.client_id

    revoke(idp.issuer, service, token)

    _refused_as_revoked(verifier, token)
    assert verifier.verify(other).sub == service.client_id  # only that token
    if settings["redis_url"]:
        # The published key idp writes (idp/services/blocklist.py), with the token's lifetime.
        from idp.store import redis_client

        client = redis_client(settings["redis_url"])
        jti = verifier.verify(other).jti
        revoke(idp.issuer, service, other)
        assert 0 < client.ttl(f"{settings['redis_prefix']}bl:{jti}") <= 900
        client.close()
        _refused_as_revoked(verifier, other)
        verifier.revocation.close()


def test_introspection_sees_revocation_on_the_next_request(idp, service):
    introspection = Introspection(service.client_id, service.plain_secret, cache_seconds=0)
    verifier = Verifier(idp.issuer, audience=service.client_id, revocation=introspection)
    token = service.mint()
    verifier.verify(token)
    verifier.verify(token)
    assert idp.hits["/introspect"] == 2  # cache_seconds=0: every request asks

    revoke(idp.issuer, service, token)

    _refused_as_revoked(verifier, token)
    _refused_as_revoked(verifier, token)
    assert idp.hits["/introspect"] == 3  # a revoked answer is kept until the token expires


def test_introspection_caches_active_answers_for_a_few_seconds(idp, service):
    introspection = Introspection(service.client_id, service.plain_secret, cache_seconds=60)
    verifier = Verifier(idp.issuer, audience=service.client_id, revocation=introspection)
    token = service.mint()
    for _ in range(3):
        verifier.verify(token)
    assert idp.hits["/introspect"] == 1
    revoke(idp.issuer, service, token)
    # The trade-off of the cache: revocation shows once the cached answer expires.
    assert verifier.verify(token)
    assert introspection.endpoint == f"{idp.issuer}/introspect"  # from the verifier's discovery


def test_logout_takes_effect_on_the_next_request(idp, user_tokens):
    rp = user_tokens.client
    verifier = Verifier(
        idp.issuer,
        audience=rp.client_id,
        revocation=Introspection(rp.client_id, rp.plain_secret, cache_seconds=0),
    )
    assert verifier.verify(user_tokens.access_token).has_roles("editor")

    query = urlencode({"id_token_hint": user_tokens.id_token})
    response = user_tokens.browser.get(f"/session/end?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "signed out" in response.get_data(as_text=True)

    _refused_as_revoked(verifier, user_tokens.access_token)


def test_unreachable_blocklist_fails_closed_with_503(idp, service):
    verifier = Verifier(
        idp.issuer,
        audience=service.client_id,
        revocation=RedisBlocklist("redis://127.0.0.1:9/0", timeout=0.5),
    )
    with pytest.raises(VerifierUnavailable) as caught:
        verifier.verify(service.mint())
    assert caught.value.status == 503
    assert caught.value.as_dict()["error"] == "temporarily_unavailable"


def test_unreachable_or_refusing_introspection_fails_closed_with_503(idp, service):
    token = service.mint()
    unreachable = Verifier(
        idp.issuer,
        audience=service.client_id,
        revocation=Introspection(
            service.client_id, service.plain_secret, endpoint="http://127.0.0.1:9/introspect"
        ),
    )
    with pytest.raises(VerifierUnavailable):
        unreachable.verify(token)

    wrong_secret = Verifier(
        idp.issuer,
        audience=service.client_id,
        revocation=Introspection(service.client_id, "not-the-secret"),
    )
    with pytest.raises(VerifierUnavailable, match="401"):
        wrong_secret.verify(token)
    # And a token that does not verify never reaches the revocation backend.
    with pytest.raises(TokenError):
        unreachable.verify(token[:-4] + "AAAA")
    assert idp.hits["/introspect"] == 1


def test_introspection_needs_credentials():
    with pytest.raises(ValueError):
        Introspection("", "secret")
    with pytest.raises(ValueError):
        RedisBlocklist()


class FakeRedis:
    """The two reads RedisBlocklist makes, on a dict: its answers without a Redis server."""

    def __init__(self, keys):
        self.keys = dict(keys)

    def mget(self, keys):
        return [self.keys.get(key) for key in keys]

    def close(self):
        pass


class FixedAnswer:
    def __init__(self, revoked):
        self.revoked, self.asked = revoked, 0

    def is_revoked(self, token, verified):
        self.asked += 1
        return self.revoked


def test_the_published_key_names_are_the_ones_idp_writes():
    from idp.services import blocklist

    assert (blocklist.KEY_PREFIX, blocklist.COMPLETE_KEY) == (
        REVOKED_KEY_PREFIX,
        REVOKED_COMPLETE_KEY,
    )
    # A service that reads the list must not be refused whenever idp is idle two minutes.
    assert blocklist.COMPLETE_TTL_SECONDS > 10 * blocklist.REBUILD_EVERY_SECONDS


def test_a_missing_entry_proves_nothing_without_the_complete_marker():
    verified = SimpleNamespace(jti="j1")
    listed = RedisBlocklist(client=FakeRedis({"idp:bl:j1": "1"}))
    complete = RedisBlocklist(client=FakeRedis({"idp:bl-complete": "1"}))
    incomplete = RedisBlocklist(client=FakeRedis({"idp:bl:other": "1"}))
    assert listed.is_revoked("t", verified) is True
    assert complete.is_revoked("t", verified) is False
    with pytest.raises(VerifierUnavailable, match="incomplete"):
        incomplete.is_revoked("t", verified)  # fail closed: 503, never "active"

    fallback = FixedAnswer(revoked=True)
    with_fallback = RedisBlocklist(client=FakeRedis({}), fallback=fallback)
    assert with_fallback.is_revoked("t", verified) is True
    assert RedisBlocklist(client=FakeRedis({"idp:bl-complete": "1"}), fallback=fallback).is_revoked(
        "t", verified
    ) is False
    assert fallback.asked == 1  # only while the list is incomplete


def test_an_incomplete_list_asks_introspection_when_it_is_the_fallback(
    idp, service, settings
):
    """Redis lost idp's list (here: the marker deleted, as after a restart): the service
    still answers, through idp's introspection, and still refuses the revoked token."""
    if not settings["redis_url"] or "+" in settings["redis_url"].split("://")[0]:
        pytest.skip("needs a plain Redis (IDP_TEST_REDIS_URL); the FakeRedis test covers the rule")
    import redis

    token, revoked = service.mint(), service.mint()
    revoke(idp.issuer, service, revoked)
    client = redis.Redis.from_url(settings["redis_url"])
    client.delete(settings["redis_prefix"] + REVOKED_COMPLETE_KEY)
    alone = Verifier(
        idp.issuer,
        audience=service.client_id,
        revocation=RedisBlocklist(client=client, prefix=settings["redis_prefix"]),
    )
    with pytest.raises(VerifierUnavailable):
        alone.verify(token)
    with_fallback = Verifier(
        idp.issuer,
        audience=service.client_id,
        revocation=RedisBlocklist(
            client=client,
            prefix=settings["redis_prefix"],
            fallback=Introspection(service.client_id, service.plain_secret, cache_seconds=0),
        ),
    )
    assert with_fallback.verify(token).sub == service.client_id
    _refused_as_revoked(with_fallback, revoked)
    assert idp.hits["/introspect"] >= 1
    # idp's introspection rebuilt the list: the marker is back, for a day, not two minutes.
    from idp.services import blocklist

    ttl = client.ttl(settings["redis_prefix"] + REVOKED_COMPLETE_KEY)
    assert blocklist.REBUILD_EVERY_SECONDS < ttl <= blocklist.COMPLETE_TTL_SECONDS
    assert alone.verify(token).sub == service.client_id
    # The periodic repair (a private key, due every two minutes) runs on a probe and keeps
    # the marker alive.
    client.delete(settings["redis_prefix"] + blocklist.FRESH_KEY)
    assert requests.get(f"{idp.issuer}/readyz", timeout=10).status_code == 200
    assert client.ttl(settings["redis_prefix"] + blocklist.FRESH_KEY) > 0
    assert client.ttl(settings["redis_prefix"] + REVOKED_COMPLETE_KEY) > ttl - 60
    client.close()
