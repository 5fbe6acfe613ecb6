"""One client schema, four surfaces: the admin API, dynamic registration (RFC 7591), the
`idp clients create` command and the admin API's OpenAPI document accept and refuse the same
client metadata.

The OpenAPI document describes shapes (types, enums, ranges, unknown fields): it refuses the
structurally wrong inputs the servers refuse and accepts every input they accept. Rules about
values (a redirect URI's scheme, a URL idp may not fetch, keys that a method needs) are the
servers' alone; the document answers 400 for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from idp.cli import main

from ..conftest import make_client
from .test_admin_api import service_token

INITIAL_TOKEN = "initial-access-token-" + "s" * 24
WEB = {"client_name": "Wiki", "redirect_uris": ["https://wiki.example.org/cb"]}
# What an operator types for each field (the CLI's option names are a contract).
CLI_OPTIONS = {
    "client_name": "--name",
    "redirect_uris": "--redirect-uri",
    "post_logout_redirect_uris": "--post-logout-redirect-uri",
    "grant_types": "--grant-type",
    "scope": "--scope",
    "token_endpoint_auth_method": "--auth-method",
    "backchannel_logout_uri": "--backchannel-logout-uri",
    "jwks_uri": "--jwks-uri",
    "id_token_signed_response_alg": "--id-token-signed-response-alg",
}


@dataclass
class Case:
    label: str
    body: dict
    valid: bool
    shape: bool = False  # wrong in shape: the OpenAPI document refuses it too
    cli: bool = True  # the command line can say it (a flag cannot be "yes")


CASES = [
    Case("web client", WEB, True),
    Case(
        "grants and scope",
        {**WEB, "grant_types": ["authorization_code", "refresh_token"], "scope": "openid email"},
        True,
    ),
    Case("public client", {**WEB, "token_endpoint_auth_method": "none"}, True),
    Case(
        "logout metadata",
        {
            **WEB,
            "post_logout_redirect_uris": ["https://wiki.example.org/bye"],
            "backchannel_logout_uri": "https://wiki.example.org/logout",
        },
        True,
    ),
    Case("ID token algorithm", {**WEB, "id_token_signed_response_alg": "RS256"}, True),
    Case("unknown auth method", {**WEB, "token_endpoint_auth_method": "magic"}, False, True),
    Case("unknown grant type", {**WEB, "grant_types": ["password"]}, False, True),
    Case("symmetric ID token alg", {**WEB, "id_token_signed_response_alg": "HS256"}, False, True),
    Case(
        "redirect_uris not a list",
        {**WEB, "redirect_uris": "https://wiki.example.org/cb"},
        False,
        True,
        cli=False,
    ),
    Case("name not a string", {**WEB, "client_name": 7}, False, True, cli=False),
    Case(
        "flag not a boolean",
        {**WEB, "backchannel_logout_session_required": "yes"},
        False,
        True,
        cli=False,
    ),
    Case("redirect with a fragment", {**WEB, "redirect_uris": ["https://w.example/cb#x"]}, False),
    Case("plain http redirect", {**WEB, "redirect_uris": ["http://evil.example/cb"]}, False),
    Case("no redirect URI", {**WEB, "redirect_uris": []}, False),
    Case("script logout URI", {**WEB, "post_logout_redirect_uris": ["javascript:x()"]}, False),
    Case("private logout host", {**WEB, "backchannel_logout_uri": "https://10.0.0.7/out"}, False),
    Case("keys without the method", {**WEB, "jwks_uri": "https://wiki.example.org/jwks"}, False),
    Case("method without keys", {**WEB, "token_endpoint_auth_method": "private_key_jwt"}, False),
]


@pytest.fixture
def dcr(make_app):
    return make_app(dynamic_registration=True, registration_initial_token=INITIAL_TOKEN)


@pytest.fixture
def surfaces(dcr, settings):
    """Each surface as `accepts(body) -> bool`, refusing only as its contract says."""
    http = dcr.test_client()
    ops = make_client(dcr, "Ops", [], grant_types=["client_credentials"], scope="idp:admin")
    admin_headers = {"Authorization": f"Bearer {service_token(http, ops)}"}
    document = http.get("/admin/api/openapi.json").get_json()
    new_client = Draft202012Validator(
        {**document, "$ref": "#/components/schemas/ClientMetadata"},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    env = {
        "DATABASE_URL": settings["database_url"],
        "REDIS_URL": settings["redis_url"],
        "IDP_KEYS_DIR": settings["keys_dir"],
        "IDP_SECRET_KEY": settings["secret_key"],
        "IDP_ENV": "development",
        "IDP_ISSUER": settings["issuer"],
    }

    def admin_api(body):
        response = http.post("/admin/api/clients", json=body, headers=admin_headers)
        assert response.status_code in (201, 400), response.get_data(as_text=True)
        if response.status_code == 400:
            assert response.get_json()["error"] in ("invalid_request", "invalid_client_metadata")
        return response.status_code == 201

    def registration(body):
        headers = {"Authorization": f"Bearer {INITIAL_TOKEN}"}
        response = http.post("/connect/register", json=body, headers=headers)
        assert response.status_code in (201, 400), response.get_data(as_text=True)
        if response.status_code == 400:
            assert response.get_json()["error"] in (
                "invalid_client_metadata",
                "invalid_redirect_uri",
            )
        return response.status_code == 201

    def command_line(body):
        args = ["clients", "create"]
        for name, value in body.items():
            for item in value if isinstance(value, list) else [value]:
                args += [CLI_OPTIONS[name], item]
        result = CliRunner().invoke(main, args, env=env)
        if result.exit_code != 0:
            assert result.output.startswith(("Error:", "Usage:")), result.output
        return result.exit_code == 0

    def openapi(body):
        return new_client.is_valid(body)

    return {"admin API": admin_api, "RFC 7591": registration, "CLI": command_line}, openapi


def test_every_surface_accepts_and_refuses_the_same_client_metadata(surfaces):
    servers, openapi = surfaces
    disagreements = []
    for case in CASES:
        answers = {
            name: accepts(case.body)
            for name, accepts in servers.items()
            if case.cli or name != "CLI"
        }
        answers["OpenAPI"] = openapi(case.body)
        expected = {name: case.valid for name in answers}
        if not case.valid and not case.shape:
            expected["OpenAPI"] = True  # a rule about values: the servers' to check
        if answers != expected:
            disagreements.append(f"{case.label}: {answers}")
    assert not disagreements, "\n".join(disagreements)


def test_the_openapi_document_says_400_for_the_rules_it_cannot_express(dcr):
    document = dcr.test_client().get("/admin/api/openapi.json").get_json()
    for method, path in (("post", "/clients"), ("patch", "/clients/{client_id}")):
        assert "400" in document["paths"][path][method]["responses"]
