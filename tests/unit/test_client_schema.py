"""The client schema (idp/schemas/clients.py) on its own: no app, no database."""

from __future__ import annotations

import pytest
from joserfc.jwk import ECKey

from idp.schemas.clients import (
    TOKEN_EXCHANGE_GRANT_TYPE,
    ClientMetadata,
    InvalidClientMetadata,
    Rules,
    field_names,
    from_form,
    openapi_components,
    stored_fields,
    validate_client,
)

WEB = {"client_name": "Wiki", "redirect_uris": ["https://wiki.example.org/cb"]}


def refuse_private_hosts(url: str, field: str) -> None:
    if "169.254." in url or "//10." in url:
        raise InvalidClientMetadata(f"{field} is not a URL idp may fetch", field)


RULES = Rules(check_fetchable=refuse_private_hosts, signing_algorithms=["RS256"])


def valid(**fields) -> ClientMetadata:
    return validate_client({**WEB, **fields}, RULES)


def refusal(**fields) -> InvalidClientMetadata:
    with pytest.raises(InvalidClientMetadata) as caught:
        validate_client({**WEB, **fields}, RULES)
    return caught.value


def test_defaults_make_a_confidential_code_flow_client():
    metadata = valid().to_metadata()
    assert metadata == {
        "client_name": "Wiki",
        "redirect_uris": ["https://wiki.example.org/cb"],
        "post_logout_redirect_uris": [],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid profile email",
        "token_endpoint_auth_method": "client_secret_basic",
    }
    assert valid().has_secret and not valid().is_public


def test_values_are_normalised():
    metadata = valid(
        client_name="  Wiki  ",
        scope="openid  email openid",
        grant_types=["authorization_code", "authorization_code"],
    )
    assert metadata.client_name == "Wiki"
    assert metadata.scope == "openid email"
    assert metadata.grant_types == ["authorization_code"]
    assert len(valid(client_name="x" * 500).client_name) == 200


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"client_name": " "}, "client_name", "name is required"),
        ({"client_name": None}, "client_name", "must be a string"),
        ({"redirect_uris": "https://wiki.example.org/cb"}, "redirect_uris", "must be a list"),
        ({"redirect_uris": ["https://wiki.example.org/cb#top"]}, "redirect_uris", "fragment"),
        ({"redirect_uris": ["http://wiki.example.org/cb"]}, "redirect_uris", "loopback"),
        ({"redirect_uris": ["javascript:alert(1)"]}, "redirect_uris", "forbidden scheme"),
        ({"redirect_uris": ["myapp:/cb"]}, "redirect_uris", "reverse domain"),
        ({"post_logout_redirect_uris": ["https://x.example/#a"]}, "post_logout_redirect_uris", ""),
        ({"grant_types": ["password"]}, "grant_types", "unsupported grant type 'password'"),
        ({"token_endpoint_auth_method": "magic"}, "token_endpoint_auth_method", "one of"),
        ({"refresh_retry_window": 61}, "refresh_retry_window", "0 to 60"),
        ({"refresh_retry_window": True}, "refresh_retry_window", "must be an integer"),
        ({"refresh_retry_window": "10"}, "refresh_retry_window", "must be an integer"),
        ({"require_mfa": "yes"}, "require_mfa", "must be a boolean"),
        ({"id_token_signed_response_alg": "HS256"}, "id_token_signed_response_alg", "one of"),
        ({"nickname": "wiki"}, "nickname", "Unknown field 'nickname'"),
        ({"token_exchange": {"audience": ["x"]}}, "token_exchange", "Unknown field"),
    ],
)
def test_a_bad_field_is_refused_and_named(fields, field, words):
    refused = refusal(**fields)
    assert refused.field == field
    assert words in str(refused)


def test_wrong_json_types_are_malformed_requests_other_refusals_bad_metadata():
    assert refusal(require_mfa="yes").error == "invalid_request"
    assert refusal(grant_types=["password"]).error == "invalid_client_metadata"
    assert refusal(nickname="x").error == "invalid_client_metadata"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"redirect_uris": []}, "at least one redirect URI"),
        (
            {"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]},
            "public clients cannot use the client_credentials grant",
        ),
        (
            {"token_endpoint_auth_method": "none", "grant_types": [TOKEN_EXCHANGE_GRANT_TYPE]},
            "token-exchange grant",
        ),
        ({"jwks_uri": "https://wiki.example.org/jwks"}, "only for private_key_jwt"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "exactly one of jwks or jwks_uri"),
        (
            {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "ftp://x.example/k"},
            "https URL",
        ),
        (
            {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "?"}]}},
            "not a valid JSON Web Key Set",
        ),
        ({"backchannel_logout_uri": "https://10.0.0.7/logout"}, "may fetch"),
        ({"backchannel_logout_uri": "com.example.app:/logout"}, "http(s) URL"),
        ({"id_token_signed_response_alg": "ES256"}, "idp keys generate --alg ES256"),
        ({"token_exchange": {"audiences": ["api"]}}, "need the token-exchange grant type"),
    ],
)
def test_rules_between_fields(fields, words):
    refused = refusal(**fields)
    assert words in str(refused)


