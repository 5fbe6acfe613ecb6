"""Discovery and JWKS: complete, truthful, cacheable."""

from __future__ import annotations

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oauth2.rfc9207 import AuthorizationServerMetadata as IssMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata

from ..conftest import TEST_ISSUER

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}


def test_openid_configuration_is_valid_and_points_at_working_endpoints(client):
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    document = response.get_json()
    OpenIDProviderMetadata(document).validate(metadata_classes=[IssMetadata])
    assert document["issuer"] == TEST_ISSUER
    assert document["response_types_supported"] == ["code"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert document["request_parameter_supported"] is False
    assert document["request_uri_parameter_supported"] is False
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        path = document[name].removeprefix(TEST_ISSUER)
        assert client.options(path).status_code == 200, name


def test_rfc8414_document_matches_discovery(client):
    oauth = client.get("/.well-known/oauth-authorization-server").get_json()
    AuthorizationServerMetadata(oauth).validate()
    assert oauth == client.get("/.well-known/openid-configuration").get_json()


def test_jwks_lists_public_keys_with_kid_use_alg_and_nothing_private(client):
    response = client.get("/jwks.json")
    keys = response.get_json()["keys"]
    assert keys
    for key in keys:
        assert key["kid"] and key["use"] == "sig" and key["alg"] == "RS256"
        assert not PRIVATE_MEMBERS & set(key)


def test_discovery_and_jwks_are_cacheable_and_answer_304_to_if_none_match(client):
    for path in ("/.well-known/openid-configuration", "/jwks.json"):
        first = client.get(path)
        assert first.headers["Cache-Control"].startswith("public, max-age=")
        etag = first.headers["ETag"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.headers["ETag"] == etag
        assert again.get_data() == b""
        changed = client.get(path, headers={"If-None-Match": '"something-else"'})
        assert changed.status_code == 200
