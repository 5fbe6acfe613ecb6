"""What the authorization and token endpoints refuse, and how they say so."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest

from idp import clock

from ..conftest import REDIRECT_URI, TEST_ISSUER, USER_EMAIL, USER_PASSWORD, make_client
from ..helpers import AuthorizationRequest, query
from .test_authorization_code_flow import exchange, sign_in_and_get_code


def assert_token_error(response, error, status=400):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.is_json
    assert response.get_json()["error"] == error


def assert_error_page(response):
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"


def test_replayed_code_is_refused(browser, client, confidential_client, user):
    request, answer = sign_in_and_get_code(browser, confidential_client, user)
    first = exchange(client, confidential_client, answer["code"], request.verifier)
    assert first.status_code == 200
    second = exchange(client, confidential_client, answer["code"], request.verifier)
    assert_token_error(second, "invalid_grant")


def test_wrong_pkce_verifier_is_refused(browser, client, confidential_client, user):
    _, answer = sign_in_and_get_code(browser, confidential_client, user)
    response = exchange(client, confidential_client, answer["code"], "x" * 50)
    assert_token_error(response, "invalid_grant")


def test_missing_pkce_verifier_is_refused_when_a_challenge_was_sent(
    browser, client, confidential_client, user
):
    _, answer = sign_in_and_get_code(browser, confidential_client, user)
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
        },
        auth=(confidential_client.client_id, confidential_client.plain_secret),
    )
    assert_token_error(response, "invalid_request")


def test_public_client_without_pkce_gets_invalid_request_at_its_redirect_uri(
    browser, public_client
):
    request = AuthorizationRequest(
        public_client.client_id, public_client.redirect_uris[0], pkce=False
    )
    response = browser.get(request.url())
    assert response.status_code == 302
    answer = query(response.headers["Location"])
    assert answer["error"] == "invalid_request"
    assert answer["state"] == request.state
    assert answer["iss"] == TEST_ISSUER


def test_plain_pkce_method_is_refused(browser, confidential_client):
    for method in ("plain", None):
        request = AuthorizationRequest(
            confidential_client.client_id, REDIRECT_URI, extra={"code_challenge_method": method}
        )
        response = browser.get(request.url())
        assert query(response.headers["Location"])["error"] == "invalid_request"


def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(browser, confidential_client):
    for uri in (
        "https://evil.example/callback",
        REDIRECT_URI + "/extra",
        REDIRECT_URI + "?x=1",
        "https://rp.example.org/CALLBACK",
    ):
        response = browser.get(AuthorizationRequest(confidential_client.client_id, uri).url())
        assert_error_page(response)


def test_missing_redirect_uri_gets_an_error_page(browser, confidential_client):
    request = AuthorizationRequest(confidential_client.client_id, None)
    assert_error_page(browser.get(request.url()))


def test_unknown_client_gets_an_error_page(browser):
    assert_error_page(browser.get(AuthorizationRequest("no-such-client", REDIRECT_URI).url()))


def test_repeated_parameters_get_an_error_page(browser, confidential_client):
    params = AuthorizationRequest(confidential_client.client_id, REDIRECT_URI).params()
    url = "/authorize?" + urlencode(params) + "&" + urlencode({"client_id": "other"})
    assert_error_page(browser.get(url))


def test_unsupported_response_type_is_sent_to_the_validated_redirect_uri(
    browser, confidential_client
):
    for response_type in ("token", "id_token", "code id_token"):
        request = AuthorizationRequest(
            confidential_client.client_id, REDIRECT_URI, extra={"response_type": response_type}
        )
        response = browser.get(request.url())
        assert response.status_code == 302
        answer = query(response.headers["Location"])
        assert answer["error"] == "unsupported_response_type"
        assert answer["iss"] == TEST_ISSUER


def test_unknown_response_mode_is_refused(browser, confidential_client):
    request = AuthorizationRequest(
        confidential_client.client_id, REDIRECT_URI, extra={"response_mode": "fragment"}
    )
    answer = query(browser.get(request.url()).headers["Location"])
    assert answer["error"] == "invalid_request"


def test_scope_the_client_may_not_use_is_refused(browser, confidential_client):
    request = AuthorizationRequest(
        confidential_client.client_id, REDIRECT_URI, scope="openid admin"
    )
    answer = query(browser.get(request.url()).headers["Location"])
    assert answer["error"] == "invalid_scope"


def test_wrong_client_secret_is_401_invalid_client_with_www_authenticate(
    browser, client, confidential_client, user
):
    request, answer = sign_in_and_get_code(browser, confidential_client, user)
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": request.verifier,
        },
        auth=(confidential_client.client_id, "wrong-secret"),
    )
    assert_token_error(response, "invalid_client", status=401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_unknown_client_and_wrong_secret_answer_alike(client, confidential_client):
    data = {"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT_URI}
    unknown = client.post("/token", data=data, auth=("no-such-client", "secret"))
    wrong = client.post("/token", data=data, auth=(confidential_client.client_id, "secret"))
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json()


def test_expired_code_is_refused(browser, client, confidential_client, user):
    request, answer = sign_in_and_get_code(browser, confidential_client, user)
    clock.advance(61)
    response = exchange(client, confidential_client, answer["code"], request.verifier)
    assert_token_error(response, "invalid_grant")


def test_code_is_bound_to_its_redirect_uri_and_client(
    app, browser, client, confidential_client, user
):
    request, answer = sign_in_and_get_code(browser, confidential_client, user)
    other = make_client(app, "Other", [REDIRECT_URI])
    stolen = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": request.verifier,
        },
        auth=(other.client_id, other.plain_secret),
    )
    assert_token_error(stolen, "invalid_grant")
    wrong_uri = exchange(
        client,
        confidential_client,
        answer["code"],
        request.verifier,
        redirect_uri="https://rp.example.org/other",
    )
    assert_token_error(wrong_uri, "invalid_grant")


@pytest.mark.parametrize(
    ("kwargs", "error", "status"),
    [
        ({"data": {}}, "invalid_request", 400),
        ({"json": {"grant_type": "authorization_code"}}, "invalid_request", 400),
        (
            {"data": {"grant_type": "password", "username": "a", "password": "b"}},
            "unsupported_grant_type",
            400,
        ),
        ({"data": {"grant_type": "implicit"}}, "unsupported_grant_type", 400),
        (
            {
                "data": {"grant_type": "authorization_code", "code": "x"},
                "headers": {
                    "Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()
                },
            },
            "invalid_client",
            401,
        ),
        (
            {
                "data": {"grant_type": "authorization_code", "code": "x"},
                "headers": {"Authorization": "Basic !!!not-base64"},
            },
            "invalid_client",
            401,
        ),
        ({"data": {"grant_type": "authorization_code", "code": "x"}}, "invalid_client", 401),
    ],
)
def test_malformed_token_requests_get_json_errors_not_500(client, kwargs, error, status):
    assert_token_error(client.post("/token", **kwargs), error, status)


def test_token_endpoint_refuses_get(client):
    response = client.get("/token?grant_type=authorization_code")
    assert response.status_code == 405
    assert response.is_json


def test_prompt_none_without_session_answers_login_required_with_iss(browser, confidential_client):
    request = AuthorizationRequest(
        confidential_client.client_id, REDIRECT_URI, extra={"prompt": "none"}
    )
    response = browser.get(request.url())
    answer = query(response.headers["Location"])
    assert answer["error"] == "login_required"
    assert answer["state"] == request.state
    assert answer["iss"] == TEST_ISSUER


def test_prompt_none_without_consent_answers_consent_required(browser, confidential_client, user):
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    request = AuthorizationRequest(
        confidential_client.client_id, REDIRECT_URI, extra={"prompt": "none"}
    )
    answer = query(browser.get(request.url()).headers["Location"])
    assert answer["error"] == "consent_required"
    assert answer["iss"] == TEST_ISSUER


def test_prompt_none_with_session_and_consent_issues_a_code(browser, confidential_client, user):
    sign_in_and_get_code(browser, confidential_client, user)
    request = AuthorizationRequest(
        confidential_client.client_id, REDIRECT_URI, extra={"prompt": "none"}
    )
    answer = query(browser.get(request.url()).headers["Location"])
    assert "code" in answer


def test_prompt_login_asks_for_the_password_again(browser, confidential_client, user):
    sign_in_and_get_code(browser, confidential_client, user)
    request = AuthorizationRequest(
        confidential_client.client_id, REDIRECT_URI, extra={"prompt": "login"}
    )
    page = browser.follow(browser.get(request.url()), REDIRECT_URI)
    assert 'autocomplete="current-password"' in page.get_data(as_text=True)
    final = browser.authorize(request, USER_EMAIL, USER_PASSWORD)
    assert "code" in query(final.headers["Location"])


def test_max_age_forces_sign_in_when_auth_time_is_older(browser, confidential_client, user):
    sign_in_and_get_code(browser, confidential_client, user)
    clock.advance(120)
    request = AuthorizationRequest(
        confidential_client.client_id, REDIRECT_URI, extra={"max_age": "60"}
    )
    page = browser.follow(browser.get(request.url()), REDIRECT_URI)
    assert 'autocomplete="current-password"' in page.get_data(as_text=True)
    fresh = AuthorizationRequest(
        confidential_client.client_id, REDIRECT_URI, extra={"max_age": "600"}
    )
    assert "code" in query(
        browser.follow(browser.get(fresh.url()), REDIRECT_URI).headers["Location"]
    )


def test_malformed_max_age_is_refused(browser, confidential_client, user):
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    request = AuthorizationRequest(
        confidential_client.client_id, REDIRECT_URI, extra={"max_age": "-1"}
    )
    assert query(browser.get(request.url()).headers["Location"])["error"] == "invalid_request"


def test_login_hint_prefills_the_email(browser, confidential_client):
    request = AuthorizationRequest(
        confidential_client.client_id, REDIRECT_URI, extra={"login_hint": "grace@example.com"}
    )
    page = browser.follow(browser.get(request.url()))
    assert 'value="grace@example.com"' in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("parameter", "error"),
    [("request", "request_not_supported"), ("request_uri", "request_uri_not_supported")],
)
def test_request_objects_are_refused_at_the_validated_redirect_uri(
    browser, confidential_client, user, parameter, error
):
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    request = AuthorizationRequest(
        confidential_client.client_id,
        REDIRECT_URI,
        extra={parameter: "eyJhbGciOiJub25lIn0.eyJzdGF0ZSI6IngifQ."},
    )
    response = browser.get(request.url())
    assert response.status_code == 302
    answer = query(response.headers["Location"])
    assert answer["error"] == error
    assert answer["state"] == request.state
    assert "code" not in answer


def test_request_objects_with_an_unknown_redirect_uri_get_an_error_page(
    browser, confidential_client
):
    request = AuthorizationRequest(
        confidential_client.client_id, "https://evil.example/cb", extra={"request": "x.y.z"}
    )
    response = browser.get(request.url())
    assert response.status_code == 400
    assert "Location" not in response.headers