def test_private_keys_are_refused_and_public_ones_kept_public():
    key = ECKey.generate_key("P-256")
    private = {"keys": [key.as_dict(private=True)]}
    public = {"keys": [key.as_dict(private=False)]}
    assert "public keys only" in str(
        refusal(token_endpoint_auth_method="private_key_jwt", jwks=private)
    )
    stored = valid(token_endpoint_auth_method="private_key_jwt", jwks=public).to_metadata()
    assert stored["jwks"]["keys"][0]["kty"] == "EC" and "d" not in stored["jwks"]["keys"][0]


def test_token_exchange_defaults_to_the_clients_scope_and_stays_within_it():
    grant = {"grant_types": [TOKEN_EXCHANGE_GRANT_TYPE], "redirect_uris": [], "scope": "api"}
    stored = validate_client({"client_name": "Backend", **grant}, RULES).to_metadata()
    assert stored["token_exchange"] == {"audiences": [], "scopes": ["api"]}
    with pytest.raises(InvalidClientMetadata, match="not in the client's scope"):
        validate_client(
            {"client_name": "Backend", **grant, "token_exchange": {"scopes": ["admin"]}}, RULES
        )
    with pytest.raises(InvalidClientMetadata, match="non-empty word"):
        validate_client(
            {"client_name": "Backend", **grant, "token_exchange": {"audiences": ["a b"]}}, RULES
        )


def test_stored_metadata_reads_back_as_the_same_registration():
    metadata = valid(
        post_logout_redirect_uris=["https://wiki.example.org/bye"],
        require_mfa=True,
        refresh_retry_window=0,
        backchannel_logout_uri="https://wiki.example.org/logout",
        first_party=True,
    )
    stored = metadata.to_metadata()
    assert stored["refresh_retry_window"] == 0 and stored["require_mfa"] is True
    assert stored["backchannel_logout_session_required"] is False
    assert "first_party" not in stored
    again = validate_client(stored_fields(stored, first_party=True), RULES)
    assert again.to_metadata() == stored and again.first_party is True


def test_only_registrable_fields_are_open_to_dynamic_registration():
    registrable = set(field_names(registrable_only=True))
    assert {"client_name", "redirect_uris", "scope", "jwks_uri"} <= registrable
    assert not {"first_party", "require_mfa", "refresh_retry_window", "token_exchange"} & (
        registrable
    )


def test_a_console_form_fills_the_model_by_field_type():
    from werkzeug.datastructures import MultiDict

    form = MultiDict(
        [
            ("name", "Wiki"),
            ("redirect_uris", "https://a.example/cb\r\nhttps://b.example/cb"),
            ("grant_types", "authorization_code"),
            ("grant_types", "refresh_token"),
            ("first_party", "on"),
            ("refresh_retry_window", "5"),
            ("scope", ""),
        ]
    )
    fields = ["client_name", "redirect_uris", "grant_types", "first_party", "require_mfa"]
    data = from_form(form, {"client_name": "name"}, [*fields, "refresh_retry_window", "scope"])
    assert data == {
        "client_name": "Wiki",
        "redirect_uris": ["https://a.example/cb", "https://b.example/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "first_party": True,
        "require_mfa": False,
        "refresh_retry_window": 5,
    }
    with pytest.raises(InvalidClientMetadata):
        from_form(MultiDict([("refresh_retry_window", "soon")]), {}, ["refresh_retry_window"])


def test_the_openapi_schemas_come_from_the_model():
    components = openapi_components()
    new, update = components["ClientMetadata"], components["ClientMetadataUpdate"]
    assert set(new["properties"]) == set(ClientMetadata.model_fields)
    assert new["required"] == ["client_name"] and "required" not in update
    assert new["additionalProperties"] is False
    assert new["properties"]["refresh_retry_window"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 60,
        "description": new["properties"]["refresh_retry_window"]["description"],
    }
    assert new["properties"]["token_exchange"]["$ref"] == "#/components/schemas/TokenExchange"
    assert set(components["Client"]["properties"]) >= {"client_id", "client_secret", "scope"}
