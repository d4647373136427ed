"""Property-based tests of every API operation against its own OpenAPI schema (schemathesis).

Bounded examples per operation, as a supervisor of one insurer (so scoping and state checks run),
on SQLite and PostgreSQL: no 500s, every response conforms to the schema (status code documented
or a problem+json error, body shape, content type), and no 12-digit run in any body.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.api.conftest import assert_no_full_number


@pytest.fixture
def api_schema(client, world):
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    # uploads start real scans in the background; their route is covered by test_server.py
    return schema.exclude(path="/api/v1/scans", method="POST")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_api_conforms_to_its_schema(case, world):
    response = case.call(headers=world.headers("supervisor_a"))
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:500]}"
    case.validate_response(response, excluded_checks=[schemathesis.checks.ignored_auth,
                                                      schemathesis.checks.positive_data_acceptance,
                                                      schemathesis.checks.unsupported_method])
    assert_no_full_number(response.text)
