"""The admin API through HTTP: authorization, each operation, validation, the OpenAPI document."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate as validate_openapi

from ..conftest import REDIRECT_URI, USER_EMAIL, USER_PASSWORD, make_client, make_user
from ..helpers import AuthorizationRequest, Browser, query
from .tokens import introspect, login_tokens, refresh


@pytest.fixture
def admin_service(app):
    """A client_credentials client granted idp:admin."""
    return make_client(app, "Ops", [], grant_types=["client_credentials"], scope="idp:admin")


def service_token(client, registered, scope="idp:admin"):
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(registered.client_id, registered.plain_secret),
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


@pytest.fixture
def admin(client, admin_service):
    """Call the admin API with an idp:admin token: admin("get", "/users")."""
    token = service_token(client, admin_service)

    def call(method, path, **kwargs):
        return getattr(client, method)(
            f"/admin/api{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs
        )

    return call


def user_token(app, email, password, scope):
    rp = make_client(
        app, "Console", [REDIRECT_URI], first_party=True, scope="openid idp:admin roles"
    )
    browser = Browser(app.test_client())
    request = AuthorizationRequest(rp.client_id, REDIRECT_URI, scope=scope)
    answer = query(browser.authorize(request, email, password).headers["Location"])
    return browser.client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": request.verifier,
        },
        auth=(rp.client_id, rp.plain_secret),
    ).get_json()["access_token"]


def test_missing_token_is_401_and_a_token_without_the_scope_is_403(app, client, admin_service):
    assert client.get("/admin/api/users").status_code == 401
    other = make_client(app, "Reports", [], grant_types=["client_credentials"], scope="reports")
    token = service_token(client, other, scope="reports")
    response = client.get("/admin/api/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert "insufficient_scope" in response.headers["WWW-Authenticate"]


def test_an_admin_user_token_works_and_a_non_admin_user_is_refused(app, client):
    make_user(app, "root@example.com", USER_PASSWORD, roles=["admin"])
    make_user(app, USER_EMAIL, USER_PASSWORD)
    admin_token = user_token(app, "root@example.com", USER_PASSWORD, "openid idp:admin")
    response = client.get("/admin/api/users", headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code == 200
    plain_token = user_token(app, USER_EMAIL, USER_PASSWORD, "openid idp:admin")
    refused = client.get("/admin/api/users", headers={"Authorization": f"Bearer {plain_token}"})
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "insufficient_role"


def test_users_can_be_created_listed_searched_and_shown(admin):
    created = admin(
        "post",
        "/users",
        json={
            "email": "Grace@Example.com",
            "name": "Grace",
            "password": "a long passphrase",
            "roles": ["moderator"],
        },
    )
    assert created.status_code == 201
    user = created.get_json()
    assert user["email"] == "grace@example.com" and user["roles"] == ["moderator"]
    admin("post", "/users", json={"email": "linus@example.com"})
    page = admin("get", "/users?per_page=1&page=2").get_json()
    assert page["total"] == 2 and len(page["users"]) == 1
    found = admin("get", "/users?email=grace").get_json()
    assert [u["email"] for u in found["users"]] == ["grace@example.com"]
    assert admin("get", f"/users/{user['id']}").get_json()["name"] == "Grace"
    assert admin("get", "/users/not-a-uuid").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email"},
        {"email": "x@example.com", "password": "short"},
        {"email": "x@example.com", "roles": ["wizard"]},
        {"email": "x@example.com", "roles": "admin"},
        {"email": 42},
        {},
    ],
)
def test_bad_user_input_is_400_never_500(admin, body):
    response = admin("post", "/users", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert response.get_json()["error_description"]


def test_non_json_body_is_400(admin):
    assert admin("post", "/users", data="email=x").status_code == 400


def test_disabling_a_user_ends_sessions_and_refresh_families(app, client, admin, user):
    rp = make_client(app, "Notes", [REDIRECT_URI], scope="openid offline_access")
    browser = Browser(app.test_client())
    tokens = login_tokens(browser, browser.client, rp, scope="openid offline_access")
    response = admin("post", f"/users/{user.id}/disable")
    assert response.get_json()["disabled"] is True
    assert "not signed in" in browser.get("/").get_data(as_text=True)
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 400
    assert introspect(client, rp, tokens["access_token"]) == {"active": False}
    assert browser.sign_in(USER_EMAIL, USER_PASSWORD).status_code == 401
    admin("post", f"/users/{user.id}/enable")
    assert browser.sign_in(USER_EMAIL, USER_PASSWORD).status_code == 303


def test_a_role_change_shows_in_tokens_at_the_next_refresh(app, client, admin, user):
    rp = make_client(app, "Notes", [REDIRECT_URI], scope="openid roles")
    browser = Browser(app.test_client())
    tokens = login_tokens(browser, browser.client, rp, scope="openid roles")
    assert introspect(client, rp, tokens["access_token"])["roles"] == ["user"]
    admin("post", "/roles", json={"name": "editor", "description": "Edits things"})
    assert (
        admin("put", f"/users/{user.id}/roles", json={"roles": ["user", "editor"]}).status_code
        == 200
    )
    assert introspect(client, rp, tokens["access_token"])["roles"] == ["user"]  # until refresh
    refreshed = refresh(client, rp, tokens["refresh_token"]).get_json()
    assert introspect(client, rp, refreshed["access_token"])["roles"] == ["user", "editor"]
    from ..helpers import verify_jwt

    id_token = verify_jwt(refreshed["id_token"], client.get("/jwks.json").get_json()).claims
    assert id_token["roles"] == ["user", "editor"]
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    assert info.get_json()["roles"] == ["user", "editor"]


def test_roles_can_be_listed_and_defined_once(admin):
    assert admin("get", "/roles").get_json()["roles"][:3] == ["user", "moderator", "admin"]
    assert admin("post", "/roles", json={"name": "billing"}).status_code == 201
    assert admin("post", "/roles", json={"name": "billing"}).status_code == 409  # taken: conflict
    assert admin("post", "/roles", json={"name": "Not Valid"}).status_code == 400
    assert "billing" in admin("get", "/roles").get_json()["roles"]


def test_sessions_can_be_listed_and_ended(app, admin, user):
    browser = Browser(app.test_client())
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    sessions = admin("get", f"/users/{user.id}/sessions").get_json()["sessions"]
    assert len(sessions) == 1
    assert admin("delete", f"/users/{user.id}/sessions/{sessions[0]['id']}").status_code == 204
    assert "not signed in" in browser.get("/").get_data(as_text=True)
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    assert admin("delete", f"/users/{user.id}/sessions").get_json() == {"ended": 1}
    assert admin("delete", f"/users/{user.id}/sessions/nope").status_code == 404


def test_forced_password_reset_invalidates_the_password(app, admin, user, mailbox):
    admin("post", f"/users/{user.id}/password-reset")
    assert Browser(app.test_client()).sign_in(USER_EMAIL, USER_PASSWORD).status_code == 401


def test_deleting_a_user_erases_them_and_keeps_the_audit_pseudonymous(app, admin, user):
    Browser(app.test_client()).sign_in(USER_EMAIL, USER_PASSWORD)
    assert admin("delete", f"/users/{user.id}").status_code == 204
    assert admin("get", f"/users/{user.id}").status_code == 404
    events = admin("get", f"/audit?user={user.id}").get_json()["events"]
    assert {e["event_type"] for e in events} >= {"login_success", "user_deleted"}
    by_user = [e for e in events if e["event_type"] != "user_deleted"]  # that one is the admin's
    assert by_user and all(e["ip"] == "" and e["user_agent"] == "" for e in by_user)
    assert USER_EMAIL not in str(events)


def test_audit_can_be_filtered_by_type_user_and_time(app, admin, user):
    browser = Browser(app.test_client())
    browser.sign_in(USER_EMAIL, "wrong password")
    browser.sign_in(USER_EMAIL, USER_PASSWORD)
    failures = admin("get", "/audit?type=login_failure").get_json()["events"]
    assert [e["user_id"] for e in failures] == [str(user.id)]
    assert admin(
        "get", "/audit?since=2000-01-01T00:00:00Z&until=2001-01-01T00:00:00Z"
    ).get_json() == {"events": []}
    assert admin("get", "/audit?since=yesterday").status_code == 400
    assert admin("get", "/audit?type=nonsense").status_code == 400
    assert admin("get", "/audit?user=nonsense").status_code == 400


def test_openapi_document_is_valid(client):
    document = client.get("/admin/api/openapi.json").get_json()
    validate_openapi(document)
    assert document["openapi"] == "3.1.0"
    assert "/users/{user_id}" in document["paths"]


def test_a_deleted_clients_admin_token_stops_working_at_once(app, client, admin_service, user):
    token = service_token(client, admin_service)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/admin/api/users", headers=headers).status_code == 200
    other = make_client(app, "Janitor", [], grant_types=["client_credentials"], scope="idp:admin")
    other_token = service_token(client, other)
    deleted = client.delete(
        f"/admin/api/clients/{admin_service.client_id}",
        headers={"Authorization": f"Bearer {other_token}"},
    )
    assert deleted.status_code == 204
    refused = client.get("/admin/api/users", headers=headers)
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "invalid_token"
    assert "WWW-Authenticate" in refused.headers


def test_a_clients_refresh_retry_window_is_shown_and_set(admin):
    created = admin(
        "post",
        "/clients",
        json={"client_name": "Mobile", "redirect_uris": [REDIRECT_URI], "refresh_retry_window": 10},
    )
    assert created.status_code == 201
    client_id = created.get_json()["client_id"]
    assert admin("get", f"/clients/{client_id}").get_json()["refresh_retry_window"] == 10
    patched = admin("patch", f"/clients/{client_id}", json={"refresh_retry_window": 0})
    assert patched.get_json()["refresh_retry_window"] == 0
    too_long = admin("patch", f"/clients/{client_id}", json={"refresh_retry_window": 3600})
    assert too_long.status_code == 400
