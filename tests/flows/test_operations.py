"""Operations: health, readiness, metrics, request ids, and two instances behind one load
balancer sharing Postgres and Redis."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from ..conftest import REDIRECT_URI, USER_EMAIL, USER_PASSWORD, make_client
from ..helpers import AuthorizationRequest


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "store": "ok", "signing_key": "ok"}


def test_readyz_is_503_when_redis_is_unreachable(make_app):
    app = make_app(redis_url="redis://127.0.0.1:1/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["store"] != "ok"


def test_readyz_is_503_without_a_signing_key(make_app, tmp_path):
    response = make_app(keys_dir=str(tmp_path)).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["signing_key"] == "missing"


def test_metrics_count_requests_tokens_and_logins(app, client, browser, user):
    service = make_client(app, "svc", [], grant_types=["client_credentials"], scope="reports")
    client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(service.client_id, service.plain_secret),
    )
    browser.sign_in(USER_EMAIL, "wrong password")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'idp_tokens_issued_total{grant_type="client_credentials"}' in body
    assert 'idp_logins_total{result="failure"}' in body
    assert 'idp_http_requests_total{method="POST",route="/token",status="200"}' in body
    assert "idp_http_request_duration_seconds_bucket" in body


def test_metrics_can_be_protected_by_token_and_address(make_app):
    app = make_app(metrics_token="s3cret-metrics-token", metrics_allow="10.0.0.0/8,127.0.0.0/8")
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
    assert ok.status_code == 200
    outside = client.get(
        "/metrics",
        headers={"Authorization": "Bearer s3cret-metrics-token"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert outside.status_code == 403


def test_every_response_carries_a_request_id(client):
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{16}", generated)
    echoed = client.get("/healthz", headers={"X-Request-ID": "req-abc-12345"})
    assert echoed.headers["X-Request-ID"] == "req-abc-12345"
    garbage = client.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert garbage.headers["X-Request-ID"] != "<script>"


def test_request_log_lines_are_json_and_never_hold_codes(make_app, user, caplog):
    import logging

    app = make_app()
    caplog.set_level(logging.INFO, logger="idp.access")
    rp = make_client(app, "Notes", [REDIRECT_URI], first_party=True)
    from ..helpers import Browser, query

    browser = Browser(app.test_client())
    request = AuthorizationRequest(rp.client_id, REDIRECT_URI)
    code = query(browser.authorize(request, USER_EMAIL, USER_PASSWORD).headers["Location"])["code"]
    records = [r for r in caplog.records if r.name == "idp.access"]
    assert records and all(hasattr(r, "request_id") and hasattr(r, "route") for r in records)
    assert any(r.route == "/authorize" and r.client_id == rp.client_id for r in records)
    text = " ".join(str(r.__dict__) for r in records)
    assert code not in text and request.state not in text and USER_PASSWORD not in text


def test_request_log_lines_name_the_client_that_authenticated(app, client, caplog):
    """Basic and private_key_jwt requests carry no client_id field; the log still says who."""
    import logging

    caplog.set_level(logging.INFO, logger="idp.access")
    service = make_client(app, "svc", [], grant_types=["client_credentials"], scope="reports")
    client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(service.client_id, service.plain_secret),
    )
    [line] = [r for r in caplog.records if r.name == "idp.access" and r.route == "/token"]
    assert line.client_id == service.client_id
    assert service.plain_secret not in str(line.__dict__)


@pytest.fixture
def two_instances(serve, make_app, settings):
    """Two idp servers on different ports, one database, one Redis, one public issuer."""
    if not settings["redis_url"]:
        pytest.skip("several instances share state through Redis; CI runs this on Redis")
    first_app, issuer = serve(lambda issuer: make_app(issuer=issuer))
    second_app, second_url = serve(lambda _: make_app(issuer=issuer))
    return first_app, issuer, second_url


def _login(session, start_url, finish_base):
    """Start on one instance; after the first redirect, continue on the other."""
    response = session.get(start_url, allow_redirects=False, timeout=20)
    url = urljoin(
        finish_base,
        urlsplit(response.headers["Location"]).path
        + "?"
        + urlsplit(response.headers["Location"]).query,
    )
    for _ in range(10):
        response = session.get(url, allow_redirects=False, timeout=20)
        if response.status_code == 200:
            fields = dict(
                re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', response.text)
            )
            response = session.post(
                urljoin(url, "/login"),
                data={**fields, "email": USER_EMAIL, "password": USER_PASSWORD},
                allow_redirects=False,
                timeout=20,
            )
        location = response.headers["Location"]
        if location.startswith(REDIRECT_URI):
            return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        url = urljoin(finish_base, location)
    raise AssertionError("login did not finish")


def test_login_started_on_one_instance_completes_on_the_other(two_instances, user):
    app, issuer, other = two_instances
    rp = make_client(app, "Notes", [REDIRECT_URI], first_party=True)
    request = AuthorizationRequest(rp.client_id, REDIRECT_URI)
    answer = _login(requests.Session(), f"{issuer}{request.url()}", other)
    assert answer["state"] == request.state and answer["iss"] == issuer
    tokens = requests.post(
        f"{other}/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": request.verifier,
        },
        auth=(rp.client_id, rp.plain_secret),
        timeout=20,
    )
    assert tokens.status_code == 200, tokens.text
    refresh_token = tokens.json()["refresh_token"]
    access_token = tokens.json()["access_token"]

    rotated = requests.post(
        f"{issuer}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(rp.client_id, rp.plain_secret),
        timeout=20,
    )
    assert rotated.status_code == 200
    reused = requests.post(
        f"{other}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(rp.client_id, rp.plain_secret),
        timeout=20,
    )
    assert reused.json()["error"] == "invalid_grant"

    # The reuse revoked that family; a new login gives tokens to revoke on one instance.
    second = AuthorizationRequest(rp.client_id, REDIRECT_URI)
    fresh = _login(requests.Session(), f"{issuer}{second.url()}", issuer)
    access_token = requests.post(
        f"{issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": fresh["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": second.verifier,
        },
        auth=(rp.client_id, rp.plain_secret),
        timeout=20,
    ).json()["access_token"]
    auth = (rp.client_id, rp.plain_secret)
    assert requests.post(
        f"{other}/introspect", data={"token": access_token}, auth=auth, timeout=20
    ).json()["active"]
    requests.post(f"{issuer}/revoke", data={"token": access_token}, auth=auth, timeout=20)
    assert requests.post(
        f"{other}/introspect", data={"token": access_token}, auth=auth, timeout=20
    ).json() == {"active": False}


def test_metrics_in_production_answer_only_loopback_unless_configured(make_app, settings):
    production = {
        "env": "production",
        "issuer": "https://id.example.org",
        "smtp_url": "smtp://127.0.0.1:2525",
        "redis_url": settings["redis_url"] or "redis://127.0.0.1:6379/0",  # not contacted
    }
    client = make_app(**production).test_client()
    remote = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert remote.status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    allowed = make_app(**production, metrics_allow="203.0.113.0/24").test_client()
    assert allowed.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 200
    tokened = make_app(**production, metrics_token="s3cret-metrics-token").test_client()
    assert tokened.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 401
