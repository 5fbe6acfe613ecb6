"""GET /userinfo is answered ahead of Flask (idp/views/userinfo_edge.py) with the app's bytes,
headers and log line; every other case is the app's answer, unchanged."""

from __future__ import annotations

import logging

from werkzeug.test import Client

from idp import clock
from idp.extensions import db
from idp.models import User
from idp.views.userinfo_edge import UserinfoEdge

from .tokens import login_tokens, revoke

REQUEST_ID = "edge-test-0001"


def _without_edge(app) -> Client:
    """A client for the app behind the edge layer: what answered /userinfo before it."""
    layer = app.wsgi_app
    while not isinstance(layer, UserinfoEdge):
        layer = layer.wsgi_app
    return Client(layer.wsgi_app)


def _count_view_calls(app, monkeypatch) -> list:
    """Count the Flask view's calls for this test (the app is shared between tests)."""
    calls = []
    view = app.view_functions["oauth.userinfo"]

    def counted(*args, **kwargs):
        calls.append(1)
        return view(*args, **kwargs)

    monkeypatch.setitem(app.view_functions, "oauth.userinfo", counted)
    return calls


def _assert_same(edge, app_answer) -> None:
    assert edge.status_code == app_answer.status_code
    assert edge.get_data() == app_answer.get_data()
    assert list(edge.headers.items()) == list(app_answer.headers.items())


def test_a_good_token_is_answered_ahead_of_flask_with_the_apps_answer(
    app, browser, client, confidential_client, user, caplog, monkeypatch
):
    tokens = login_tokens(browser, client, confidential_client)
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "X-Request-ID": REQUEST_ID}
    calls = _count_view_calls(app, monkeypatch)

    with caplog.at_level(logging.INFO, logger="idp.access"):
        caplog.clear()  # the sign-in's lines
        edge = client.get("/userinfo", headers=headers)
    assert calls == []  # answered before Flask's view
    assert edge.status_code == 200
    assert edge.get_json()["sub"] == str(user.id)
    lines = [r for r in caplog.records if r.name == "idp.access"]
    assert [(r.request_id, r.method, r.route, r.status) for r in lines] == [
        (REQUEST_ID, "GET", "/userinfo", 200)
    ]

    app_answer = _without_edge(app).get("/userinfo", headers=headers)
    assert calls == [1]
    _assert_same(edge, app_answer)


def test_refusals_are_the_apps_answers(app, browser, client, confidential_client, user):
    tokens = login_tokens(browser, client, confidential_client)
    good = {"Authorization": f"Bearer {tokens['access_token']}", "X-Request-ID": REQUEST_ID}
    cases = {
        "no token": {"X-Request-ID": REQUEST_ID},
        "not a JWT": {"Authorization": "Bearer not.a.jwt", "X-Request-ID": REQUEST_ID},
        "basic": {"Authorization": "Basic Zm9vOmJhcg==", "X-Request-ID": REQUEST_ID},
        "control character": {"Authorization": "Bearer a\x01b", "X-Request-ID": REQUEST_ID},
    }
    for headers in cases.values():
        edge = client.get("/userinfo", headers=headers)
        _assert_same(edge, _without_edge(app).get("/userinfo", headers=headers))
    # With a query string or another method, the app answers (the edge takes plain GETs).
    _assert_same(
        client.get("/userinfo?x=1", headers=good),
        _without_edge(app).get("/userinfo?x=1", headers=good),
    )

    # A user disabled after the token was issued.
    with app.app_context():
        db.session.get(User, user.id).disabled = True
        db.session.commit()
    disabled = client.get("/userinfo", headers=good)
    assert disabled.status_code == 401
    _assert_same(disabled, _without_edge(app).get("/userinfo", headers=good))
    with app.app_context():
        db.session.get(User, user.id).disabled = False
        db.session.commit()

    # A revoked token.
    assert revoke(client, confidential_client, tokens["access_token"]).status_code == 200
    revoked = client.get("/userinfo", headers=good)
    assert revoked.status_code == 401
    _assert_same(revoked, _without_edge(app).get("/userinfo", headers=good))


def test_an_expired_token_is_the_apps_answer(app, browser, client, confidential_client, user):
    tokens = login_tokens(browser, client, confidential_client)
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "X-Request-ID": REQUEST_ID}
    clock.advance(app.config["IDP"].access_token_ttl + 60)
    try:
        expired = client.get("/userinfo", headers=headers)
        assert expired.status_code == 401
        _assert_same(expired, _without_edge(app).get("/userinfo", headers=headers))
    finally:
        clock.reset()


def test_a_token_without_a_user_is_the_apps_answer(app, client, confidential_client):
    token = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(confidential_client.client_id, confidential_client.plain_secret),
    )
    headers = {"X-Request-ID": REQUEST_ID}
    if token.status_code == 200:
        headers["Authorization"] = f"Bearer {token.get_json()['access_token']}"
    answer = client.get("/userinfo", headers=headers)
    assert answer.status_code in (401, 403)
    _assert_same(answer, _without_edge(app).get("/userinfo", headers=headers))
