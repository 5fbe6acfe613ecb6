"""Discovery and JWKS, answered in front of Flask: the same contract as any response."""

from __future__ import annotations

import pytest

DOCUMENTS = (
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/jwks.json",
)


@pytest.mark.parametrize("path", DOCUMENTS)
def test_documents_are_public_cacheable_json_with_the_usual_headers(client, path):
    response = client.get(path, headers={"X-Request-ID": "trace-0123456789"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json()
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Request-ID"] == "trace-0123456789"
    assert int(response.headers["Content-Length"]) == len(response.data)


@pytest.mark.parametrize("path", DOCUMENTS)
def test_a_matching_etag_gets_304_without_a_body(client, path):
    etag = client.get(path).headers["ETag"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    other = client.get(path, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_head_answers_the_headers_of_get_without_the_body(client):
    get = client.get("/jwks.json")
    head = client.head("/jwks.json")
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert head.headers["ETag"] == get.headers["ETag"]


@pytest.mark.parametrize("path", DOCUMENTS)
def test_other_methods_are_405(client, path):
    assert client.post(path).status_code == 405
    assert client.delete(path).status_code == 405


def test_a_request_id_that_is_not_safe_to_log_is_replaced(client):
    response = client.get("/jwks.json", headers={"X-Request-ID": "bad id <script>"})
    assert response.headers["X-Request-ID"] != "bad id <script>"
    assert len(response.headers["X-Request-ID"]) == 16


def test_document_requests_are_counted_in_metrics(client):
    client.get("/jwks.json")
    client.get("/.well-known/openid-configuration")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'idp_http_requests_total{method="GET",route="/jwks.json",status="200"}' in body
    assert (
        'idp_http_requests_total{method="GET",route="/.well-known/openid-configuration",'
        'status="200"}' in body
    )
