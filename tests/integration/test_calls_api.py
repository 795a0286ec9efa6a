"""The telephony API through the real HTTP server: live call events (POST /api/v1/calls) and
call-log uploads (POST /api/v1/call-logs, imported by a job, status readable), against the
real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import func, select

from gateway.runtime import Runtime
from gateway.services import accounts
from gateway.store.tables import CallImport
from routing.enums import IdentityKind, Mode, PhoneMeasure, Role
from routing.lifecycle import Actor
from routing.models import AuditEntry, ContactEvent, Flag, utcnow
from tests.integration.api_helpers import Api, Reply
from tests.integration.register_helpers import impose_restriction
from tests.polling import wait_until

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "calls"
BARRED = "07700 900202"
WINDOWED = "07700 900101"
SHADOWED = "07700 900303"
MAIN_LINE = "01632 960100"
# Monday 30 March 2026, 14:00 BST.
MONDAY_AFTERNOON = "2026-03-30T13:00:00Z"


@pytest.fixture
def references(api_rt: Runtime) -> dict[str, str]:
    """The three restricted callers of the call-log fixtures, by number -> reference."""
    staff = {}
    with api_rt.uow() as session:
        for email, role in (
            ("manager@council.example.org", Role.MANAGER),
            ("approver@council.example.org", Role.APPROVER),
        ):
            user = accounts.add_user(
                session, email=email, role=role, password="correct horse battery",
                actor="t", now=utcnow(),
            )  # fmt: skip
            staff[role] = Actor(user.email, role, user.id)

    def impose(number: str, **terms: object) -> str:
        return impose_restriction(
            api_rt, staff[Role.MANAGER], staff[Role.APPROVER], [(number, IdentityKind.PHONE)],
            **terms,
        )  # fmt: skip

    return {
        WINDOWED: impose(
            WINDOWED,
            phone_measure=PhoneMeasure.WINDOWS,
            phone_windows="Sun 10:00-12:00; Tue 10:00-12:00",
            max_calls_per_day=2,
            max_call_minutes=10,
        ),
        BARRED: impose(BARRED, phone_measure=PhoneMeasure.BARRED),
        SHADOWED: impose(SHADOWED, phone_measure=PhoneMeasure.BARRED, mode=Mode.SHADOW),
    }


@pytest.fixture
def token(make_token: Callable[..., str]) -> str:
    return make_token("calls", name="telephony")


def schema(api: Api, name: str) -> jsonschema.Draft202012Validator:
    """A validator for one of the OpenAPI document's schemas, resolving its references."""
    document = api.get("/api/v1/openapi.json").body
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": document["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def counts(rt: Runtime) -> tuple[int, int]:
    with rt.uow() as session:
        return (
            session.scalar(select(func.count()).select_from(ContactEvent)) or 0,
            session.scalar(select(func.count()).select_from(Flag)) or 0,
        )


def lookups_audited(rt: Runtime) -> list[AuditEntry]:
    """Audit entries for answers that showed someone is restricted, oldest first."""
    with rt.uow() as session:
        query = select(AuditEntry).where(AuditEntry.action == "register.lookup")
        return list(session.scalars(query.order_by(AuditEntry.id)))


def call(**fields: Any) -> dict[str, Any]:
    return {"caller": BARRED, "called": MAIN_LINE, "started_at": MONDAY_AFTERNOON, **fields}


# --- live call events ---------------------------------------------------------------------


def test_a_live_call_from_a_barred_caller_is_answered_with_its_flag(
    api: Api, api_rt: Runtime, token: str, references: dict[str, str]
) -> None:
    reply = api.post_json("/api/v1/calls", token, call(duration_seconds=95, external_id="c-1"))

    assert reply.status == 201, reply.body
    assert reply.headers["Cache-Control"] == "no-store"
    body = reply.body
    assert (body["caller"], body["outcome"], body["restriction"]) == (
        "+447700900202",
        "flag",
        references[BARRED],
    )
    assert [(f["kind"], f["restriction"], f["mode"]) for f in body["flags"]] == [
        ("phone_barred", references[BARRED], "enforce")
    ]
    schema(api, "CallResult").validate(body)
    assert counts(api_rt) == (1, 1)


