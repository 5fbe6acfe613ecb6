"""The user and role schemas and the scope registry on their own: no app, no database."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from idp.schemas import scopes
from idp.schemas.users import (
    InvalidAccount,
    NewUser,
    Role,
    RoleList,
    UserUpdate,
    changes,
    openapi_components,
    user_json,
    validate,
)


def test_a_new_user_is_normalised_with_defaults():
    new = validate(NewUser, {"email": " Grace@Example.COM ", "name": " Grace "})
    assert (new.email, new.name, new.roles, new.password) == (
        "grace@example.com",
        "Grace",
        ["user"],
        None,
    )
    assert validate(NewUser, {"email": "a@b.co", "roles": ["user", "user"]}).roles == ["user"]


@pytest.mark.parametrize(
    ("model", "body", "field", "words"),
    [
        (NewUser, {}, "email", "'email' is required."),
        (NewUser, {"email": "not-an-email"}, "email", "valid email address"),
        (NewUser, {"email": 42}, "email", "must be a string"),
        (NewUser, {"email": "a@b.co", "roles": "admin"}, "roles", "must be a list"),
        (NewUser, {"email": "a@b.co", "nick": "x"}, "nick", "Unknown field 'nick'."),
        (UserUpdate, {"roles": None}, "roles", "must be a list"),
        (UserUpdate, {"disabled": "yes"}, "disabled", "must be a boolean"),
        (RoleList, {}, "roles", "'roles' is required."),
        (Role, {"name": "Not Valid"}, "name", "lower-case letters"),
        (Role, {"name": "auditor", "colour": "red"}, "colour", "Unknown field"),
    ],
)
def test_bad_account_input_is_refused_as_invalid_request(model, body, field, words):
    with pytest.raises(InvalidAccount) as caught:
        validate(model, body)
    assert caught.value.error == "invalid_request"
    assert caught.value.field == field
    assert words in str(caught.value)


def test_an_update_changes_only_what_it_names():
    assert changes(validate(UserUpdate, {"name": " Ada ", "disabled": False})) == {
        "name": "Ada",
        "disabled": False,
    }
    assert validate(Role, {"name": "billing", "description": "x" * 300}).description == "x" * 200


def test_a_user_is_shown_in_the_user_shape():
    row = SimpleNamespace(
        id="6f1c1f0e-4c59-4a36-9d44-0b3f3c2b8e11",
        email="grace@example.com",
        email_verified=1,
        name="Grace",
        roles=("user",),
        disabled=None,
        mfa_enabled=False,
        created_at=None,
    )
    shown = user_json(row)
    assert shown["roles"] == ["user"] and shown["email_verified"] is True
    assert shown["disabled"] is False
    assert set(shown) == set(openapi_components()["User"]["properties"])


def test_the_openapi_schemas_come_from_the_models():
    components = openapi_components()
    assert components["NewUser"]["required"] == ["email"]
    assert components["NewUser"]["additionalProperties"] is False
    assert "required" not in components["UserUpdate"]
    assert components["Role"]["properties"]["name"]["pattern"].startswith("^[a-z]")
    assert components["UserPage"]["properties"]["users"]["items"] == {
        "$ref": "#/components/schemas/User"
    }


def test_the_scope_registry_drives_discovery_consent_registration_and_claims():
    assert scopes.supported() == ["openid", "profile", "email", "offline_access", "roles"]
    assert "idp:admin" not in scopes.registrable()
    assert {"sub", "name", "email", "email_verified", "roles", "auth_time"} <= set(
        scopes.claims_supported()
    )
    assert scopes.consent_text("profile") == "See your name"
    assert scopes.consent_text("reports:read") == "Use the “reports:read” permission"
    claims = {"sub": "u1", "name": None, "email": "a@b.co", "email_verified": True, "roles": []}
    assert scopes.release(claims, ["openid", "email"]) == {
        "sub": "u1",
        "email": "a@b.co",
        "email_verified": True,
    }
    assert scopes.release(claims, ["profile", "roles"]) == {"sub": "u1", "roles": []}
