"""Call-log ingestion and call flags against a real database (SQLite, or PostgreSQL).

Every preset is read from a realistic fixture file; the register holds three restricted
callers, put in force through register_service the way staff do:

- 07700 900101: calls only Sun and Tue 10:00-12:00 to the SPOC line (020 7946 0999), at
  most 2 calls a day of at most 10 minutes;
- 07700 900202: no telephone contact;
- 07700 900303: no telephone contact, in shadow mode (a trial).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.bootstrap import bootstrap, default_tasks
from gateway.calls import (
    CallImportError,
    CallInput,
    CallInputError,
    ImportNotQueued,
    import_call_log,
    import_file,
    import_status,
    queue_upload,
    record_call,
    uploads_dir,
)
from gateway.calls.drop import PROCESSED, process_drop_folder
from gateway.jobs.queue import InProcessQueue
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store.calls import insert_new_events
from gateway.store.tables import CallImport
from routing.enums import (
    CallImportStatus,
    Direction,
    FlagKind,
    IdentityKind,
    Mode,
    Outcome,
    PhoneMeasure,
    Role,
)
from routing.lifecycle import Actor
from routing.models import ContactEvent, Flag, Identity, Restriction
from tests.integration.register_helpers import impose_restriction

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "calls"
ROOT = Path(__file__).resolve().parents[2]
CCR = str(Path(sys.executable).with_name("ccr"))

WINDOWS_CALLER = "+447700900101"
BARRED_CALLER = "+447700900202"
SHADOW_CALLER = "+447700900303"
SPOC_LINE = "+442079460999"
MAIN_LINE = "+441632960100"
# Who reports live calls (record_call audits answers that name a restriction as theirs).
PLATFORM = {"actor": "token:telephony", "source": "api"}


# --- the register ----------------------------------------------------------------------------


@pytest.fixture
def references(rt: Runtime, make_staff: Callable[[str, Role], Actor]) -> dict[str, str]:
    """The three restrictions, by caller (E.164) -> reference."""
    manager = make_staff("manager@council.example.org", Role.MANAGER)
    approver = make_staff("approver@council.example.org", Role.APPROVER)

    def impose(number: str, **terms: object) -> str:
        return impose_restriction(rt, manager, approver, [(number, IdentityKind.PHONE)], **terms)

    return {
        WINDOWS_CALLER: impose(
            "07700 900101",
            phone_measure=PhoneMeasure.WINDOWS,
            phone_windows="Sun 10:00-12:00; Tue 10:00-12:00",
            max_calls_per_day=2,
            max_call_minutes=10,
        ),
        BARRED_CALLER: impose("07700 900202", phone_measure=PhoneMeasure.BARRED),
        SHADOW_CALLER: impose("07700 900303", phone_measure=PhoneMeasure.BARRED, mode=Mode.SHADOW),
    }


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def events(rt: Runtime) -> list[ContactEvent]:
    with rt.uow() as session:
        return list(session.scalars(select(ContactEvent).order_by(ContactEvent.occurred_at)))


def event_at(rt: Runtime, at: dt.datetime) -> ContactEvent:
    (event,) = [e for e in events(rt) if e.occurred_at == at]
    return event


def flags_at(rt: Runtime, at: dt.datetime) -> set[tuple[FlagKind, str, Mode]]:
    """(kind, restriction reference, mode) of each flag on the call that started at ``at``."""
    with rt.uow() as session:
        rows = session.execute(
            select(Flag.kind, Restriction.reference, Flag.mode)
            .join(ContactEvent, ContactEvent.id == Flag.contact_event_id)
            .join(Restriction, Restriction.id == Flag.restriction_id)
            .where(ContactEvent.occurred_at == at)
        )
        return {(kind, reference, mode) for kind, reference, mode in rows}


def counts(rt: Runtime) -> tuple[int, int]:
    with rt.uow() as session:
        return (
            session.scalar(select(func.count()).select_from(ContactEvent)) or 0,
            session.scalar(select(func.count()).select_from(Flag)) or 0,
        )


# --- Asterisk Master.csv ---------------------------------------------------------------------


def test_asterisk_file_without_header_is_recognised_and_flags_each_kind(
    rt: Runtime, references: dict[str, str]
) -> None:
    report = import_file(rt, FIXTURES / "asterisk_master.csv")

    assert (report.status, report.format, report.encoding) == (
        CallImportStatus.DONE,
        "asterisk",
        "utf-8",
    )
    assert (report.rows_read, report.rows_imported, report.rows_bad) == (11, 11, 0)
    assert report.flag_counts == {
        "outside_window": 1,
        "over_call_limit": 1,
        "over_duration": 2,
        "phone_barred": 3,
        "wrong_line": 1,
    }
    windows, barred = references[WINDOWS_CALLER], references[BARRED_CALLER]
    # Sunday 29 March 2026 is BST (UTC+1): 09:58:30 on the wall is before the 10:00 window.
    assert flags_at(rt, utc("2026-03-29 08:58:30")) == {
        (FlagKind.OUTSIDE_WINDOW, windows, Mode.ENFORCE)
    }
    assert flags_at(rt, utc("2026-03-29 09:15:00")) == {
        (FlagKind.OVER_DURATION, windows, Mode.ENFORCE)
    }
    # Written before the 10:15 call (it ended first) but started after it: the third call.
    assert flags_at(rt, utc("2026-03-29 09:40:00")) == {
        (FlagKind.OVER_CALL_LIMIT, windows, Mode.ENFORCE),
        (FlagKind.WRONG_LINE, windows, Mode.ENFORCE),
    }
    assert flags_at(rt, utc("2026-03-31 09:30:00")) == {
        (FlagKind.OVER_DURATION, windows, Mode.ENFORCE)
    }
    # Barred, answered or not: an unanswered attempt is still contact.
    for at in ("2026-03-30 13:00:00", "2026-03-30 13:05:00"):
        assert flags_at(rt, utc(at)) == {(FlagKind.PHONE_BARRED, barred, Mode.ENFORCE)}


def test_each_flag_names_its_restriction_in_its_detail(
    rt: Runtime, references: dict[str, str]
) -> None:
    import_file(rt, FIXTURES / "asterisk_master.csv", "asterisk")
    with rt.uow() as session:
        found = session.execute(
            select(Flag.detail, Restriction.reference).join(
                Restriction, Restriction.id == Flag.restriction_id
            )
        ).all()
    assert len(found) == 8
    assert all(detail.startswith(reference) for detail, reference in found)


def test_flagged_call_event_carries_outcome_restriction_and_reasons(
    rt: Runtime, references: dict[str, str]
) -> None:
    import_file(rt, FIXTURES / "asterisk_master.csv")
    event = event_at(rt, utc("2026-03-30 13:00:00"))
    assert (event.outcome, event.mode, event.direction) == (
        Outcome.FLAG,
        Mode.ENFORCE,
        Direction.INBOUND,
    )
    assert (event.from_value, event.to_value, event.duration_seconds) == (
        BARRED_CALLER,
        MAIN_LINE,
        95,
    )
    assert event.source == "call_log"
    assert event.identity_id is not None and event.customer_id is not None
    assert [r["rule"] for r in event.reasons] == ["phone_barred"]
    assert event.reasons[0]["restriction"] == references[BARRED_CALLER]


def test_shadow_restriction_records_its_flag_as_shadow_and_lets_the_call_be(
    rt: Runtime, references: dict[str, str]
) -> None:
    import_file(rt, FIXTURES / "asterisk_master.csv")
    at = utc("2026-03-30 14:00:00")
    assert flags_at(rt, at) == {(FlagKind.PHONE_BARRED, references[SHADOW_CALLER], Mode.SHADOW)}
    event = event_at(rt, at)
    assert (event.outcome, event.would_outcome, event.mode) == (
        Outcome.ALLOW,
        Outcome.FLAG,
        Mode.SHADOW,
    )


def test_outbound_call_to_a_barred_customer_is_recorded_not_flagged(
    rt: Runtime, references: dict[str, str]
) -> None:
    import_file(rt, FIXTURES / "asterisk_master.csv")
    event = event_at(rt, utc("2026-03-30 15:00:00"))
    assert event.direction is Direction.OUTBOUND
    assert (event.outcome, event.from_value, event.to_value) == (
        Outcome.ALLOW,
        "2101",
        BARRED_CALLER,
    )
    assert flags_at(rt, event.occurred_at) == set()
    # The person on the call is the customer the council rang, for volume counting.
    with rt.uow() as session:
        identity = session.get(Identity, event.identity_id)
        assert identity is not None and identity.value == BARRED_CALLER


def test_withheld_number_is_kept_as_withheld_never_guessed(
    rt: Runtime, references: dict[str, str]
) -> None:
    import_file(rt, FIXTURES / "asterisk_master.csv")
    event = event_at(rt, utc("2026-03-30 08:10:00"))
    assert (event.from_value, event.identity_id, event.customer_id) == (None, None, None)
    assert event.outcome is Outcome.ALLOW
    assert event.reasons == [
        {
            "rule": "unidentified_caller",
            "reason": "Caller number withheld: cannot be matched to a person.",
        }
    ]


def test_unrestricted_callers_are_contact_events_with_identities(
    rt: Runtime, references: dict[str, str]
) -> None:
    import_file(rt, FIXTURES / "asterisk_master.csv")
    event = event_at(rt, utc("2026-03-30 10:45:00"))  # the row with a userfield
    assert (event.from_value, event.to_value, event.outcome) == (
        "+442079460123",
        "+441632960200",
        Outcome.ALLOW,
    )
    assert event.identity_id is not None
    assert event.restriction_id is None


def test_importing_the_same_file_twice_adds_nothing(
    rt: Runtime, references: dict[str, str]
) -> None:
    first = import_file(rt, FIXTURES / "asterisk_master.csv")
    before = counts(rt)
    second = import_file(rt, FIXTURES / "asterisk_master.csv")

    assert counts(rt) == before == (11, 8)
    assert (second.rows_read, second.rows_imported, second.rows_duplicate) == (11, 0, 11)
    assert second.flag_counts == {}
    assert second.sha256 == first.sha256
    assert f"identical content was imported before (import {first.import_id})" in second.notes


def test_same_calls_in_another_spelling_are_still_duplicates(
    rt: Runtime, references: dict[str, str], tmp_path: Path
) -> None:
    import_file(rt, FIXTURES / "asterisk_master.csv")
    # The same Master.csv after a dialplan change wrote numbers in international format.
    text = (FIXTURES / "asterisk_master.csv").read_text()
    respelled = tmp_path / "Master.csv"
    respelled.write_text(text.replace('"07700900', '"+447700900'))
    again = import_file(rt, respelled, "asterisk")
    assert (again.rows_imported, again.rows_duplicate) == (0, 11)


def test_broken_rows_are_reported_by_line_and_good_rows_kept(
    rt: Runtime, references: dict[str, str]
) -> None:
    report = import_file(rt, FIXTURES / "asterisk_broken.csv", "asterisk")

    assert report.status is CallImportStatus.DONE
    assert (report.rows_read, report.rows_imported, report.rows_bad) == (9, 4, 5)
    assert report.problem_lines() == [
        "line 2: start: '30/03/2026 09:05' is not a date and time as %Y-%m-%d %H:%M:%S",
        "line 4: billsec: '-5' is not a number of seconds",
        "line 5: 4 column(s); this format needs 14",
        "line 8: 20 columns; this format has 18",
        "line 10: start: '2026-02-30 10:00:00' is not a date and time as %Y-%m-%d %H:%M:%S",
    ]
    assert report.flag_counts == {"phone_barred": 1}
    assert counts(rt) == (4, 1)
    # What the API's upload status reads is the same report.
    assert import_status(rt, report.import_id) == report


def test_clock_change_days_window_edges_in_local_time(
    rt: Runtime, references: dict[str, str]
) -> None:
    report = import_file(rt, FIXTURES / "asterisk_clock_changes.csv", "asterisk")
    windows = references[WINDOWS_CALLER]
    outside = {(FlagKind.OUTSIDE_WINDOW, windows, Mode.ENFORCE)}
    # 29 March 2026: clocks went forward at 01:00 GMT, so 10:00 BST is 09:00 UTC.
    assert flags_at(rt, utc("2026-03-29 08:59:59")) == outside
    assert flags_at(rt, utc("2026-03-29 09:00:00")) == set()
    # 25 October 2026: clocks went back at 02:00 BST, so 12:00 GMT is 12:00 UTC.
    assert flags_at(rt, utc("2026-10-25 11:59:59")) == set()
    assert flags_at(rt, utc("2026-10-25 12:00:00")) == outside
    # 01:30 happened twice on 25 October (read as the first, BST), and never on 29 March
    # (read with the GMT offset): both stated in the report.
    times = [e.occurred_at for e in events(rt) if e.from_value == "+441632960555"]
    assert times == [utc("2026-03-29 01:30:00"), utc("2026-10-25 00:30:00")]
    assert any("occurs twice" in note and "1 row" in note for note in report.notes)
    assert any("does not exist" in note and "1 row" in note for note in report.notes)


# --- Microsoft Teams PSTN usage export -------------------------------------------------------


def test_teams_pstn_export_is_recognised_and_read_in_utc(
    rt: Runtime, references: dict[str, str]
) -> None:
    report = import_file(rt, FIXTURES / "teams_pstn.csv")

    assert (report.format, report.encoding, report.rows_imported) == ("teams-pstn", "utf-8-sig", 8)
    windows = references[WINDOWS_CALLER]
    outside = {(FlagKind.OUTSIDE_WINDOW, windows, Mode.ENFORCE)}
    assert flags_at(rt, utc("2026-10-25 09:59:59")) == outside  # 09:59:59 GMT
    assert flags_at(rt, utc("2026-10-25 10:00:00")) == set()
    # Seven fractional digits, as .NET writes them; 08:59:59Z is 09:59:59 BST.
    assert flags_at(rt, dt.datetime(2026, 3, 29, 8, 59, 59, 123456, tzinfo=dt.UTC)) == outside
    assert flags_at(rt, utc("2026-03-29 09:00:00")) == set()
    # Calls to an auto attendant (ucap_in) count; calls the council makes (user_out) do not.
    barred = {(FlagKind.PHONE_BARRED, references[BARRED_CALLER], Mode.ENFORCE)}
    assert flags_at(rt, utc("2026-03-30 13:30:00")) == barred
    assert event_at(rt, utc("2026-03-30 13:00:00")).direction is Direction.OUTBOUND
    assert flags_at(rt, utc("2026-03-30 13:00:00")) == set()
    assert event_at(rt, utc("2026-03-30 14:00:00")).from_value is None  # "Anonymous"
    assert report.flag_counts == {"outside_window": 2, "phone_barred": 1}


# --- the generic mapping ---------------------------------------------------------------------


def test_generic_csv_with_clock_durations_and_offsets(
    rt: Runtime, references: dict[str, str]
) -> None:
    report = import_file(rt, FIXTURES / "generic_calls.csv")

    assert (report.format, report.rows_imported, report.rows_bad) == ("generic", 6, 0)
    windows = references[WINDOWS_CALLER]
    assert event_at(rt, utc("2026-03-31 09:15:00")).duration_seconds == 271  # 00:04:31
    assert flags_at(rt, utc("2026-03-31 09:15:00")) == set()
    assert flags_at(rt, utc("2026-03-31 11:00:00")) == {
        (FlagKind.OUTSIDE_WINDOW, windows, Mode.ENFORCE)
    }
    assert flags_at(rt, utc("2026-03-31 11:30:00")) == {
        (FlagKind.OUTSIDE_WINDOW, windows, Mode.ENFORCE),
        (FlagKind.OVER_CALL_LIMIT, windows, Mode.ENFORCE),
        (FlagKind.OVER_DURATION, windows, Mode.ENFORCE),
        (FlagKind.WRONG_LINE, windows, Mode.ENFORCE),
    }
    assert event_at(rt, utc("2026-03-31 11:30:00")).duration_seconds == 3725  # 1:02:05
    assert event_at(rt, utc("2026-03-31 12:00:00")).direction is Direction.OUTBOUND
    assert event_at(rt, utc("2026-03-31 13:00:00")).from_value is None  # "withheld"
    # An explicit offset wins over the format's time zone: 15:00+01:00 is 14:00 UTC.
    assert flags_at(rt, utc("2026-03-31 14:00:00")) == {
        (FlagKind.PHONE_BARRED, references[BARRED_CALLER], Mode.ENFORCE)
    }


def test_generic_csv_saved_by_excel_as_windows_1252(
    rt: Runtime, references: dict[str, str]
) -> None:
    raw = (FIXTURES / "generic_cp1252.csv").read_bytes()
    assert "Zoë O’Brien".encode("cp1252") in raw  # not UTF-8: the fixture is what Excel writes

    report = import_file(rt, FIXTURES / "generic_cp1252.csv")

    assert (report.format, report.encoding) == ("generic", "cp1252")
    assert (report.rows_read, report.rows_imported, report.rows_bad) == (4, 4, 0)
    assert report.flag_counts == {"phone_barred": 1}


def test_generic_csv_in_utf8_with_a_byte_order_mark(
    rt: Runtime, references: dict[str, str]
) -> None:
    report = import_file(rt, FIXTURES / "generic_bom.csv")
    assert (report.format, report.encoding, report.rows_imported) == ("generic", "utf-8-sig", 2)
    assert report.flag_counts == {"phone_barred": 1}


def test_a_bad_direction_is_a_bad_row_and_a_missing_column_stops_the_file(
    rt: Runtime, tmp_path: Path
) -> None:
    log = tmp_path / "calls.csv"
    log.write_text(
        "started_at,caller,called,duration,direction\n"
        "2026-03-30 09:00:00,01632 960555,01632 960100,60,inbound\n"
        "2026-03-30 09:05:00,01632 960555,01632 960100,60,sideways\n"
    )
    report = import_file(rt, log, "generic")
    assert report.problem_lines() == ["line 3: direction: not a direction this format knows"]
    assert "no 'call_id' column" in report.notes[0]

    with pytest.raises(CallImportError, match="has no column 'caller'"):
        import_file(rt, FIXTURES / "teams_pstn.csv", "generic")


def test_an_impossible_duration_or_date_is_a_bad_row_and_the_good_rows_are_kept(
    rt: Runtime, tmp_path: Path
) -> None:
    """A 20-digit duration no database column holds, and a call dated year 1 (which no
    volume window can reach back to), are each reported by line; the others are imported."""
    log = tmp_path / "calls.csv"
    log.write_text(
        "started_at,caller,called,duration,direction\n"
        "2026-03-30 09:00:00,01632 960555,01632 960100,60,inbound\n"
        "2026-03-30 09:05:00,01632 960555,01632 960100,99999999999999999999,inbound\n"
        "0001-01-01 09:10:00,01632 960555,01632 960100,60,inbound\n"
        "2026-03-30 09:15:00,01632 960555,01632 960100,60,inbound\n"
    )
    report = import_file(rt, log, "generic")

    assert report.status is CallImportStatus.DONE
    assert (report.rows_read, report.rows_imported, report.rows_bad) == (4, 2, 2)
    assert report.problem_lines() == [
        "line 3: duration: '99999999999999999999' is longer than any call (over 24 hours)",
        "line 4: started_at: 0001-01-01 is before 2000",
    ]
    assert counts(rt) == (2, 0)


def test_a_file_of_no_call_rows_fails(rt: Runtime, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("call_id,started_at,caller,called,duration,direction\n")
    report = import_file(rt, empty, "generic")
    assert (report.status, report.error) == (CallImportStatus.FAILED, "the file holds no call rows")


def test_unknown_format_and_unrecognisable_file_fail_with_one_line(
    rt: Runtime, tmp_path: Path
) -> None:
    with pytest.raises(CallImportError, match=r"unknown call-log format 'avaya' \(known: "):
        import_file(rt, FIXTURES / "asterisk_master.csv", "avaya")
    other = tmp_path / "notes.csv"
    other.write_text("date,who,what\n2026-03-30,someone,something\n")
    with pytest.raises(CallImportError, match="fits none of the call-log formats"):
        import_file(rt, other)
    with rt.uow() as session:
        failed = session.scalars(select(CallImport.status)).all()
    assert failed == [CallImportStatus.FAILED, CallImportStatus.FAILED]


def test_a_council_adds_a_format_with_a_mapping_file(
    rt: Runtime, references: dict[str, str], tmp_path: Path
) -> None:
    mapping = tmp_path / "mitel.toml"
    mapping.write_text(
        'description = "Mitel SMDR extract"\n'
        'delimiter = ";"\n'
        "[fields]\n"
        'caller = "CLI"\ncalled = "DDI"\nstarted_at = "Date"\nduration = "Secs"\n'
        "[timestamp]\n"
        'format = "%d/%m/%Y %H:%M"\n'
        "[direction]\n"
        'default = "inbound"\n'
    )
    log = tmp_path / "smdr.csv"
    log.write_text("Date;CLI;DDI;Secs\n30/03/2026 14:10;07700900202;01632960100;65\n")

    report = import_file(rt, log, str(mapping))

    assert (report.format, report.rows_imported) == ("mitel", 1)
    assert report.flag_counts == {"phone_barred": 1}


# --- the drop folder -------------------------------------------------------------------------


def settled(path: Path) -> Path:
    """Make a file look as if it was written a minute ago."""
    old = time.time() - 60
    os.utime(path, (old, old))
    return path


def test_drop_folder_life_cycle(rt: Runtime, references: dict[str, str], tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    settled(Path(shutil.copy(FIXTURES / "asterisk_master.csv", drop / "Master.csv")))
    settled(Path(shutil.copy(FIXTURES / "asterisk_broken.csv", drop / "Master-broken.csv")))
    settled(Path(shutil.copy(FIXTURES / "teams_pstn.csv", drop / "calls.csv.part")))
    junk = drop / "notes.csv"
    junk.write_text("date,who,what\n2026-03-30,someone,something\n")
    settled(junk)
    fresh = drop / "Master-now.csv"
    shutil.copy(FIXTURES / "asterisk_clock_changes.csv", fresh)  # still being written

    outcomes = process_drop_folder(rt, drop, settle_seconds=30)

    assert sorted(o.name for o in outcomes) == ["Master-broken.csv", "Master.csv", "notes.csv"]
    assert (drop / PROCESSED / "Master.csv").exists()
    assert not (drop / PROCESSED / "Master.csv.errors.txt").exists()
    # Some bad rows: imported, with the report beside it.
    report = (drop / PROCESSED / "Master-broken.csv.errors.txt").read_text()
    assert "line 2: start: '30/03/2026 09:05'" in report
    assert "bad rows: 5" in report
    # Nothing importable: failed, with the reason beside it.
    assert (drop / "failed" / "notes.csv").exists()
    reason = (drop / "failed" / "notes.csv.errors.txt").read_text()
    assert "fits none of the call-log formats" in reason
    # Left alone: a temporary name, and a file written too recently.
    assert sorted(p.name for p in drop.iterdir() if p.is_file()) == [
        "Master-now.csv",
        "calls.csv.part",
    ]
    assert list((drop / "processing").iterdir()) == []
    with rt.uow() as session:
        sources = session.scalars(select(CallImport.source)).all()
    assert set(sources) == {"drop"}

    # Each file once: a second look finds only what has settled since.
    settled(fresh)
    again = process_drop_folder(rt, drop, settle_seconds=30)
    assert [o.name for o in again] == ["Master-now.csv"]
    assert process_drop_folder(rt, drop, settle_seconds=30) == []


def test_drop_folder_takes_up_a_claim_left_by_a_process_that_died(
    rt: Runtime, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    (drop / "processing").mkdir(parents=True)
    left = drop / "processing" / "0123456789ab__Master.csv"
    shutil.copy(FIXTURES / "asterisk_master.csv", left)
    os.utime(left, (time.time() - 3600, time.time() - 3600))

    (outcome,) = process_drop_folder(rt, drop, settle_seconds=0)

    assert outcome.name == "Master.csv"
    assert outcome.moved_to == drop / PROCESSED / "Master.csv"
    assert outcome.report is not None and outcome.report.rows_imported == 11


def test_drop_folder_keeps_a_second_file_of_the_same_name(rt: Runtime, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    for _ in range(2):
        settled(Path(shutil.copy(FIXTURES / "asterisk_master.csv", drop / "Master.csv")))
        process_drop_folder(rt, drop, settle_seconds=1)
    kept = sorted(p.name for p in (drop / PROCESSED).iterdir())
    assert len(kept) == 2 and kept[0].startswith("Master-") and kept[1] == "Master.csv"


def test_schedule_polls_the_drop_folder_only_when_one_is_set(rt: Runtime, tmp_path: Path) -> None:
    assert "calls-drop" not in default_tasks(rt)
    rt.settings = rt.settings.model_copy(update={"calls_drop": str(tmp_path)})
    assert default_tasks(rt)["calls-drop"].every_seconds == 10


# --- uploads (the API's job) -----------------------------------------------------------------


def test_upload_is_imported_by_its_job_and_its_status_readable(
    rt: Runtime, references: dict[str, str], tmp_path: Path
) -> None:
    rt.settings = rt.settings.model_copy(update={"spool_dir": str(tmp_path / "var" / "spool")})
    data = io.BytesIO((FIXTURES / "asterisk_master.csv").read_bytes())

    import_id = queue_upload(rt, data, "../../etc/Master.csv", "asterisk")

    assert isinstance(rt.jobs, InProcessQueue)
    assert rt.jobs.join(timeout=60)
    report = import_status(rt, import_id)
    assert report is not None
    assert (report.status, report.source, report.file_name) == (
        CallImportStatus.DONE,
        "api",
        "Master.csv",
    )
    assert (report.rows_imported, report.flags) == (11, 8)
    assert report.as_dict()["flags"]["phone_barred"] == 3
    assert list((tmp_path / "var" / "call-uploads").iterdir()) == []  # the copy is removed
    import_call_log(import_id)  # a retried job finds it done and does nothing
    assert counts(rt) == (11, 8)
    assert import_status(rt, 999_999) is None


def test_an_upload_that_cannot_be_queued_is_marked_failed_and_its_copy_removed(
    settings: Settings, tmp_path: Path
) -> None:
    # Redis configured but not answering (nothing listens on port 9): the enqueue fails.
    down = bootstrap(settings.model_copy(update={"redis_url": "redis://127.0.0.1:9/0"}))
    try:
        data = io.BytesIO((FIXTURES / "asterisk_master.csv").read_bytes())
        with pytest.raises(ImportNotQueued, match="could not be queued"):
            queue_upload(down, data, "Master.csv", "asterisk")
        with down.uow() as session:
            (row,) = session.scalars(select(CallImport))
            assert (row.status, row.stored_path) == (CallImportStatus.FAILED, None)
        assert list(uploads_dir(down).iterdir()) == []
    finally:
        down.close()


def test_upload_with_an_unknown_format_is_refused_at_once(rt: Runtime) -> None:
    with pytest.raises(CallImportError, match="unknown call-log format"):
        queue_upload(rt, io.BytesIO(b""), "calls.csv", "nope")


# --- live call events ------------------------------------------------------------------------


def test_live_call_is_decided_recorded_and_answered_with_its_flags(
    rt: Runtime, references: dict[str, str]
) -> None:
    at = dt.datetime(2026, 3, 30, 13, 0, tzinfo=dt.UTC)
    call = CallInput("07700 900202", "01632 960100", at, 95, "inbound", external_id="ev-1")

    result = record_call(rt, call, **PLATFORM)

    assert (result.outcome, result.restriction, result.duplicate) == (
        "flag",
        references[BARRED_CALLER],
        False,
    )
    assert [(f.kind, f.restriction, f.mode) for f in result.flags] == [
        ("phone_barred", references[BARRED_CALLER], "enforce")
    ]
    assert result.as_dict()["flags"][0]["detail"].startswith(references[BARRED_CALLER])
    with rt.uow() as session:
        event = session.get(ContactEvent, result.event_id)
        assert event is not None
        assert (event.source, event.source_key) == ("call_api", "ev-1")

    repeat = record_call(rt, call, **PLATFORM)  # the platform retried after a time-out
    assert (repeat.event_id, repeat.duplicate) == (result.event_id, True)
    assert repeat.flags == result.flags
    assert counts(rt) == (1, 1)


def test_live_call_counts_calls_already_imported(rt: Runtime, references: dict[str, str]) -> None:
    import_file(rt, FIXTURES / "asterisk_clock_changes.csv", "asterisk")  # 2 calls on 29 Mar
    at = dt.datetime(2026, 3, 29, 10, 30, tzinfo=dt.UTC)  # 11:30 BST, inside the window
    result = record_call(rt, CallInput("07700900101", "020 7946 0999", at, 60), **PLATFORM)
    assert [f.kind for f in result.flags] == ["over_call_limit"]
    assert "call 3 this day; the limit is 2" in result.flags[0].detail


def test_live_withheld_and_outbound_calls_are_recorded_unflagged(
    rt: Runtime, references: dict[str, str]
) -> None:
    at = dt.datetime(2026, 3, 30, 13, 0, tzinfo=dt.UTC)
    withheld = record_call(rt, CallInput("anonymous", "01632 960100", at, 30), **PLATFORM)
    assert (withheld.caller, withheld.caller_state, withheld.flags) == (None, "withheld", [])
    outbound = record_call(
        rt, CallInput("01632 960100", "07700 900202", at, 30, Direction.OUTBOUND), **PLATFORM
    )
    assert (outbound.outcome, outbound.flags) == ("allow", [])
    assert counts(rt) == (2, 0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (CallInput("07700900202", "01632960100", dt.datetime(2026, 3, 30, 13)), "time zone"),
        (
            CallInput("07700900202", "01632960100", dt.datetime(2026, 3, 30, tzinfo=dt.UTC), -1),
            "duration_seconds",
        ),
        (
            CallInput("1", "2", dt.datetime(2026, 3, 30, tzinfo=dt.UTC), direction="sideways"),
            "direction",
        ),
        (CallInput("1", "2", dt.datetime(2099, 1, 1, tzinfo=dt.UTC)), "future"),
        (CallInput("1", "2", dt.datetime(1, 1, 1, tzinfo=dt.UTC)), "before 2000"),
    ],
)
def test_live_call_that_cannot_be_a_call_is_refused(
    rt: Runtime, call: CallInput, message: str
) -> None:
    with pytest.raises(CallInputError, match=message):
        record_call(rt, call, **PLATFORM)
    assert counts(rt) == (0, 0)


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CCR_")}
    return {
        **clean,
        "CCR_DATABASE_URL": database_url,
        "CCR_CONFIG": str(ROOT / "config" / "ccr.toml"),
        "CCR_DOWNSTREAM": f"maildir:{tmp_path / 'mail'}",
        "CCR_LOG_LEVEL": "WARNING",
    }


def ccr(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CCR, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_ccr_calls_import_prints_a_summary_with_flag_counts(
    env: dict[str, str], references: dict[str, str]
) -> None:
    done = ccr(env, "calls", "import", str(FIXTURES / "asterisk_broken.csv"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:4] == [
        "asterisk_broken.csv: done (import 1, format asterisk, encoding utf-8)",
        "rows read: 9; imported: 4; duplicates skipped: 0; bad rows: 5",
        "flags: phone_barred 1",
        "line 2: start: '30/03/2026 09:05' is not a date and time as %Y-%m-%d %H:%M:%S",
    ]
    again = ccr(
        env, "calls", "import", str(FIXTURES / "asterisk_broken.csv"), "--format", "asterisk"
    )
    assert "imported: 0; duplicates skipped: 4" in again.stdout


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("calls", "import", "/nonexistent/Master.csv"), "/nonexistent/Master.csv: no such file"),
        (
            ("calls", "import", str(FIXTURES / "teams_pstn.csv"), "--format", "avaya"),
            "unknown call-log format 'avaya' (known: asterisk, generic, teams-pstn)",
        ),
    ],
)
def test_ccr_calls_import_refuses_bad_input_in_one_line(
    env: dict[str, str], args: tuple[str, ...], error: str
) -> None:
    refused = ccr(env, *args)
    assert refused.returncode == 2
    assert refused.stderr == f"ccr: error: {error}\n"


def test_ccr_calls_formats_lists_the_presets(env: dict[str, str]) -> None:
    listed = ccr(env, "calls", "formats")
    assert listed.returncode == 0, listed.stderr
    names = [line.split("\t")[0] for line in listed.stdout.splitlines()]
    assert names == ["asterisk", "generic", "teams-pstn"]


def test_flag_counts_agree_with_the_database(rt: Runtime, references: dict[str, str]) -> None:
    reports = [
        import_file(rt, FIXTURES / name) for name in ("asterisk_master.csv", "teams_pstn.csv")
    ]
    with rt.uow() as session:
        stored = Counter(kind.value for kind in session.scalars(select(Flag.kind)))
    assert stored == sum((Counter(r.flag_counts) for r in reports), Counter())


# --- two imports recording the same call at once ---------------------------------------------


def test_a_call_recorded_by_another_import_meanwhile_is_skipped_not_failed(
    rt: Runtime, database_url: str
) -> None:
    """PostgreSQL's fast path COPYs a batch straight in. A call another process records
    meanwhile makes the COPY wait, then fail on the unique constraint; the batch is then
    stored the careful way, skipping that call, and nothing is lost."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the COPY path is PostgreSQL's")
    now = dt.datetime.now(dt.UTC)
    reasons = '[{"rule": "restricted_sender", "reason": "No restriction applies."}]'

    def row(key: str) -> tuple[object, ...]:
        """A contact event in gateway.store.calls.EVENT_COLUMNS order."""
        return (
            *(now, "phone", "inbound", "call_log", key),
            *(None, None, "+441632960555", "+441632960100", None),
            *("allow", None, None, reasons, 60, now),
        )

    inserted_first = threading.Event()
    may_commit = threading.Event()

    def other_import() -> None:
        with rt.uow() as session:
            insert_new_events(session, [row("same-call")], duplicates_likely=False)
            inserted_first.set()
            may_commit.wait(10)

    other = threading.Thread(target=other_import)
    other.start()
    assert inserted_first.wait(10)
    threading.Timer(0.5, may_commit.set).start()  # commit while this import's COPY waits
    with rt.uow() as session:
        new = insert_new_events(
            session, [row("same-call"), row("another-call")], duplicates_likely=False
        )
    other.join(10)

    assert list(new) == ["another-call"]
    with rt.uow() as session:
        keys = session.scalars(select(ContactEvent.source_key).order_by(ContactEvent.id)).all()
    assert keys == ["same-call", "another-call"]
