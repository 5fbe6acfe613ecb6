"""idp's own errors (idp.errors) are answered in one place per interface: RFC 6749-style
JSON at the APIs, a plain page in the browser, one line and an exit status at the CLI."""

from __future__ import annotations

import click
import pytest

from idp.cli import failure
from idp.errors import IdpError, MailError, StoreUnavailable, UpstreamError
from idp.services.clients import ClientError
from idp.services.users import AccountConflict, AccountError

CASES = [
    (AccountError("The password is too short."), 400, "invalid_request"),
    (AccountConflict("That email is taken."), 409, "conflict"),
    (ClientError("redirect_uris must be absolute"), 400, "invalid_client_metadata"),
    (IdpError("No such user.", status=404, error="not_found"), 404, "not_found"),
]


@pytest.fixture
def raising_app(make_app):
    app = make_app()
    raised = {}

    def boom():
        raise raised["error"]

    app.add_url_rule("/admin/api/boom", "api_boom", boom)
    app.add_url_rule("/boom", "page_boom", boom)
    return app, raised


@pytest.mark.parametrize(("error", "status", "code"), CASES)
def test_an_api_answers_an_idp_error_as_json_with_its_status(raising_app, error, status, code):
    app, raised = raising_app
    raised["error"] = error
    response = app.test_client().get("/admin/api/boom")
    assert response.status_code == status
    assert response.get_json() == {"error": code, "error_description": str(error)}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("error", "status", "code"), CASES)
def test_the_browser_gets_a_page_saying_what_went_wrong(raising_app, error, status, code):
    app, raised = raising_app
    raised["error"] = error
    response = app.test_client().get("/boom")
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert str(error) in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "error", [MailError("smtp said no to secret@example.com"), UpstreamError("token: abc")]
)
def test_server_side_failures_are_a_generic_500_that_shows_no_detail(raising_app, error):
    app, raised = raising_app
    raised["error"] = error
    api = app.test_client().get("/admin/api/boom")
    page = app.test_client().get("/boom")
    assert api.status_code == page.status_code == 500
    assert api.get_json()["error"] == "server_error"
    for response in (api, page):
        assert str(error) not in response.get_data(as_text=True)


def test_an_unavailable_store_is_a_503_to_retry(raising_app):
    app, raised = raising_app
    raised["error"] = StoreUnavailable("redis: ConnectionError")
    response = app.test_client().get("/admin/api/boom")
    assert response.status_code == 503
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert response.headers["Retry-After"]


def test_the_cli_prints_the_message_and_exits_with_the_errors_status():
    @click.command()
    def command():
        raise failure(AccountError("The password is too short."))

    from click.testing import CliRunner

    result = CliRunner().invoke(command)
    assert result.exit_code == 1
    assert "Error: The password is too short." in result.output