def test_a_call_answered_with_a_restriction_is_audited_by_reference_as_the_platform(
    api: Api, api_rt: Runtime, token: str, references: dict[str, str]
) -> None:
    reply = api.post_json("/api/v1/calls", token, call(duration_seconds=95))

    assert reply.body["restriction"] == references[BARRED]
    [entry] = lookups_audited(api_rt)
    assert (entry.actor, entry.source) == ("token:telephony", "api")
    assert (entry.subject_type, entry.subject_ref) == ("restriction", references[BARRED])
    assert entry.detail == {"references": [references[BARRED]], "kind": "phone"}
    recorded = json.dumps([entry.actor, entry.subject_ref, entry.detail, entry.source])
    for number in ("7700", "900202", "1632", "960100"):  # neither the caller nor the line
        assert number not in recorded


def test_a_call_that_names_no_restriction_writes_no_audit_entry(
    api: Api, api_rt: Runtime, token: str, references: dict[str, str]
) -> None:
    stranger = api.post_json("/api/v1/calls", token, call(caller="01632 960555"))
    withheld = api.post_json("/api/v1/calls", token, call(caller="anonymous"))

    assert (stranger.status, withheld.status) == (201, 201)
    assert stranger.body["restriction"] is withheld.body["restriction"] is None
    assert lookups_audited(api_rt) == []


def test_a_retried_call_event_is_answered_as_before_and_recorded_once(
    api: Api, api_rt: Runtime, token: str, references: dict[str, str]
) -> None:
    first = api.post_json("/api/v1/calls", token, call(duration_seconds=95, external_id="c-1"))
    again = api.post_json("/api/v1/calls", token, call(duration_seconds=95, external_id="c-1"))

    assert (first.status, again.status) == (201, 200)
    assert again.body["duplicate"] is True
    assert again.body["event_id"] == first.body["event_id"]
    assert again.body["flags"] == first.body["flags"]
    assert counts(api_rt) == (1, 1)
    # The repeat shows the restriction again: that look is audited too.
    assert [e.subject_ref for e in lookups_audited(api_rt)] == [references[BARRED]] * 2


def test_an_external_id_reused_for_another_call_is_409_and_records_nothing(
    api: Api, api_rt: Runtime, token: str, references: dict[str, str]
) -> None:
    api.post_json("/api/v1/calls", token, call(external_id="c-1"))
    reused = api.post_json("/api/v1/calls", token, call(caller=WINDOWED, external_id="c-1"))

    assert (reused.status, reused.body["error"]) == (409, "conflict")
    assert counts(api_rt) == (1, 1)
    assert [e.subject_ref for e in lookups_audited(api_rt)] == [references[BARRED]]


def test_two_platforms_may_use_the_same_call_id(
    api: Api, api_rt: Runtime, make_token: Callable[..., str], references: dict[str, str]
) -> None:
    north = make_token("calls", name="north-pbx")
    south = make_token("calls", name="south-pbx")

    first = api.post_json("/api/v1/calls", north, call(external_id="1732443300.118"))
    second = api.post_json(
        "/api/v1/calls", south, call(caller="01632 960555", external_id="1732443300.118")
    )

    assert (first.status, second.status) == (201, 201)
    assert counts(api_rt)[0] == 2


def test_withheld_unrestricted_and_outbound_calls_are_recorded_without_flags(
    api: Api, api_rt: Runtime, token: str, references: dict[str, str]
) -> None:
    withheld = api.post_json("/api/v1/calls", token, call(caller=""))
    stranger = api.post_json("/api/v1/calls", token, call(caller="01632 960555"))
    outbound = api.post_json(
        "/api/v1/calls", token, call(caller=MAIN_LINE, called=BARRED, direction="outbound")
    )

    assert [r.status for r in (withheld, stranger, outbound)] == [201, 201, 201]
    assert (withheld.body["caller"], withheld.body["caller_state"]) == (None, "withheld")
    assert [r.body["outcome"] for r in (withheld, stranger, outbound)] == ["allow"] * 3
    assert all(r.body["flags"] == [] for r in (withheld, stranger, outbound))
    assert counts(api_rt) == (3, 0)


