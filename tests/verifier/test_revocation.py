"""Revocation checks: idp's Redis blocklist and introspection, both failing closed."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from idp.verifier import Introspection, RedisBlocklist, TokenError, Verifier, VerifierUnavailable

from .conftest import revoke


def _revocation_of_this_run(settings, service):
    """idp's own blocklist when the run has Redis, else the introspection endpoint."""
    url = settings["redis_url"]
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
        revocation=_revocation_of_this_run(settings, service),
    )
    token, other = service.mint(), service.mint()
    assert verifier.verify(token).sub == service.client_id

    revoke(idp.issuer, service, token)

    _refused_as_revoked(verifier, token)
    assert verifier.verify(other).sub == service.client_id  # only that token
    if settings["redis_url"]:
        # The very key idp writes (idp/services/blocklist.py), with the token's lifetime.
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
