"""Client rows are cached per process for IDP_CLIENT_CACHE_SECONDS: changes made through idp
apply at once; changes made elsewhere (another worker, a database edit) within the TTL."""

from __future__ import annotations

from sqlalchemy import text

from idp import clock
from idp.extensions import db

from ..conftest import make_client


def _service(app):
    return make_client(app, "Billing", [], grant_types=["client_credentials"], scope="orders")


def _token(client, client_id, secret):
    return client.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )


def _admin(app, client):
    ops = make_client(app, "Ops", [], grant_types=["client_credentials"], scope="idp:admin")
    token = _token(client, ops.client_id, ops.plain_secret).get_json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _change_secret_behind_idps_back(app, client_id: str) -> None:
    """What another worker process's change looks like to this one."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            text("UPDATE clients SET client_secret = :hashed WHERE client_id = :client_id"),
            {"hashed": "0" * 64, "client_id": client_id},
        )


def test_a_rotated_secret_works_at_once_and_the_old_one_stops(app, client):
    service = _service(app)
    admin = _admin(app, client)
    assert _token(client, service.client_id, service.plain_secret).status_code == 200
    rotated = client.post(f"/admin/api/clients/{service.client_id}/secret", headers=admin)
    new_secret = rotated.get_json()["client_secret"]
    assert _token(client, service.client_id, service.plain_secret).status_code == 401
    assert _token(client, service.client_id, new_secret).status_code == 200


def test_a_deleted_client_is_refused_at_once(app, client):
    service = _service(app)
    admin = _admin(app, client)
    assert _token(client, service.client_id, service.plain_secret).status_code == 200
    assert client.delete(f"/admin/api/clients/{service.client_id}", headers=admin).status_code
    refused = _token(client, service.client_id, service.plain_secret)
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "invalid_client"


def _used_then_changed_elsewhere(make_app, cache_seconds: int):
    """A service that got a token (so its row is cached), then had its secret changed by
    another process; returns a function that asks for a token again."""
    app = make_app(client_cache_seconds=cache_seconds)
    client = app.test_client()
    service = _service(app)
    assert _token(client, service.client_id, service.plain_secret).status_code == 200
    _change_secret_behind_idps_back(app, service.client_id)
    return lambda: _token(client, service.client_id, service.plain_secret).status_code


def test_a_change_made_elsewhere_applies_once_the_ttl_is_over(make_app):
    ask_again = _used_then_changed_elsewhere(make_app, cache_seconds=5)
    clock.advance(4)
    assert ask_again() == 200
    clock.advance(2)
    assert ask_again() == 401


def test_with_the_cache_off_every_request_reads_the_row(make_app):
    ask_again = _used_then_changed_elsewhere(make_app, cache_seconds=0)
    assert ask_again() == 401