def test_a_call_on_a_restriction_on_trial_says_what_enforcing_would_do(
    api: Api, token: str, references: dict[str, str]
) -> None:
    reply = api.post_json("/api/v1/calls", token, call(caller=SHADOWED))

    assert (reply.body["outcome"], reply.body["would_outcome"]) == ("allow", "flag")
    assert [(f["kind"], f["mode"]) for f in reply.body["flags"]] == [("phone_barred", "shadow")]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not json", "send a JSON object"),
        ([call()], "send a JSON object"),
        ({"called": MAIN_LINE, "started_at": MONDAY_AFTERNOON}, "caller is required"),
        (call(started_at=None), "started_at is required"),
        (call(started_at="yesterday"), "started_at must be an ISO 8601 time with a zone"),
        (call(started_at="2026-03-30T13:00:00"), "started_at needs a time zone"),
        (call(started_at="2099-01-01T00:00:00Z"), "started_at is in the future"),
        (call(duration_seconds="95"), "duration_seconds must be an integer"),
        (call(duration_seconds=True), "duration_seconds must be an integer"),
        (call(duration_seconds=-1), "duration_seconds must be 0 to 86400"),
        (call(caller=447700900202), "caller must be a string"),
        (call(direction="sideways"), "direction must be 'inbound' or 'outbound'"),
        (call(callee=MAIN_LINE), "unknown field 'callee'"),
    ],
)
def test_a_bad_call_event_is_refused_with_a_reason_and_nothing_is_recorded(
    api: Api, api_rt: Runtime, token: str, payload: Any, message: str
) -> None:
    data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    reply = api.post("/api/v1/calls", token, data, content_type="application/json")

    assert reply.status == 400
    assert reply.body["error"] == "bad_request"
    assert message in reply.body["message"]
    assert counts(api_rt) == (0, 0)


# --- call-log uploads ---------------------------------------------------------------------


def finished(api: Api, token: str, reply: Reply, *, within: float = 60.0) -> dict[str, Any]:
    """Follow an upload's status URL until its import is done or failed."""
    last: dict[str, Any] = {}

    def ended() -> dict[str, Any] | None:
        status = api.get(reply.headers["Location"], token)
        assert status.status == 200, status.body
        last.update(status.body)
        return status.body if status.body["status"] in ("done", "failed") else None

    return wait_until(
        ended, within, "the import to end", detail=lambda: f"import still {last['status']}"
    )


def test_an_uploaded_call_log_is_imported_by_a_job_and_its_report_read_back(
    api: Api, api_rt: Runtime, token: str, references: dict[str, str]
) -> None:
    data = (FIXTURES / "asterisk_master.csv").read_bytes()

    reply = api.post("/api/v1/call-logs?name=Master.csv", token, data)

    assert reply.status == 202, reply.body
    assert reply.body["status"] == "queued"
    assert reply.headers["Location"] == reply.body["status_url"]
    schema(api, "CallLogQueued").validate(reply.body)
    report = finished(api, token, reply)
    schema(api, "CallLogImport").validate(report)
    assert (report["status"], report["file_name"], report["format"], report["source"]) == (
        "done",
        "Master.csv",
        "asterisk",
        "api",
    )
    assert (report["rows_imported"], sum(report["flags"].values())) == (11, 8)
    assert report["flags"]["phone_barred"] == 3
    assert counts(api_rt) == (11, 8)


def test_a_file_posted_with_curls_default_form_type_is_still_the_file(
    api: Api, api_rt: Runtime, token: str, references: dict[str, str]
) -> None:
    # `curl --data-binary @Master.csv URL` labels the body application/x-www-form-urlencoded.
    data = (FIXTURES / "asterisk_master.csv").read_bytes()
    reply = api.post(
        "/api/v1/call-logs?format=asterisk",
        token,
        data,
        content_type="application/x-www-form-urlencoded",
    )

    report = finished(api, token, reply)
    assert (report["status"], report["rows_imported"]) == ("done", 11)


def test_an_uploaded_log_with_a_20_digit_duration_keeps_its_good_rows(
    api: Api, api_rt: Runtime, token: str
) -> None:
    data = (
        b"started_at,caller,called,duration,direction\n"
        b"2026-03-30 09:00:00,01632 960555,01632 960100,60,inbound\n"
        b"2026-03-30 09:05:00,01632 960555,01632 960100,99999999999999999999,inbound\n"
        b"2026-03-30 09:15:00,01632 960555,01632 960100,60,inbound\n"
    )
    report = finished(api, token, api.post("/api/v1/call-logs?format=generic", token, data))

    assert (report["status"], report["rows_imported"], report["rows_bad"]) == ("done", 2, 1)
    assert [p["line"] for p in report["problems"]] == [3]
    assert counts(api_rt) == (2, 0)


