"""Schemathesis against /admin/api/openapi.json: the server and its schema agree.

Every operation gets generated requests, schema-valid and schema-violating, with an idp:admin
token. Checks: no 5xx, only documented statuses and content types, responses match their
schema, and schema-violating requests are refused. Bounded: MAX_EXAMPLES per operation.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

from ..conftest import make_client

MAX_EXAMPLES = 20
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]


@pytest.fixture
def admin_headers(app):
    ops = make_client(app, "Ops", [], grant_types=["client_credentials"], scope="idp:admin")
    response = app.test_client().post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "idp:admin"},
        auth=(ops.client_id, ops.plain_secret),
    )
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def test_the_admin_api_answers_as_its_openapi_document_says(app, admin_headers):
    schema = schemathesis.openapi.from_wsgi("/admin/api/openapi.json", app)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in GenerationMode:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def run(case):
                case.call_and_validate(headers=admin_headers, checks=CHECKS)

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect them all
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
