"""RFC 7591 dynamic registration and RFC 7592 management; admin API client operations."""

from __future__ import annotations

import pytest

from ..conftest import REDIRECT_URI, USER_EMAIL, USER_PASSWORD
from ..helpers import AuthorizationRequest, Browser, query
from .test_admin_api import admin, admin_service, service_token  # noqa: F401 - fixtures

INITIAL_TOKEN = "initial-access-token-" + "x" * 24


@pytest.fixture
def dcr(make_app):
    return make_app(dynamic_registration=True, registration_initial_token=INITIAL_TOKEN)


def register(client, body, token=INITIAL_TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/connect/register", json=body, headers=headers)


def test_registration_is_off_by_default(client):
    assert (
        client.post("/connect/register", json={"redirect_uris": [REDIRECT_URI]}).status_code == 404
    )
    assert "registration_endpoint" not in client.get("/.well-known/openid-configuration").get_json()


def test_registration_needs_the_initial_access_token(dcr):
    client = dcr.test_client()
    body = {"client_name": "Wiki", "redirect_uris": [REDIRECT_URI]}
    assert register(client, body, token=None).status_code in (400, 401, 403)
    assert register(client, body, token="wrong").status_code in (400, 401, 403)
    created = register(client, body)
    assert created.status_code == 201, created.get_json()


def test_registration_round_trip_read_update_delete(dcr):
    client = dcr.test_client()
    assert client.get("/.well-known/openid-configuration").get_json()["registration_endpoint"]
    created = register(
        client,
        {
            "client_name": "Wiki",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid email",
        },
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["client_secret"] and body["registration_access_token"]
    assert body["registration_client_uri"].endswith(f"/connect/register/{body['client_id']}")
    management = {"Authorization": f"Bearer {body['registration_access_token']}"}
    path = f"/connect/register/{body['client_id']}"

    read = client.get(path, headers=management)
    assert read.status_code == 200
    assert read.get_json()["client_name"] == "Wiki" and "client_secret" not in read.get_json()
    updated = client.put(
        path,
        headers=management,
        json={
            "client_id": body["client_id"],
            "client_name": "Wiki 2",
            "redirect_uris": [REDIRECT_URI, "https://wiki.example.org/cb"],
            "scope": "openid email",
        },
    )
    assert updated.status_code == 200, updated.get_json()
    assert updated.get_json()["redirect_uris"] == [REDIRECT_URI, "https://wiki.example.org/cb"]
    assert client.get(path, headers={"Authorization": "Bearer nope"}).status_code in (401, 403)
    assert client.delete(path, headers=management).status_code == 204
    assert client.get(path, headers=management).status_code in (401, 403)


@pytest.mark.parametrize(
    "body",
    [
        {"redirect_uris": ["http://evil.example/cb"]},
        {"redirect_uris": ["https://ok.example/cb#frag"]},
        {"redirect_uris": [REDIRECT_URI], "grant_types": ["client_credentials"]},
        {"redirect_uris": [REDIRECT_URI], "scope": "openid idp:admin"},
        {"redirect_uris": [REDIRECT_URI], "response_types": ["token"]},
        {"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "magic"},
        {"redirect_uris": []},
    ],
)
def test_registration_validates_metadata(dcr, body):
    response = register(dcr.test_client(), body)
    assert response.status_code == 400
    assert response.get_json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")


def test_native_apps_register_loopback_and_private_use_redirects(dcr):
    response = register(
        dcr.test_client(),
        {
            "client_name": "Desktop",
            "token_endpoint_auth_method": "none",
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1:7777/cb", "com.example.desktop:/cb"],
        },
    )
    assert response.status_code == 201, response.get_json()
    assert "client_secret" not in response.get_json()


def test_admin_api_manages_clients(app, client, admin, user):  # noqa: F811
    created = admin(
        "post",
        "/clients",
        json={"client_name": "Wiki", "redirect_uris": [REDIRECT_URI], "first_party": True},
    )
    assert created.status_code == 201, created.get_json()
    wiki = created.get_json()
    assert wiki["client_secret"]
    assert wiki["client_id"] in [
        c["client_id"] for c in admin("get", "/clients").get_json()["clients"]
    ]
    patched = admin("patch", f"/clients/{wiki['client_id']}", json={"scope": "openid email"})
    assert patched.get_json()["scope"] == "openid email"
    assert (
        admin(
            "patch",
            f"/clients/{wiki['client_id']}",
            json={"redirect_uris": ["http://evil.example/"]},
        ).status_code
        == 400
    )
    assert (
        admin(
            "patch", f"/clients/{wiki['client_id']}", json={"grant_types": ["password"]}
        ).status_code
        == 400
    )
    assert admin("patch", f"/clients/{wiki['client_id']}", json={"nonsense": 1}).status_code == 400

    rotated = admin("post", f"/clients/{wiki['client_id']}/secret").get_json()["client_secret"]
    browser = Browser(app.test_client())
    request = AuthorizationRequest(wiki["client_id"], REDIRECT_URI, scope="openid email")
    answer = query(browser.authorize(request, USER_EMAIL, USER_PASSWORD).headers["Location"])
    data = {
        "grant_type": "authorization_code",
        "code": answer["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": request.verifier,
    }
    assert (
        client.post(
            "/token", data=data, auth=(wiki["client_id"], wiki["client_secret"])
        ).status_code
        == 401
    )
    issued = client.post("/token", data=data, auth=(wiki["client_id"], rotated))
    assert issued.status_code == 200
    access_token = issued.get_json()["access_token"]

    assert admin("delete", f"/clients/{wiki['client_id']}").status_code == 204
    assert admin("get", f"/clients/{wiki['client_id']}").status_code == 404
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert info.status_code == 401  # the deleted client's tokens are revoked


def test_registration_stores_logout_metadata(dcr):
    client = dcr.test_client()
    created = register(
        client,
        {
            "client_name": "Wiki",
            "redirect_uris": [REDIRECT_URI],
            "post_logout_redirect_uris": ["https://rp.example.org/signed-out"],
            "backchannel_logout_uri": "https://rp.example.org/backchannel",
            "backchannel_logout_session_required": True,
        },
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["post_logout_redirect_uris"] == ["https://rp.example.org/signed-out"]
    assert body["backchannel_logout_uri"] == "https://rp.example.org/backchannel"
    read = client.get(
        f"/connect/register/{body['client_id']}",
        headers={"Authorization": f"Bearer {body['registration_access_token']}"},
    ).get_json()
    assert read["post_logout_redirect_uris"] == ["https://rp.example.org/signed-out"]
    assert read["backchannel_logout_uri"] == "https://rp.example.org/backchannel"
    assert read["backchannel_logout_session_required"] is True


@pytest.mark.parametrize(
    "metadata",
    [
        {"backchannel_logout_uri": "http://169.254.169.254/latest"},
        {"backchannel_logout_uri": "https://10.0.0.7/logout"},
        {"backchannel_logout_uri": "not a url"},
        {"post_logout_redirect_uris": ["https://rp.example.org/out#fragment"]},
        {"post_logout_redirect_uris": "https://rp.example.org/out"},
    ],
)
def test_registration_refuses_bad_logout_metadata(dcr, metadata):
    client = dcr.test_client()
    refused = register(client, {"redirect_uris": [REDIRECT_URI], **metadata})
    assert refused.status_code == 400
    assert refused.get_json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")


@pytest.mark.parametrize("body", [["client_name", "Wiki"], "Wiki", 42, True])
def test_a_body_that_is_not_a_json_object_is_invalid_request_not_a_500(dcr, body):
    client = dcr.test_client()
    refused = register(client, body)
    assert refused.status_code == 400, refused.get_data(as_text=True)
    assert refused.get_json()["error"] == "invalid_request"
    created = register(client, {"client_name": "Wiki", "redirect_uris": [REDIRECT_URI]})
    management = {"Authorization": f"Bearer {created.get_json()['registration_access_token']}"}
    path = f"/connect/register/{created.get_json()['client_id']}"
    refused = client.put(path, headers=management, json=body)
    assert refused.status_code == 400, refused.get_data(as_text=True)
    assert refused.get_json()["error"] == "invalid_request"
