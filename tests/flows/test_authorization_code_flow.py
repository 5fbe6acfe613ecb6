"""The code flow end to end through HTTP, checked as a relying party checks it."""

from __future__ import annotations

import base64
import hashlib

from authlib.oidc.core import CodeIDToken

from idp.extensions import db
from idp.models import AuthorizationCode

from ..conftest import REDIRECT_URI, TEST_ISSUER, USER_EMAIL, USER_PASSWORD, make_client
from ..helpers import AuthorizationRequest, query, verify_jwt


def exchange(client, confidential_client, code, verifier, **extra):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        **extra,
    }
    return client.post(
        "/token", data=data, auth=(confidential_client.client_id, confidential_client.plain_secret)
    )


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def sign_in_and_get_code(browser, confidential_client, user, **extra):
    request = AuthorizationRequest(confidential_client.client_id, REDIRECT_URI, extra=extra)
    response = browser.authorize(request, USER_EMAIL, USER_PASSWORD)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].startswith(REDIRECT_URI + "?")
    return request, query(response.headers["Location"])


def test_login_consent_and_token_exchange_give_verifiable_tokens(
    browser, client, confidential_client, user
):
    request, answer = sign_in_and_get_code(browser, confidential_client, user)
    assert answer["state"] == request.state
    assert answer["iss"] == TEST_ISSUER

    response = exchange(client, confidential_client, answer["code"], request.verifier)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    tokens = response.get_json()
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["expires_in"] == 15 * 60

    jwks = client.get("/jwks.json").get_json()
    id_token = verify_jwt(tokens["id_token"], jwks)
    claims = CodeIDToken(
        id_token.claims,
        id_token.header,
        {
            "iss": {"value": TEST_ISSUER},
            "aud": {"value": confidential_client.client_id},
            "nonce": {"value": request.nonce},
        },
    )
    claims.validate()
    assert id_token.header["kid"] in {key["kid"] for key in jwks["keys"]}
    assert id_token.claims["sub"] == str(user.id)
    assert id_token.claims["at_hash"] == at_hash(tokens["access_token"])
    assert id_token.claims["amr"] == ["pwd"]
    assert id_token.claims["sid"]
    assert isinstance(id_token.claims["auth_time"], int)
    assert id_token.claims["email"] == USER_EMAIL
    assert id_token.claims["exp"] - id_token.claims["iat"] == 15 * 60

    access = verify_jwt(tokens["access_token"], jwks)
    assert access.header["typ"] == "at+jwt"
    for claim in ("iss", "sub", "aud", "client_id", "scope", "jti", "exp", "iat"):
        assert claim in access.claims
    assert access.claims["client_id"] == confidential_client.client_id
    assert access.claims["roles"] == ["user"]
    assert access.claims["scope"] == "openid profile email"


def test_userinfo_answers_get_and_post_with_claims_for_the_scope(
    browser, client, confidential_client, user
):
    request, answer = sign_in_and_get_code(browser, confidential_client, user)
    tokens = exchange(client, confidential_client, answer["code"], request.verifier).get_json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}

    got = client.get("/userinfo", headers=headers)
    posted = client.post("/userinfo", headers=headers)
    assert got.status_code == posted.status_code == 200
    assert (
        got.get_json()
        == posted.get_json()
        == {
            "sub": str(user.id),
            "name": "Ada Lovelace",
            "email": USER_EMAIL,
            "email_verified": True,
        }
    )


def test_userinfo_with_openid_only_releases_just_the_subject(
    browser, client, confidential_client, user
):
    request = AuthorizationRequest(confidential_client.client_id, REDIRECT_URI, scope="openid")
    answer = query(browser.authorize(request, USER_EMAIL, USER_PASSWORD).headers["Location"])
    tokens = exchange(client, confidential_client, answer["code"], request.verifier).get_json()
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.get_json() == {"sub": str(user.id)}


def test_userinfo_without_a_valid_token_is_401_with_www_authenticate(client):
    missing = client.get("/userinfo")
    forged = client.get("/userinfo", headers={"Authorization": "Bearer not.a.jwt"})
    for response in (missing, forged):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].lower().startswith("bearer")


