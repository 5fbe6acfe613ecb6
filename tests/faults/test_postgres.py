"""A stopped or restarted PostgreSQL: 503 with Retry-After, nothing fails once it is back,
and nothing is recorded that was not committed."""

from __future__ import annotations

from sqlalchemy import text

from idp.services import audit

from .conftest import post, register, sign_in_tokens


def test_a_stopped_database_answers_503_with_retry_after(make_fault_app, postgres_server):
    from ..conftest import REDIRECT_URI
    from ..helpers import AuthorizationRequest

    app = make_fault_app(client_cache_seconds=0)
    machine = register(app, grant_types=["client_credentials"])
    browser_client = register(app)
    postgres_server.stop()

    response = post(app, "/token", machine, grant_type="client_credentials")
    assert response.status_code == 503
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Cache-Control"] == "no-store"

    page = app.test_client().get(AuthorizationRequest(browser_client[0], REDIRECT_URI).url())
    assert page.status_code == 503
    assert int(page.headers["Retry-After"]) > 0
    assert "try again" in page.get_data(as_text=True).lower()

    postgres_server.start()
    response = post(app, "/token", machine, grant_type="client_credentials")
    assert response.status_code == 200


def test_no_request_fails_after_the_database_restarts(make_fault_app, postgres_server):
    app = make_fault_app(client_cache_seconds=0)
    machine = register(app, grant_types=["client_credentials"])
    for _ in range(5):  # the pool holds connections used moments ago
        assert post(app, "/token", machine, grant_type="client_credentials").status_code == 200
    postgres_server.restart()
    statuses = [
        post(app, "/token", machine, grant_type="client_credentials").status_code for _ in range(10)
    ]
    assert statuses == [200] * 10


FAIL_COMMITS = """
CREATE TABLE IF NOT EXISTS fault_fail_commit (client_id text PRIMARY KEY);
CREATE OR REPLACE FUNCTION fault_fail_commit() RETURNS trigger AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM fault_fail_commit WHERE client_id = NEW.client_id) THEN
    RAISE EXCEPTION 'injected commit failure';
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS fault_fail_commit ON refresh_tokens;
CREATE CONSTRAINT TRIGGER fault_fail_commit AFTER INSERT ON refresh_tokens
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fault_fail_commit();
"""


def test_a_rotation_whose_commit_fails_leaves_no_audit_row(fault_app, fault_user):
    from idp.extensions import db
    from idp.models import AuditEvent

    registered = register(fault_app)
    tokens = sign_in_tokens(fault_app, registered, fault_user[1])
    with fault_app.app_context():
        db.session.execute(text(FAIL_COMMITS))
        db.session.execute(text("INSERT INTO fault_fail_commit VALUES (:c)"), {"c": registered[0]})
        db.session.commit()
    response = post(
        fault_app, "/token", registered, grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
    )  # fmt: skip
    assert response.status_code >= 500  # the commit failed: nothing was issued
    with fault_app.app_context():
        audit.flush_queued()
        rotated = db.session.scalars(
            db.select(AuditEvent).filter_by(event_type="refresh_rotated", client_id=registered[0])
        ).all()
        db.session.execute(text("DELETE FROM fault_fail_commit"))
        db.session.commit()
    assert rotated == []
