"""The JSON API and its OpenAPI document agree (issue 18, item 5): what the document refuses
the API refuses, the rules it states are the API's, a wrong method is answered 405 with the
methods allowed, and no token can be given a scope that no endpoint checks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.runtime import Runtime
from gateway.services import accounts
from gateway.services.accounts import AccountError
from routing.models import utcnow
from tests.integration.api_helpers import Api

CALL = {"caller": "07700 900123", "called": "01632 960100", "started_at": "2026-03-30T13:00:00Z"}


@pytest.fixture
def calls_token(make_token: Callable[..., str]) -> str:
    return make_token("calls", name="telephony")


def test_a_null_direction_is_refused_as_the_document_says(api: Api, calls_token: str) -> None:
    document = api.get("/api/v1/openapi.json").body
    assert "null" not in str(
        document["components"]["schemas"]["CallEvent"]["properties"]["direction"]
    )
    reply = api.post_json("/api/v1/calls", calls_token, {**CALL, "direction": None})
    assert reply.status == 400
    assert "direction" in reply.body["message"]


def test_an_empty_direction_is_refused_not_taken_as_inbound(api: Api, calls_token: str) -> None:
    reply = api.post_json("/api/v1/calls", calls_token, {**CALL, "direction": ""})
    assert reply.status == 400
    assert "direction" in reply.body["message"]


def test_a_call_without_a_direction_is_inbound(api: Api, calls_token: str) -> None:
    assert api.post_json("/api/v1/calls", calls_token, CALL).status == 201


def test_an_empty_file_part_is_refused_as_the_document_says(api: Api, calls_token: str) -> None:
    document = api.get("/api/v1/openapi.json").body
    body = document["paths"]["/api/v1/call-logs"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["properties"]["file"]["minLength"] == 1
    assert body["text/csv"]["schema"]["minLength"] == 1
    form = (
        b"--b\r\nContent-Disposition: form-data; name=file; filename=calls.csv\r\n"
        b"Content-Type: text/csv\r\n\r\n\r\n--b--\r\n"
    )
    reply = api.post(
        "/api/v1/call-logs", calls_token, form, content_type="multipart/form-data; boundary=b"
    )
    assert reply.status == 400
    assert "empty" in reply.body["message"]


def test_the_document_states_the_lookups_exactly_one_rule_and_the_api_keeps_it(
    api: Api, make_token: Callable[..., str]
) -> None:
    lookup = api.get("/api/v1/openapi.json").body["paths"]["/api/v1/lookup"]["get"]
    assert lookup["x-exactly-one-of"] == ["phone", "email"]
    assert all("never both" in p["description"] for p in lookup["parameters"])
    token = make_token("lookup")
    assert api.lookup(token, phone="01632 960001", email="jo@example.org").status == 400
    assert api.get("/api/v1/lookup", token).status == 400


def test_a_wrong_method_gets_405_naming_the_methods_allowed(api: Api, calls_token: str) -> None:
    reply = api.call("DELETE", "/api/v1/calls", calls_token)
    assert reply.status == 405
    assert "POST" in reply.headers["Allow"]
    assert reply.body["error"] == "method_not_allowed"


@pytest.mark.parametrize("scope", ["register:read", "register:write", "alerts"])
def test_a_scope_no_endpoint_checks_cannot_be_granted(api_rt: Runtime, scope: str) -> None:
    with pytest.raises(AccountError, match="unknown scope"), api_rt.uow() as session:
        accounts.add_token(session, name="unused", scopes=[scope], actor="test", now=utcnow())


def test_every_scope_a_token_can_carry_is_checked_by_an_endpoint(api: Api) -> None:
    document = api.get("/api/v1/openapi.json").body
    used = {
        operation["x-required-scope"]
        for path in document["paths"].values()
        for operation in path.values()
        if "x-required-scope" in operation
    }
    assert used == accounts.TOKEN_SCOPES


def test_a_whole_number_written_with_a_decimal_point_is_an_integer(
    api: Api, calls_token: str
) -> None:
    """JSON Schema (and so the document) takes 834.0 as the integer 834."""
    reply = api.post_json("/api/v1/calls", calls_token, {**CALL, "duration_seconds": 834.0})
    assert reply.status == 201
    assert (
        api.post_json("/api/v1/calls", calls_token, {**CALL, "duration_seconds": 1e20}).status
        == 400
    )
    assert (
        api.post_json("/api/v1/calls", calls_token, {**CALL, "duration_seconds": 8.5}).status == 400
    )


def test_an_import_id_beyond_any_stored_one_is_not_found(api: Api, calls_token: str) -> None:
    """Found by schemathesis: PostgreSQL refused the too-large id, and the API answered 503."""
    reply = api.get("/api/v1/call-logs/5225435560184072192", calls_token)
    assert reply.status == 404
