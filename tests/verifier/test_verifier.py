"""The resource-server verifier against a real idp on loopback: what it accepts and refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
import requests
from idp_verifier import TokenError, VerifiedToken, Verifier, VerifierUnavailable
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from ..conftest import make_client
from .conftest import CountingServer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
    )


def _refused(verifier: Verifier, token, contains: str = "") -> TokenError:
    with pytest.raises(TokenError) as caught:
        verifier.verify(token)
    error = caught.value
    assert (error.error, error.status) == ("invalid_token", 401), error
    assert contains in error.description
    assert error.www_authenticate.startswith('Bearer error="invalid_token"')
    return error


def test_valid_token_is_accepted_with_subject_scope_and_client(idp, service):
    verifier = Verifier(idp.issuer, audience=service.client_id)
    token = service.mint("reports:read")
    assert verifier.may_block  # keys not loaded yet

    verified = verifier.verify(token)
    assert not verifier.may_block  # from now on pure computation

    assert isinstance(verified, VerifiedToken)
    assert verified.sub == verified.client_id == service.client_id
    assert verified.scope == {"reports:read"}
    assert verified.has_scopes("reports:read") and not verified.has_scopes("reports:write")
    assert verified.roles == frozenset()
    assert verified.claims["iss"] == idp.issuer
    assert verified.expires_at - verified.issued_at == 900
    with pytest.raises(TypeError):
        verified.claims["sub"] = "someone else"  # the claims are read-only
    # Discovery and JWKS once; later tokens are checked from the cache, offline.
    for _ in range(5):
        verifier.verify(service.mint())
    assert idp.hits["/.well-known/openid-configuration"] == 1
    assert idp.hits["/jwks.json"] == 1


def test_user_token_exposes_the_users_roles(idp, user_tokens):
    verifier = Verifier(idp.issuer, audience=user_tokens.client.client_id)

    verified = verifier.verify(user_tokens.access_token)

    assert verified.roles == {"user", "editor"}
    assert verified.has_roles("editor") and not verified.has_roles("editor", "admin")
    assert verified.scope == {"openid", "profile", "email"}
    assert verified.client_id == user_tokens.client.client_id
    assert verified.sub != verified.client_id


def test_required_scopes_and_roles_answer_403_insufficient_scope(idp, user_tokens):
    verifier = Verifier(idp.issuer, audience=user_tokens.client.client_id, realm="notes")
    token = user_tokens.access_token
    assert verifier.verify(token, scopes="openid email", roles=["editor"]).sub

    with pytest.raises(TokenError) as missing_scope:
        verifier.verify(token, scopes=["notes:write"])
    assert (missing_scope.value.status, missing_scope.value.error) == (403, "insufficient_scope")
    assert missing_scope.value.www_authenticate == (
        'Bearer realm="notes", error="insufficient_scope", '
        'error_description="The access token lacks a required scope.", scope="notes:write"'
    )
    with pytest.raises(TokenError) as missing_role:
        verifier.verify(token, roles=["admin"])
    assert (missing_role.value.status, missing_role.value.error) == (403, "insufficient_scope")


def test_token_of_another_issuer_is_refused_though_signed_by_a_known_key(idp, service, make_app):
    # Another idp deployment sharing the key files: its tokens verify, but are not ours.
    other = make_app(issuer="https://other-idp.example.org")
    stranger = make_client(other, "Stranger", [], grant_types=["client_credentials"])
    response = other.test_client().post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(stranger.client_id, stranger.plain_secret),
    )
    token = response.get_json()["access_token"]
    verifier = Verifier(idp.issuer, audience=stranger.client_id)
    verifier.warm()  # loads the (shared) keys

    _refused(verifier, token, "another issuer")


def test_token_for_another_audience_is_refused(idp, service):
    verifier = Verifier(idp.issuer, audience="some-other-service")
    _refused(verifier, service.mint(), "not meant for this service")
    # A service may accept several audiences.
    assert Verifier(idp.issuer, audience=["x", service.client_id]).verify(service.mint())


def test_expired_token_is_refused_after_the_leeway(idp, service):
    token = service.mint()
    exp = _segments(token)[1]["exp"]
    just_within = Verifier(idp.issuer, service.client_id, leeway=30, clock=lambda: exp + 29)
    assert just_within.verify(token).sub == service.client_id
    too_late = Verifier(idp.issuer, service.client_id, leeway=30, clock=lambda: exp + 30)
    _refused(too_late, token, "expired")


def test_signature_by_a_foreign_key_under_idps_kid_is_refused_without_refetching(idp, service):
    verifier = Verifier(idp.issuer, audience=service.client_id)
    genuine = service.mint()
    header, claims = _segments(genuine)
    verifier.verify(genuine)

    forged = jwt.encode(header, claims, RSAKey.generate_key(2048), algorithms=["RS256"])
    _refused(verifier, forged, "signature")
    tampered_claims = {**claims, "scope": "reports:read reports:write admin"}
    h, _, s = genuine.split(".")
    tampered = f"{h}.{_b64(json.dumps(tampered_claims).encode())}.{s}"
    _refused(verifier, tampered, "signature")
    assert idp.hits["/jwks.json"] == 1  # a known kid with a bad signature is not a rotation


def test_token_strings_are_not_malleable(idp, service):
    verifier = Verifier(idp.issuer, audience=service.client_id)
    genuine = service.mint()
    verifier.verify(genuine)
    h, p, s = genuine.split(".")
    # Padding, the standard alphabet or stray characters would decode to the same bytes
    # with a lenient base64 decoder; the verifier refuses them.
    for variant in (
        f"{h}.{p}.{s}==",
        f"{h}.{p}.{s.replace('-', '+').replace('_', '/')}" if "-" in s or "_" in s else None,
        f"{h}.{p}.{s[:10]}!{s[10:]}",
        f"{h}.{p}.{s[:10]}\n{s[10:]}",
        f"{h}.{p}.{s[:10]}é{s[10:]}",
    ):
        if variant is not None:
            _refused(verifier, variant, "malformed")
    _refused(verifier, f"{h}.{p}=.{s}", "signature")  # the signed bytes differ


def test_alg_none_and_hmac_keyed_with_the_public_key_are_refused(idp, service):
    verifier = Verifier(idp.issuer, audience=service.client_id)
    genuine = service.mint()
    header, claims = _segments(genuine)
    verifier.verify(genuine)

    unsigned = f"{_b64(json.dumps({**header, 'alg': 'none'}).encode())}.{genuine.split('.')[1]}."
    _refused(verifier, unsigned, "malformed")  # an empty signature is not even a JWS here
    unsigned_with_junk = unsigned + "AA"
    _refused(verifier, unsigned_with_junk, "algorithm")

    # The classic confusion: HS256 with the RSA public key (as published) as the secret.
    jwks = requests.get(f"{idp.issuer}/jwks.json", timeout=10).json()
    public = RSAKey.import_key(next(k for k in jwks["keys"] if k["kid"] == header["kid"]))
    for secret in (public.as_pem(private=False), json.dumps(public.as_dict()).encode()):
        signing_input = (
            f"{_b64(json.dumps({**header, 'alg': 'HS256'}).encode())}.{genuine.split('.')[1]}"
        )
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        _refused(verifier, f"{signing_input}.{_b64(mac)}", "algorithm")

    for unsafe in (["none"], ["HS256"], ["RS256", "HS256"], []):
        with pytest.raises(ValueError):
            Verifier(idp.issuer, audience=service.client_id, algorithms=unsafe)


def test_algorithm_must_match_the_keys_type(signing_idp):
    verifier = Verifier(signing_idp.issuer, audience="notes-app")
    es256 = signing_idp.sign(signing_idp.claims(), alg="ES256")
    assert verifier.verify(es256).sub == "user-1"
    # The EC key's kid on an RS256 header: never verified with the wrong kind of key.
    header, claims = _segments(es256)
    confused = jwt.encode(
        {**header, "alg": "RS256"}, claims, signing_idp.private_key("RS256"), algorithms=["RS256"]
    )
    _refused(verifier, confused, "does not match its key")
    rs_only = Verifier(signing_idp.issuer, audience="notes-app", algorithms=["RS256"])
    _refused(rs_only, es256, "algorithm")


def test_id_token_is_not_accepted_as_an_access_token(idp, user_tokens):
    verifier = Verifier(idp.issuer, audience=user_tokens.client.client_id)
    assert _segments(user_tokens.id_token)[0]["typ"] == "JWT"
    _refused(verifier, user_tokens.id_token, "not an access token")


def test_typ_is_required_and_compared_case_insensitively(signing_idp):
    verifier = Verifier(signing_idp.issuer, audience="notes-app")
    claims = signing_idp.claims()
    assert verifier.verify(signing_idp.sign(claims, typ="application/AT+JWT"))
    _refused(verifier, signing_idp.sign(claims, typ="JWT"), "not an access token")
    _refused(verifier, signing_idp.sign(claims, typ="logout+jwt"), "not an access token")
    no_typ = jwt.encode(
        {"alg": "RS256", "kid": signing_idp.kids["RS256"]},
        claims,
        signing_idp.private_key(),
        algorithms=["RS256"],
    )
    _refused(verifier, no_typ, "not an access token")
    crit = {"alg": "RS256", "typ": "at+jwt", "kid": signing_idp.kids["RS256"]}
    assert verifier.verify(signing_idp.sign_raw(crit, claims))
    crit.update({"crit": ["urn:example:must-understand"], "urn:example:must-understand": 1})
    _refused(verifier, signing_idp.sign_raw(crit, claims), "extension")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        (lambda now: {"nbf": now + 120}, "not valid yet"),
        (lambda now: {"iat": now + 120}, "issue time"),
        ({"iat": None}, "issue time"),
        ({"exp": None}, "no expiry"),
        ({"exp": True}, "no expiry"),
        ({"jti": None}, "required claim"),
        ({"client_id": None}, "required claim"),
        ({"sub": ""}, "required claim"),
        ({"aud": None}, "not meant"),
        ({"aud": ["other", 3]}, "not meant"),
        ({"iss": None}, "another issuer"),
        ({"scope": ["notes:read"]}, "malformed"),
        ({"roles": "admin"}, "malformed"),
        ({"roles": [1]}, "malformed"),
        ({"roles": [{"admin": True}]}, "malformed"),
        ({"sub": 42}, "required claim"),
        ({"exp": float("nan")}, "no expiry"),
    ],
)
def test_claims_idp_would_never_issue_are_refused(signing_idp, overrides, reason):
    verifier = Verifier(signing_idp.issuer, audience="notes-app")
    if callable(overrides):  # times relative to when the test runs, not when it is collected
        overrides = overrides(int(time.time()))
    _refused(verifier, signing_idp.sign(signing_idp.claims(**overrides)), reason)


def test_claims_within_the_leeway_and_list_audiences_are_accepted(signing_idp):
    verifier = Verifier(signing_idp.issuer, audience="notes-app", leeway=30)
    now = int(time.time())
    token = signing_idp.sign(
        signing_idp.claims(nbf=now + 20, iat=now + 20, aud=["reports", "notes-app"], roles=None)
    )
    verified = verifier.verify(token)
    assert verified.roles == frozenset() and verified.scope == {"notes:read"}


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "a.b.",
        "!!!.???.***",
        "eyJhbGciOiJSUzI1NiJ9.e30.AAAA",  # no typ, no kid
        _b64(b"[1, 2]") + ".e30.AAAA",
        _b64(b"\xff\xfe") + ".e30.AAAA",
        "x" * 9000,
        None,
        b"bytes.are.refused",
    ],
)
def test_malformed_tokens_are_refused_as_invalid_token(idp, service, token):
    verifier = Verifier(idp.issuer, audience=service.client_id)
    _refused(verifier, token)


def test_unknown_kid_triggers_one_rate_limited_jwks_refetch(idp, service):
    verifier = Verifier(idp.issuer, audience=service.client_id, jwks_refresh_min_interval=1.0)
    genuine = service.mint()
    header, claims = _segments(genuine)
    foreign = RSAKey.generate_key(2048)
    forged = {
        kid: jwt.encode({**header, "kid": kid}, claims, foreign)
        for kid in ["unknown-0", "unknown-1", "unknown-later"]
        + [f"unknown-again-{n}" for n in range(5)]
    }
    verifier.verify(genuine)
    assert idp.hits["/jwks.json"] == 1

    _refused(verifier, forged["unknown-0"], "unknown key")
    assert idp.hits["/jwks.json"] == 1  # the keys were fetched just now: no refetch yet
    time.sleep(1.1)
    _refused(verifier, forged["unknown-1"], "unknown key")
    assert idp.hits["/jwks.json"] == 2  # one refetch, in case idp rotated
    for attempt in range(5):
        _refused(verifier, forged[f"unknown-again-{attempt}"], "unknown key")
    assert idp.hits["/jwks.json"] == 2  # rate-limited: forged kids cannot hammer idp
    assert verifier.verify(genuine)  # known keys keep working meanwhile

    time.sleep(1.1)
    _refused(verifier, forged["unknown-later"], "unknown key")
    assert idp.hits["/jwks.json"] == 3
    assert idp.hits["/.well-known/openid-configuration"] == 1


def test_a_rotated_key_is_fetched_once_and_then_trusted(make_app, tmp_path):
    from idp.oauth.keys import generate_key

    keys_dir = tmp_path / "keys"
    old_kid = generate_key(keys_dir, "RS256")
    server = CountingServer(lambda issuer: make_app(issuer=issuer, keys_dir=str(keys_dir)))
    try:
        service = make_client(server.app, "Reports", [], grant_types=["client_credentials"])

        def mint() -> str:
            return (
                server.app.test_client()
                .post(
                    "/token",
                    data={"grant_type": "client_credentials"},
                    auth=(service.client_id, service.plain_secret),
                )
                .get_json()["access_token"]
            )

        verifier = Verifier(
            server.issuer, audience=service.client_id, jwks_refresh_min_interval=0.2
        )
        assert _segments(mint())[0]["kid"] == old_kid
        verifier.verify(mint())
        assert verifier.kids == {old_kid}

        new_kid = generate_key(keys_dir, "RS256")  # newest active key signs
        server.app = make_app(issuer=server.issuer, keys_dir=str(keys_dir))  # idp restarts
        time.sleep(0.3)  # refetches are rate-limited from the last fetch
        rotated = mint()
        assert _segments(rotated)[0]["kid"] == new_kid
        assert verifier.verify(rotated).sub == service.client_id
        assert server.hits["/jwks.json"] == 2
        for _ in range(3):
            verifier.verify(mint())
        assert server.hits["/jwks.json"] == 2
        assert new_kid in verifier.kids
    finally:
        server.close()


def test_jwks_older_than_its_max_age_is_refreshed_and_dropped_keys_stop_working(
    signing_idp, make_app
):
    verifier = Verifier(signing_idp.issuer, audience="notes-app", jwks_max_age=1.0)
    es256 = signing_idp.sign(signing_idp.claims(), alg="ES256")
    verifier.verify(es256)
    loaded = time.monotonic()
    # idp drops the ES256 key (say it leaked) and restarts.
    (signing_idp.keys_dir / f"{signing_idp.kids['ES256']}.json").unlink()
    signing_idp.app = make_app(issuer=signing_idp.issuer, keys_dir=str(signing_idp.keys_dir))
    time.sleep(max(0.0, loaded + 1.1 - time.monotonic()))
    _refused(verifier, es256, "unknown key")
    assert signing_idp.hits["/jwks.json"] == 2  # the max-age refresh; the kid is then rate-limited
    assert verifier.verify(signing_idp.sign(signing_idp.claims()))  # RS256 still trusted


def test_concurrent_first_requests_fetch_the_jwks_once(idp, service):
    from concurrent.futures import ThreadPoolExecutor

    verifier = Verifier(idp.issuer, audience=service.client_id)
    tokens = [service.mint() for _ in range(4)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(verifier.verify, tokens * 8))
    assert all(r.sub == service.client_id for r in results)
    assert idp.hits["/jwks.json"] == 1
    assert idp.hits["/.well-known/openid-configuration"] == 1


def test_unreachable_issuer_is_503_not_a_wrong_answer(signing_idp):
    verifier = Verifier("http://127.0.0.1:9", audience="notes-app", http_timeout=1)
    token = signing_idp.sign(signing_idp.claims())
    with pytest.raises(VerifierUnavailable) as caught:
        verifier.verify(token)
    assert caught.value.status == 503
    assert caught.value.headers["Retry-After"]
    assert "127.0.0.1" not in json.dumps(caught.value.as_dict())  # details stay in the log
    with pytest.raises(VerifierUnavailable):
        verifier.warm()


def test_discovery_naming_another_issuer_is_refused(idp, service):
    verifier = Verifier(idp.issuer.replace("127.0.0.1", "localhost"), service.client_id)
    with pytest.raises(VerifierUnavailable, match="another issuer"):
        verifier.verify(service.mint())


def test_bearer_header_parsing_follows_rfc_6750(idp, service):
    verifier = Verifier(idp.issuer, audience=service.client_id, realm="reports")
    token = service.mint()
    assert verifier.verify_header(f"Bearer {token}").sub == service.client_id
    assert verifier.verify_header(f"bearer {token}").sub == service.client_id
    for missing in (None, "", "Basic dXNlcjpwYXNz"):
        with pytest.raises(TokenError) as caught:
            verifier.verify_header(missing)
        # §3.1: no error code when the request carries no bearer token at all.
        assert (caught.value.status, caught.value.error) == (401, None)
        assert caught.value.www_authenticate == 'Bearer realm="reports"'
    for malformed in ("Bearer", "Bearer ", f"Bearer {token} {token}"):
        with pytest.raises(TokenError) as caught:
            verifier.verify_header(malformed)
        assert (caught.value.status, caught.value.error) == (400, "invalid_request")


def test_error_description_cannot_break_the_header():
    error = TokenError("invalid_token", 'say "hi"\\\r\nX-Injected: 1', realm='a"b')
    assert error.www_authenticate == (
        'Bearer realm="ab", error="invalid_token", error_description="say hiX-Injected: 1"'
    )


def test_es256_and_rs256_keys_of_one_jwks_are_both_used(signing_idp):
    verifier = Verifier(signing_idp.issuer, audience="notes-app")
    for alg in ("RS256", "ES256"):
        assert verifier.verify(signing_idp.sign(signing_idp.claims(), alg=alg)).sub == "user-1"
    foreign_ec = ECKey.generate_key("P-256")
    forged = jwt.encode(
        {"alg": "ES256", "typ": "at+jwt", "kid": signing_idp.kids["ES256"]},
        signing_idp.claims(),
        foreign_ec,
        algorithms=["ES256"],
    )
    _refused(verifier, forged, "signature")