def test_the_same_call_log_uploaded_twice_adds_nothing_the_second_time(
    api: Api, api_rt: Runtime, token: str, references: dict[str, str]
) -> None:
    data = (FIXTURES / "asterisk_master.csv").read_bytes()
    first = finished(api, token, api.post("/api/v1/call-logs", token, data))
    second = finished(api, token, api.post("/api/v1/call-logs", token, data))

    assert (first["rows_imported"], second["rows_imported"]) == (11, 0)
    assert second["status"] == "done"
    assert counts(api_rt) == (11, 8)


def test_a_multipart_upload_with_broken_rows_keeps_the_good_ones_and_lists_the_bad(
    api: Api, api_rt: Runtime, token: str, references: dict[str, str]
) -> None:
    body, content_type = multipart(
        {"format": "asterisk"}, "asterisk_broken.csv", (FIXTURES / "asterisk_broken.csv")
    )

    report = finished(
        api, token, api.post("/api/v1/call-logs", token, body, content_type=content_type)
    )

    assert (report["status"], report["file_name"], report["format"]) == (
        "done",
        "asterisk_broken.csv",
        "asterisk",
    )
    assert report["rows_bad"] > 0
    assert report["rows_imported"] > 0
    assert all(isinstance(p["line"], int) and p["reason"] for p in report["problems"])
    assert counts(api_rt)[0] == report["rows_imported"]


def test_a_file_that_is_not_a_call_log_fails_with_a_reason(
    api: Api, api_rt: Runtime, token: str
) -> None:
    report = finished(
        api, token, api.post("/api/v1/call-logs?name=notes.txt", token, b"dear council,\n")
    )

    assert report["status"] == "failed"
    assert "fits none of the call-log formats" in report["error"]
    assert counts(api_rt) == (0, 0)


@pytest.mark.parametrize(
    ("path", "data", "content_type", "status", "message"),
    [
        ("/api/v1/call-logs", b"", "text/csv", 400, "the body is empty"),
        ("/api/v1/call-logs?format=avaya", b"x", "text/csv", 400, "unknown call-log format"),
        (
            "/api/v1/call-logs",
            b"--b\r\nContent-Disposition: form-data; name=format\r\n\r\nasterisk\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
            400,
            "no 'file' part",
        ),
    ],
)
def test_a_bad_upload_is_refused_at_once_and_nothing_is_queued(
    api: Api,
    api_rt: Runtime,
    token: str,
    path: str,
    data: bytes,
    content_type: str,
    status: int,
    message: str,
) -> None:
    reply = api.post(path, token, data, content_type=content_type)

    assert reply.status == status
    assert message in reply.body["message"]
    with api_rt.uow() as session:
        assert session.scalar(select(func.count()).select_from(CallImport)) == 0


def test_an_unknown_import_is_404(api: Api, token: str) -> None:
    reply = api.get("/api/v1/call-logs/999999", token)

    assert (reply.status, reply.body["error"]) == (404, "not_found")


def multipart(fields: dict[str, str], file_name: str, path: Path) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        f"Content-Type: text/csv\r\n\r\n".encode()
        + path.read_bytes()
        + b"\r\n"
    )
    return b"".join(
        parts
    ) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# --- who may call -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/calls"), ("POST", "/api/v1/call-logs"), ("GET", "/api/v1/call-logs/1")],
)
def test_the_calls_endpoints_need_a_token_with_the_calls_scope(
    api: Api, make_token: Callable[..., str], method: str, path: str
) -> None:
    lookup_only = make_token("lookup", name="screen-pop")
    data = b"{}" if method == "POST" else None

    anonymous = api.call(method, path, None, data=data, content_type="application/json")
    wrong_scope = api.call(method, path, lookup_only, data=data, content_type="application/json")

    assert anonymous.status == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert (wrong_scope.status, wrong_scope.body["error"]) == (403, "insufficient_scope")
    assert 'scope="calls"' in wrong_scope.headers["WWW-Authenticate"]


def test_the_openapi_document_describes_the_calls_endpoints(api: Api) -> None:
    paths = api.get("/api/v1/openapi.json").body["paths"]

    assert paths["/api/v1/calls"]["post"]["security"] == [{"bearerAuth": ["calls"]}]
    assert {"201", "200", "400", "401", "403"} <= set(paths["/api/v1/calls"]["post"]["responses"])
    assert "202" in paths["/api/v1/call-logs"]["post"]["responses"]
    assert "404" in paths["/api/v1/call-logs/{import_id}"]["get"]["responses"]
