"""The JSON API through the real HTTP server: waitress on a loopback port, called with urllib,
against the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi
from sqlalchemy import create_engine, select

from admin_ui import create_app
from admin_ui.health import stale_after_seconds
from gateway.entrypoints.webserver import start_web
from gateway.runtime import Runtime
from gateway.services import accounts
from gateway.services.lookup_service import GroupCommitAudit
from gateway.store.tables import ApiToken
from routing.enums import EmailMeasure, IdentityKind, Mode, PhoneMeasure, Role
from routing.lifecycle import Actor
from routing.models import AuditEntry, utcnow
from routing.windows import LONDON
from tests.integration.api_helpers import Api, Clock
from tests.integration.register_helpers import impose_restriction
from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
CCR = str(Path(sys.executable).with_name("ccr"))

CALLER = "01632 960001"
CALLER_E164 = "+441632960001"
CALLER_EMAIL = "jo.example@example.org"
STRANGER = "07700 900999"
WINDOWS = "Tue 10:00-12:00; Thu 14:00-15:30"
# Tuesday 24 November 2026 (GMT): inside the Tuesday window, then after it.
IN_WINDOW = dt.datetime(2026, 11, 24, 11, 15, tzinfo=dt.UTC)
AFTER_WINDOW = dt.datetime(2026, 11, 24, 12, 30, tzinfo=dt.UTC)
# Tuesday 16 June 2026, 09:30 BST: before the Tuesday window opens at 10:00 BST.
SUMMER_MORNING = dt.datetime(2026, 6, 16, 8, 30, tzinfo=dt.UTC)


@pytest.fixture
def token(make_token: Callable[..., str]) -> str:
    return make_token("lookup")


@pytest.fixture
def restrict(api_rt: Runtime) -> Callable[..., str]:
    """Restrict a new customer with these identities: restrict([(raw, kind)], **terms)."""
    staff = {}
    with api_rt.uow() as session:
        for email, role in (
            ("manager@council.example.org", Role.MANAGER),
            ("approver@council.example.org", Role.APPROVER),
        ):
            user = accounts.add_user(
                session,
                email=email,
                role=role,
                password="correct horse battery",
                actor="t",
                now=utcnow(),
            )
            staff[role] = Actor(user.email, role, user.id)

    def impose(identities: list[tuple[str, IdentityKind]], **terms: object) -> str:
        return impose_restriction(
            api_rt, staff[Role.MANAGER], staff[Role.APPROVER], identities, **terms
        )

    return impose


@pytest.fixture
def windowed_caller(restrict: Callable[..., str]) -> str:
    """CALLER (and CALLER_EMAIL) may phone only in WINDOWS; returns the reference."""
    return restrict(
        [(CALLER, IdentityKind.PHONE), (CALLER_EMAIL, IdentityKind.EMAIL)],
        email_measure=EmailMeasure.REDIRECT,
        phone_measure=PhoneMeasure.WINDOWS,
        phone_windows=WINDOWS,
        spoc_name="Sam Spoc",
    )


# --- restricted callers -------------------------------------------------------------------


def test_a_restricted_caller_inside_a_window_may_be_put_through(
    api: Api, token: str, windowed_caller: str, clock: Clock
) -> None:
    clock.at = IN_WINDOW
    answer = api.lookup(token, phone=CALLER)
    assert answer.status == 200
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.body
    assert body["state"] == "restricted"
    assert body["restricted"] is True and body["enforced"] is True
    assert body["identity"] == CALLER_E164
    assert body["reference"] == windowed_caller
    assert body["references"] == [windowed_caller]
    assert body["phone_measure"] == "windows" and body["email_measure"] == "redirect"
    assert body["phone_windows"] == WINDOWS
    assert body["window_open_now"] is True
    assert body["call_permitted_now"] is True
    assert body["window_closes_at"] == "2026-11-24T12:00:00+00:00"
    assert body["next_window_opens"] is None
    assert body["window_text"] == "open now, until today at 12:00"
    assert (body["spoc_name"], body["spoc_email"], body["spoc_phone"]) == (
        "Sam Spoc",
        "spoc@council.example.org",
        "020 7946 0999",
    )
    assert body["spoc_phone_e164"] == "+442079460999"
    assert body["checked_at"] == "2026-11-24T11:15:00+00:00"
    assert "please take the call" in body["agent_script"]
    assert "transfer the call to 020 7946 0999" in body["agent_script"]
    assert "safeguarding" in body["agent_script"]


def test_a_restricted_caller_outside_the_windows_is_told_when_to_call_again(
    api: Api, token: str, windowed_caller: str, clock: Clock
) -> None:
    clock.at = AFTER_WINDOW
    body = api.lookup(token, phone=CALLER).body
    assert body["state"] == "restricted"
    assert body["window_open_now"] is False
    assert body["call_permitted_now"] is False
    assert body["window_closes_at"] is None
    assert body["next_window_opens"] == "2026-11-26T14:00:00+00:00"
    assert body["next_window_opens_text"] == "Thursday 26 November at 14:00"
    assert body["window_text"] == "closed now, next opens on Thursday 26 November at 14:00"
    script = body["agent_script"]
    assert "it is outside those times now" in script
    assert "You can call again on Thursday 26 November at 14:00" in script
    assert "Sam Spoc by email at spoc@council.example.org" in script
    assert "end the call politely" in script


def test_times_are_given_on_the_london_clock_in_summer(
    api: Api, token: str, windowed_caller: str, clock: Clock
) -> None:
    clock.at = SUMMER_MORNING
    body = api.lookup(token, phone=CALLER).body
    assert body["next_window_opens"] == "2026-06-16T10:00:00+01:00"
    assert body["next_window_opens_text"] == "today at 10:00"
    assert body["checked_at"] == "2026-06-16T09:30:00+01:00"


def test_windows_open_and_closed_on_the_real_clock(
    api: Api, token: str, restrict: Callable[..., str]
) -> None:
    now = dt.datetime.now(LONDON).replace(second=0, microsecond=0)
    open_window = _window(now - dt.timedelta(hours=1), hours=3)
    later = now + dt.timedelta(hours=2)
    restrict(
        [("01632 960101", IdentityKind.PHONE)],
        phone_measure=PhoneMeasure.WINDOWS,
        phone_windows=open_window,
    )
    restrict(
        [("01632 960102", IdentityKind.PHONE)],
        phone_measure=PhoneMeasure.WINDOWS,
        phone_windows=_window(later, hours=1),
    )
    inside = api.lookup(token, phone="01632 960101").body
    assert (inside["window_open_now"], inside["call_permitted_now"]) == (True, True)
    outside = api.lookup(token, phone="01632 960102").body
    assert (outside["window_open_now"], outside["call_permitted_now"]) == (False, False)
    assert outside["next_window_opens"] == later.isoformat(timespec="seconds")


def _window(start: dt.datetime, *, hours: int) -> str:
    end = start + dt.timedelta(hours=hours)
    return f"{start:%a %H:%M}-{end:%H:%M}"


def test_a_barred_caller_is_not_put_through_and_is_pointed_to_the_spoc(
    api: Api, token: str, restrict: Callable[..., str]
) -> None:
    reference = restrict([(CALLER, IdentityKind.PHONE)], phone_measure=PhoneMeasure.BARRED)
    body = api.lookup(token, phone=CALLER).body
    assert body["reference"] == reference
    assert body["phone_measure"] == "barred"
    assert body["call_permitted_now"] is False
    assert body["window_open_now"] is None
    assert body["summary"] == f"Contact restriction {reference}: no telephone contact"
    assert "Telephone contact is not accepted" in body["agent_script"]
    assert "by email at spoc@council.example.org" in body["agent_script"]


def test_a_restriction_on_trial_is_shown_but_the_call_is_taken_as_normal(
    api: Api, token: str, restrict: Callable[..., str]
) -> None:
    reference = restrict(
        [(CALLER, IdentityKind.PHONE)], phone_measure=PhoneMeasure.BARRED, mode=Mode.SHADOW
    )
    body = api.lookup(token, phone=CALLER).body
    assert (body["state"], body["mode"], body["enforced"]) == ("restricted", "shadow", False)
    assert body["call_permitted_now"] is True
    assert body["agent_script"] == (
        f"Contact restriction {reference} is on trial (shadow mode) and does not apply yet. "
        "Please take the call as normal."
    )


@pytest.mark.parametrize(
    "raw",
    [
        "01632 960001",
        "01632960001",
        "+441632960001",  # 3CX Number Prefix="Plus"
        "441632960001",  # Prefix="Off"
        "00441632960001",  # Prefix="Zeros"
        "(01632) 960-001",
    ],
)
def test_every_usual_form_of_the_number_finds_the_restriction(
    api: Api, token: str, windowed_caller: str, raw: str
) -> None:
    body = api.lookup(token, phone=raw).body
    assert (body["state"], body["reference"]) == ("restricted", windowed_caller)


def test_a_plus_left_unencoded_in_the_url_still_finds_the_number(
    api: Api, token: str, windowed_caller: str
) -> None:
    # A template that puts [Number] into the URL as-is sends "+44...", which decodes to " 44...".
    body = api.get(f"/api/v1/lookup?phone={CALLER_E164}", token).body
    assert (body["state"], body["identity"]) == ("restricted", CALLER_E164)


def test_an_email_lookup_answers_for_the_same_restriction(
    api: Api, token: str, windowed_caller: str, clock: Clock
) -> None:
    clock.at = AFTER_WINDOW
    body = api.lookup(token, email="Jo.Example+housing@EXAMPLE.org").body
    assert (body["state"], body["kind"], body["identity"]) == (
        "restricted",
        "email",
        CALLER_EMAIL,
    )
    assert body["reference"] == windowed_caller
    assert body["email_measure"] == "redirect"
    assert body["call_permitted_now"] is False
    assert "This customer may phone only at set times" in body["agent_script"]


# --- callers with nothing to find -----------------------------------------------------------


def test_an_unrestricted_number_is_answered_not_restricted(
    api: Api, token: str, windowed_caller: str
) -> None:
    body = api.lookup(token, phone=STRANGER).body
    assert body["state"] == "not_restricted"
    assert (body["restricted"], body["call_permitted_now"]) == (False, True)
    assert body["identity"] == "+447700900999"
    assert (body["reference"], body["references"]) == (None, [])
    assert body["summary"] == "No contact restriction"
    assert body["agent_script"] == (
        "No contact restriction applies to this caller. Please handle the call as normal."
    )


def test_an_unrestricted_email_address_is_answered_not_restricted(api: Api, token: str) -> None:
    body = api.lookup(token, email="pat.other@example.org").body
    assert (body["state"], body["kind"]) == ("not_restricted", "email")


@pytest.mark.parametrize(
    "raw", ["anonymous", "Anonymous", "withheld", "PRIVATE", "unavailable", "unknown", "", "0"]
)
def test_a_withheld_number_is_answered_withheld(api: Api, token: str, raw: str) -> None:
    body = api.lookup(token, phone=raw).body
    assert body["state"] == "withheld"
    assert (body["restricted"], body["call_permitted_now"], body["identity"]) == (
        False,
        None,
        None,
    )
    assert body["summary"] == "Number withheld: cannot check for a contact restriction"
    assert body["agent_script"].startswith("The caller's number is withheld")


@pytest.mark.parametrize(
    "raw", ["not a number", "123", "0800 FLOWERS", "01632 960001 ext 12", "+44 1632 960001 999 999"]
)
def test_a_malformed_number_is_answered_unparseable(
    api: Api, token: str, windowed_caller: str, raw: str
) -> None:
    body = api.lookup(token, phone=raw).body
    assert body["state"] == "unparseable"
    assert (body["restricted"], body["call_permitted_now"], body["reference"]) == (
        False,
        None,
        None,
    )
    assert "could not be recognised" in body["agent_script"]


def test_a_malformed_email_address_is_answered_unparseable(api: Api, token: str) -> None:
    body = api.lookup(token, email="jo at example.org").body
    assert (body["state"], body["kind"]) == ("unparseable", "email")
    assert body["summary"] == "Email address not recognised: cannot check for a contact restriction"


# --- authentication -----------------------------------------------------------------------


def test_no_token_is_401_with_a_bearer_challenge(api: Api) -> None:
    answer = api.get("/api/v1/lookup?phone=01632960001")
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="ccr-gateway"'
    assert answer.body["error"] == "unauthorized"


def test_another_scheme_is_401(api: Api, token: str) -> None:
    answer = api.get("/api/v1/lookup?phone=01632960001", token, scheme="Basic")
    assert answer.status == 401
    assert answer.body["error"] == "unauthorized"


def test_an_unknown_token_is_401_invalid_token(api: Api, token: str) -> None:
    answer = api.lookup(token[:-2] + "xx", phone=CALLER)
    assert answer.status == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert answer.body["error"] == "invalid_token"


def test_a_revoked_token_is_401(api: Api, api_rt: Runtime, token: str) -> None:
    _revoke(api_rt, "screen-pop")
    answer = api.lookup(token, phone=CALLER)
    assert answer.status == 401
    assert answer.body["error"] == "invalid_token"


def test_revoking_a_token_in_use_stops_it_within_the_cache_lifetime(
    api: Api, api_rt: Runtime, token: str
) -> None:
    assert api.lookup(token, phone=CALLER).status == 200
    _revoke(api_rt, "screen-pop")
    wait_until(
        lambda: api.lookup(token, phone=CALLER).status != 200,
        5,
        "the revoked token to stop working",
    )
    assert api.lookup(token, phone=CALLER).status == 401


def _revoke(rt: Runtime, name: str) -> None:
    with rt.uow() as session:
        accounts.revoke_token(session, name=name, actor="test", now=utcnow())


def test_a_token_without_the_lookup_scope_is_403(api: Api, make_token: Callable[..., str]) -> None:
    calls_only = make_token("calls", name="call-logger")
    answer = api.lookup(calls_only, phone=CALLER)
    assert answer.status == 403
    assert answer.body["error"] == "insufficient_scope"
    assert 'scope="lookup"' in answer.headers["WWW-Authenticate"]


def test_last_used_is_recorded_without_a_write_per_request(
    api: Api, api_rt: Runtime, token: str
) -> None:
    assert _last_used(api_rt) is None
    api.lookup(token, phone=STRANGER)
    first = _last_used(api_rt)
    assert first is not None
    time.sleep(0.3)  # past the token cache's lifetime: the token is read again
    api.lookup(token, phone=STRANGER)
    assert _last_used(api_rt) == first


def _last_used(rt: Runtime) -> dt.datetime | None:
    with rt.session_factory() as session:
        return session.scalar(select(ApiToken.last_used_at))


# --- bad requests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?number=01632960001",
        "?phone=01632960001&email=jo@example.org",
        "?phone=01632960001&phone=01632960002",
        "?phone=" + "1" * 600,
    ],
)
def test_a_bad_query_is_400_with_a_json_reason(api: Api, token: str, query: str) -> None:
    answer = api.get("/api/v1/lookup" + query, token)
    assert answer.status == 400
    assert answer.body["error"] == "bad_request"
    assert answer.body["message"]


def test_unknown_paths_and_methods_under_the_api_answer_json(api: Api, token: str) -> None:
    missing = api.get("/api/v1/nothing-here", token)
    assert (missing.status, missing.body["error"]) == (404, "not_found")
    wrong_method = api.call("POST", "/api/v1/lookup?phone=1", token)
    assert (wrong_method.status, wrong_method.body["error"]) == (405, "method_not_allowed")


def test_a_stale_register_makes_lookups_unavailable_like_the_health_check(
    api: Api, api_rt: Runtime, token: str
) -> None:
    assert api.lookup(token, phone=STRANGER).status == 200
    api_rt.register.close()  # no more refreshes: the register grows stale
    stale_after = stale_after_seconds(api_rt)
    wait_until(
        lambda: api_rt.register.age_seconds > stale_after,
        stale_after + 10,
        "the register to grow stale",
        interval=0.02,
    )
    answer = api.lookup(token, phone=STRANGER)
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "5"
    assert answer.body["error"] == "unavailable"
    assert "follow normal handling" in answer.body["message"]
    assert api.get("/healthz").status == 503


def test_a_restriction_is_not_shown_when_its_audit_entry_cannot_be_written(
    api_rt: Runtime, token: str, windowed_caller: str, tmp_path: Path
) -> None:
    app = create_app(runtime=api_rt)
    # A database that cannot be opened stands in for one that has gone away.
    (tmp_path / "not-a-folder").write_text("a file where the database's folder should be")
    unreachable = create_engine(f"sqlite:///{tmp_path / 'not-a-folder' / 'ccr.db'}")
    app.extensions["ccr_lookup_audit"] = GroupCommitAudit(unreachable)
    server = start_web(api_rt, app)
    try:
        api = Api(f"http://127.0.0.1:{server.port}")
        refused = api.lookup(token, phone=CALLER)
        assert refused.status == 503
        assert refused.body["error"] == "unavailable"
        assert "follow normal handling" in refused.body["message"]
        assert api.lookup(token, phone=STRANGER).status == 200  # nothing to audit
    finally:
        server.close()
        unreachable.dispose()


# --- the audit log ------------------------------------------------------------------------


def test_a_restricted_lookup_is_audited_by_reference_only(
    api: Api, api_rt: Runtime, token: str, windowed_caller: str
) -> None:
    api.lookup(token, phone=CALLER)
    api.lookup(token, email=CALLER_EMAIL)
    entries = _lookup_audit(api_rt)
    assert len(entries) == 2
    for entry in entries:
        assert (entry.actor, entry.source) == ("token:screen-pop", "api")
        assert (entry.subject_type, entry.subject_ref) == ("restriction", windowed_caller)
        assert entry.detail["references"] == [windowed_caller]
        recorded = json.dumps(
            [entry.actor, entry.action, entry.subject_ref, entry.detail, entry.source]
        )
        for personal in ("1632", "960001", "jo.example", "example.org", "Jo"):
            assert personal not in recorded


def test_a_lookup_that_finds_nothing_writes_no_audit_entry(
    api: Api, api_rt: Runtime, token: str, windowed_caller: str
) -> None:
    api.lookup(token, phone=STRANGER)
    api.lookup(token, phone="anonymous")
    assert _lookup_audit(api_rt) == []


def _lookup_audit(rt: Runtime) -> list[AuditEntry]:
    with rt.session_factory() as session:
        return list(
            session.scalars(select(AuditEntry).where(AuditEntry.action == "register.lookup"))
        )


# --- the OpenAPI document -----------------------------------------------------------------


def test_the_openapi_document_is_valid_openapi_3_1_and_public(api: Api) -> None:
    answer = api.get("/api/v1/openapi.json")
    assert answer.status == 200
    document = answer.body
    assert document["openapi"] == "3.1.0"
    validate_openapi(document)
    lookup = document["paths"]["/api/v1/lookup"]["get"]
    assert lookup["security"] == [{"bearerAuth": ["lookup"]}]
    assert {"200", "400", "401", "403", "503"} <= set(lookup["responses"])


def test_every_lookup_answer_matches_the_documented_schema(
    api: Api, token: str, windowed_caller: str, clock: Clock
) -> None:
    schema = api.get("/api/v1/openapi.json").body["components"]["schemas"]["LookupAnswer"]
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    answers = []
    for at in (IN_WINDOW, AFTER_WINDOW):
        clock.at = at
        answers.append(api.lookup(token, phone=CALLER).body)
    answers += [
        api.lookup(token, phone=STRANGER).body,
        api.lookup(token, phone="withheld").body,
        api.lookup(token, phone="nonsense").body,
        api.lookup(token, email=CALLER_EMAIL).body,
    ]
    for body in answers:
        validator.validate(body)
        assert set(body) == set(schema["properties"])


def test_the_documented_errors_match_the_answers(api: Api, token: str) -> None:
    document = api.get("/api/v1/openapi.json").body
    validator = jsonschema.Draft202012Validator(document["components"]["schemas"]["Error"])
    for reply in (api.get("/api/v1/lookup"), api.get("/api/v1/lookup", token)):
        validator.validate(reply.body)


# --- the command line says the same ---------------------------------------------------------


def test_ccr_lookup_prints_the_same_facts_as_the_api(
    api: Api, token: str, restrict: Callable[..., str], database_url: str, tmp_path: Path
) -> None:
    now = dt.datetime.now(LONDON).replace(second=0, microsecond=0)
    reference = restrict(
        [(CALLER, IdentityKind.PHONE)],
        phone_measure=PhoneMeasure.WINDOWS,
        phone_windows=_window(now + dt.timedelta(hours=2), hours=1),
        max_calls_per_day=1,
        spoc_name="Sam Spoc",
    )
    body = api.lookup(token, phone=CALLER).body
    printed = _ccr_lookup(CALLER, database_url, tmp_path)
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert f"phone {CALLER_E164}: 1 restriction(s) in force" in lines
    assert any(line.strip().startswith(reference) for line in lines)
    assert f"    permitted times: {body['phone_windows']}; {body['window_text']}" in lines
    assert "    limits: 1 call a day" in lines
    spoc = f"{body['spoc_name']}, {body['spoc_email']}, {body['spoc_phone']}"
    assert f"    single point of contact: {spoc}" in lines
    assert f"state: {body['state']}" in lines
    assert "call permitted now: no" in lines
    assert f"summary: {body['summary']}" in lines
    assert f"agent script: {body['agent_script']}" in lines


@pytest.mark.parametrize(("raw", "state"), [("withheld", "withheld"), ("12", "unparseable")])
def test_ccr_lookup_names_withheld_and_unparseable_states(
    api: Api, token: str, database_url: str, tmp_path: Path, raw: str, state: str
) -> None:
    body = api.lookup(token, phone=raw).body
    printed = _ccr_lookup(raw, database_url, tmp_path).stdout.splitlines()
    assert f"state: {state}" in printed
    assert "call permitted now: unknown" in printed
    assert f"agent script: {body['agent_script']}" in printed


def _ccr_lookup(raw: str, database_url: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return _ccr(database_url, tmp_path, "lookup", raw)


def _ccr(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCR_")}
    env.update(
        CCR_DATABASE_URL=database_url,
        CCR_CONFIG=str(ROOT / "config" / "ccr.toml"),
        CCR_DOWNSTREAM=f"maildir:{tmp_path / 'mail'}",
        CCR_SPOOL_DIR=str(tmp_path / "spool"),
        CCR_EXCLUDE_BANK_HOLIDAYS="false",
        CCR_LOG_LEVEL="WARNING",
    )
    return subprocess.run(
        [CCR, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_ccr_token_revoke_stops_the_token_and_is_audited(
    api: Api, api_rt: Runtime, token: str, database_url: str, tmp_path: Path
) -> None:
    revoked = _ccr(database_url, tmp_path, "token", "revoke", "screen-pop")
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.startswith("token screen-pop revoked")
    assert api.lookup(token, phone=CALLER).status == 401
    again = _ccr(database_url, tmp_path, "token", "revoke", "screen-pop")
    assert (again.returncode, again.stderr) == (
        2,
        "ccr: error: the token 'screen-pop' is already revoked\n",
    )
    unknown = _ccr(database_url, tmp_path, "token", "revoke", "nobody")
    assert (unknown.returncode, unknown.stderr) == (2, "ccr: error: no token named 'nobody'\n")
    with api_rt.session_factory() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "token.revoked" in actions