def test_consent_is_remembered_for_the_same_scopes(browser, confidential_client, user):
    sign_in_and_get_code(browser, confidential_client, user)
    again = AuthorizationRequest(confidential_client.client_id, REDIRECT_URI)
    response = browser.follow(browser.get(again.url()), REDIRECT_URI)
    assert response.status_code == 302
    assert "code" in query(response.headers["Location"])


def test_consent_is_asked_again_for_new_scopes_and_with_prompt_consent(
    browser, confidential_client, user
):
    request = AuthorizationRequest(confidential_client.client_id, REDIRECT_URI, scope="openid")
    browser.authorize(request, USER_EMAIL, USER_PASSWORD)
    for again in (
        AuthorizationRequest(confidential_client.client_id, REDIRECT_URI, scope="openid email"),
        AuthorizationRequest(
            confidential_client.client_id, REDIRECT_URI, scope="openid", extra={"prompt": "consent"}
        ),
    ):
        page = browser.follow(browser.get(again.url()), REDIRECT_URI)
        assert page.status_code == 200
        assert 'name="decision" value="allow"' in page.get_data(as_text=True)


def test_consent_page_names_the_client_and_describes_scopes(browser, confidential_client, user):
    request = AuthorizationRequest(confidential_client.client_id, REDIRECT_URI)
    page = browser.follow(browser.get(request.url()))
    page = browser.follow(browser.sign_in(USER_EMAIL, USER_PASSWORD, page=page))
    html = page.get_data(as_text=True)
    assert "Lovelace Notes" in html
    assert "See your email address" in html
    assert '<button type="submit" name="decision" value="allow">' in html
    assert 'name="decision" value="deny"' in html


def test_denied_consent_returns_access_denied_with_state_and_iss(
    browser, confidential_client, user
):
    request = AuthorizationRequest(confidential_client.client_id, REDIRECT_URI)
    response = browser.authorize(request, USER_EMAIL, USER_PASSWORD, decision="deny")
    answer = query(response.headers["Location"])
    assert answer["error"] == "access_denied"
    assert answer["state"] == request.state
    assert answer["iss"] == TEST_ISSUER
    assert "code" not in answer


def test_form_post_response_mode_posts_code_state_and_iss(browser, confidential_client, user):
    request = AuthorizationRequest(
        confidential_client.client_id, REDIRECT_URI, extra={"response_mode": "form_post"}
    )
    response = browser.authorize(request, USER_EMAIL, USER_PASSWORD)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'action="{REDIRECT_URI}"' in html
    assert f'name="state" value="{request.state}"' in html
    assert f'name="iss" value="{TEST_ISSUER}"' in html
    assert 'name="code"' in html
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_public_client_completes_the_flow_with_pkce_and_no_secret(
    browser, client, public_client, user
):
    redirect_uri = public_client.redirect_uris[0]
    request = AuthorizationRequest(public_client.client_id, redirect_uri)
    answer = query(browser.authorize(request, USER_EMAIL, USER_PASSWORD).headers["Location"])
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": redirect_uri,
            "client_id": public_client.client_id,
            "code_verifier": request.verifier,
        },
    )
    assert response.status_code == 200, response.get_json()
    assert "id_token" in response.get_json()


def test_client_secret_post_authenticates_a_client_registered_for_it(app, browser, client, user):
    registered = make_client(app, "Post client", [REDIRECT_URI], auth_method="client_secret_post")
    secret = registered.plain_secret
    request = AuthorizationRequest(registered.client_id, REDIRECT_URI)
    answer = query(browser.authorize(request, USER_EMAIL, USER_PASSWORD).headers["Location"])
    data = {
        "grant_type": "authorization_code",
        "code": answer["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": request.verifier,
        "client_id": registered.client_id,
    }
    basic = client.post("/token", data=data, auth=(registered.client_id, secret))
    assert basic.status_code == 401  # not its registered method
    posted = client.post("/token", data={**data, "client_secret": secret})
    assert posted.status_code == 200, posted.get_json()


def test_code_is_stored_hashed(browser, confidential_client, user, app):
    _, answer = sign_in_and_get_code(browser, confidential_client, user)
    with app.app_context():
        stored = db.session.execute(db.select(AuthorizationCode.code)).scalars().all()
    assert answer["code"] not in stored
    assert hashlib.sha256(answer["code"].encode()).hexdigest() in stored
