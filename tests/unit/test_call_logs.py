"""Reading call logs without a database: mappings, cells, times, encodings, rows."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.calls.call import BadRow, Call
from gateway.calls.formats import (
    CallFormatError,
    available_formats,
    load_format,
    read_format_file,
)
from gateway.calls.reader import (
    SNIFF_BYTES,
    CallLogError,
    CallLogFile,
    TimestampParser,
    local_to_utc,
    parse_duration,
    read_calls,
    sniff_encoding,
)
from gateway.settings import Settings, SettingsError, load_settings
from routing.engine import Contact, RoutingPolicy, decide
from routing.enums import (
    Category,
    Channel,
    Direction,
    EmailMeasure,
    IdentityKind,
    Mode,
    PhoneMeasure,
    Stage,
)
from routing.identity import normalise_phone
from routing.snapshot import RegisterSnapshot, RestrictionTerms
from routing.windows import WindowSchedule, england_and_wales_bank_holidays

LONDON = ZoneInfo("Europe/London")
SETTINGS = Settings()


# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("271", 271),
        (" 271 ", 271),
        ("271.4", 271),
        ("271.5", 272),
        ("00:04:31", 271),
        ("4:31", 271),
        ("1:02:05", 3725),
        ("26:00:00", 93600),
    ],
)
def test_duration_in_seconds_or_as_a_clock(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "-5", "1:60:00", "4:5", "1e3", "00:04:3"])
def test_duration_that_is_neither_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not"):
        parse_duration(text)


def test_duration_style_is_enforced_when_the_format_says() -> None:
    assert parse_duration("00:04:31", "hh:mm:ss") == 271
    with pytest.raises(ValueError, match="not a number of seconds"):
        parse_duration("00:04:31", "seconds")
    with pytest.raises(ValueError, match="h:mm:ss"):
        parse_duration("271", "hh:mm:ss")


# --- times -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "expected_utc", "note"),
    [
        ("2026-03-29 00:59:59", "2026-03-29 00:59:59", None),  # last second of GMT
        ("2026-03-29 01:30:00", "2026-03-29 01:30:00", "skipped"),  # never on the clock
        ("2026-03-29 02:00:00", "2026-03-29 01:00:00", None),  # BST
        ("2026-10-25 00:59:59", "2026-10-24 23:59:59", None),  # BST
        ("2026-10-25 01:30:00", "2026-10-25 00:30:00", "ambiguous"),  # first of two: BST
        ("2026-10-25 02:00:00", "2026-10-25 02:00:00", None),  # GMT
    ],
)
def test_local_times_on_clock_change_days(local: str, expected_utc: str, note: str | None) -> None:
    naive = dt.datetime.fromisoformat(local)
    expected = dt.datetime.fromisoformat(expected_utc).replace(tzinfo=dt.UTC)
    assert local_to_utc(naive, LONDON) == (expected, note)
    # The parser's per-hour shortcut gives the same answer.
    assert TimestampParser("%Y-%m-%d %H:%M:%S", LONDON)(local) == (expected, note)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("iso", "2026-03-29T08:59:59Z", "2026-03-29T08:59:59+00:00"),
        ("iso", "2026-03-29T08:59:59.1234567Z", "2026-03-29T08:59:59.123456+00:00"),
        ("iso", "2026-07-01T10:00:00+01:00", "2026-07-01T09:00:00+00:00"),
        ("iso", "2026-07-01 10:00:00", "2026-07-01T09:00:00+00:00"),  # London summer time
        ("epoch", "1774774710", "2026-03-29T08:58:30+00:00"),
        ("%d/%m/%Y %H:%M", "29/03/2026 10:15", "2026-03-29T09:15:00+00:00"),
    ],
)
def test_timestamp_formats(pattern: str, text: str, expected: str) -> None:
    moment, _note = TimestampParser(pattern, LONDON)(text)
    assert moment.isoformat() == expected


def test_a_time_in_another_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="is not a date and time as %Y-%m-%d %H:%M:%S"):
        TimestampParser("%Y-%m-%d %H:%M:%S", LONDON)("2026-02-30 10:00:00")


# --- encodings -------------------------------------------------------------------------------


def test_encoding_is_sniffed_from_the_first_bytes() -> None:
    assert sniff_encoding(b"\xef\xbb\xbfcall_id,caller\n") == "utf-8-sig"
    assert sniff_encoding("Siân,Zoë\n".encode()) == "utf-8"
    assert sniff_encoding("Siân,Zoë\n".encode("cp1252")) == "cp1252"
    # A character cut in two by the end of the sample is still UTF-8.
    assert sniff_encoding("Zoë".encode()[:-1]) == "utf-8"
    with pytest.raises(CallLogError, match="UTF-16"):
        sniff_encoding("call_id".encode("utf-16"))


def test_windows_1252_after_the_first_mebibyte_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    ascii_part = b"x" * (SNIFF_BYTES + 10) + b"\n"
    path.write_bytes(ascii_part + "Zoë O’Brien\n".encode("cp1252"))
    with CallLogFile(path) as opened:
        text = opened.text.read()
        assert opened.encoding == "utf-8"
        assert opened.sha256() == __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    assert text.endswith("Zoë O’Brien\n")


# --- rows ------------------------------------------------------------------------------------


def asterisk_line(*, uniqueid: bool = True, userfield: bool = True) -> str:
    cells = [
        "",
        "07700900101",
        "02079460999",
        "from-pstn",
        '"Jo" <07700900101>',
        "PJSIP/trunk-1",
        "PJSIP/2101-2",
        "Dial",
        "PJSIP/2101,30",
        "2026-11-24 10:15:00",
        "2026-11-24 10:15:04",
        "2026-11-24 10:20:04",
    ]
    line = ",".join('"' + c.replace('"', '""') + '"' for c in cells) + ',304,300,"ANSWERED"'
    line += ',"DOCUMENTATION"'
    if uniqueid:
        line += ',"1795515300.12"'
        if userfield:
            line += ',""'
    return line + "\n"


@pytest.mark.parametrize(
    ("uniqueid", "userfield", "call_id"),
    [(True, True, "1795515300.12"), (True, False, "1795515300.12"), (False, False, None)],
)
def test_asterisk_rows_with_or_without_the_optional_trailing_columns(
    uniqueid: bool, userfield: bool, call_id: str | None
) -> None:
    stream = io.StringIO(asterisk_line(uniqueid=uniqueid, userfield=userfield))
    (row,) = read_calls(stream, load_format("asterisk", SETTINGS))
    assert row == Call(
        caller="07700900101",
        called="02079460999",
        started_at=dt.datetime(2026, 11, 24, 10, 15, tzinfo=dt.UTC),
        duration_seconds=300,  # billsec: talk time, not ring time
        direction=Direction.INBOUND,
        call_id=call_id,
        line=1,
    )


def test_asterisk_direction_comes_from_the_dialplan_context() -> None:
    fmt = load_format("asterisk", SETTINGS)
    classify = fmt.direction.classify
    assert classify("from-pstn") is Direction.INBOUND
    assert classify("from-trunk-sipgate") is Direction.INBOUND
    assert classify("From-Internal") is Direction.OUTBOUND
    assert classify("outrt-1") is Direction.OUTBOUND
    assert classify("ext-queues") is Direction.INBOUND  # the preset's default


def test_rows_report_their_first_line_even_across_quoted_newlines() -> None:
    text = (
        "call_id,started_at,caller,called,duration,direction\n"
        'A-1,2026-03-30 09:00:00,01632 960555,"01632\n960100",60,inbound\n'
        "A-2,yesterday,01632 960555,01632 960100,60,inbound\n"
    )
    first, second = read_calls(io.StringIO(text), load_format("generic", SETTINGS))
    assert isinstance(first, Call) and first.line == 2
    assert second == BadRow(4, "started_at: 'yesterday' is not an ISO 8601 date and time")


# --- mappings --------------------------------------------------------------------------------


def test_every_preset_loads() -> None:
    assert list(available_formats(SETTINGS)) == ["asterisk", "generic", "teams-pstn"]
    for path in available_formats(SETTINGS).values():
        assert read_format_file(path).description


GOOD_MAPPING = """
header = false
columns = ["when", "from", "to"]
[fields]
caller = "from"
called = "to"
started_at = "when"
[direction]
default = "inbound"
"""


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (("", "colour = 'blue'\n"), "unknown key 'colour'"),
        (('called = "to"', 'called = "dialled"'), "fields.called: column 'dialled' is not one"),
        (('default = "inbound"', 'default = "sideways"'), "direction.default: Input should be"),
        (("[direction]", "[timestamp]\ntimezone = 'Mars/Olympus'\n[direction]"), "unknown time"),
        (("[direction]", "[timestamp]\nformat = '%H:%M'\n[direction]"), "timestamp.format:"),
        (("[direction]", "[duration]\nformat = 'minutes'\n[direction]"), "duration.format:"),
        (('default = "inbound"', 'inbound = ["in"]\noutbound = ["IN"]'), "both inbound and"),
        (('caller = "from"\n', ""), "fields.caller is required"),
        (("header = false", "header = false\nphone_region = 'gb'"), "two-letter country"),
    ],
)
def test_a_wrong_mapping_is_refused_in_one_line(
    tmp_path: Path, change: tuple[str, str], error: str
) -> None:
    path = tmp_path / "council.toml"
    old, new = change
    text = GOOD_MAPPING.replace(old, new, 1) if old else new + GOOD_MAPPING
    path.write_text(text)
    with pytest.raises(CallFormatError) as refused:
        read_format_file(path)
    message = str(refused.value)
    assert message.startswith(f"call-log format {path}: ")
    assert error in message
    assert "\n" not in message


def test_a_good_mapping_loads_by_path(tmp_path: Path) -> None:
    path = tmp_path / "council.toml"
    path.write_text(GOOD_MAPPING)
    fmt = load_format(str(path), SETTINGS)
    assert (fmt.name, fmt.header, fmt.direction.default) == ("council", False, Direction.INBOUND)


def test_a_councils_own_folder_adds_to_the_presets(tmp_path: Path) -> None:
    (tmp_path / "council.toml").write_text(GOOD_MAPPING)
    settings = Settings(call_formats_dir=str(tmp_path))
    assert list(available_formats(settings)) == ["asterisk", "council", "generic", "teams-pstn"]
    with pytest.raises(CallFormatError, match=r"unknown call-log format 'x' \(known: asterisk, "):
        load_format("x", settings)


def test_the_drop_folder_setting_must_be_a_folder(tmp_path: Path) -> None:
    a_file = tmp_path / "calls.csv"
    a_file.write_text("")
    with pytest.raises(SettingsError, match=r"setting calls_drop \(CCR_CALLS_DROP\): expected a"):
        load_settings({"CCR_CALLS_DROP": str(a_file), "CCR_CONFIG": "/dev/null"})
    assert load_settings({"CCR_CALLS_DROP": str(tmp_path), "CCR_CONFIG": "/dev/null"}).calls_drop


# --- the importer's reuse of decisions -------------------------------------------------------


def test_calls_no_restriction_applies_to_are_decided_alike_whatever_their_details() -> None:
    """The call recorder asks the engine once per batch for each (direction, caller state)
    when no restriction applies to the caller, and reuses the answer. That is sound only
    while the engine's answer for such calls ignores time, line, duration and counts: this
    test fails the day it does not, and the reuse must then go."""
    barred = RestrictionTerms(
        id=1,
        reference="CCR-2026-0001",
        customer_id=1,
        mode=Mode.ENFORCE,
        stage=Stage.STAGE1,
        category=Category.C,
        email_measure=EmailMeasure.NONE,
        phone_measure=PhoneMeasure.WINDOWS,
        starts_on=dt.date(2026, 1, 1),
        windows=WindowSchedule.parse("Tue 10:00-12:00"),
        max_calls_per_day=1,
        max_call_minutes=1,
        spoc_phone="+442079460999",
    )
    # The restricted customer's number, as a caller and as a line called (an outbound call).
    snapshot = RegisterSnapshot.build(1, [((IdentityKind.PHONE, "+447700900202"), barred)])
    policy = RoutingPolicy(
        "r@example.org", "ig@example.org", "ccr", holidays=england_and_wales_bank_holidays()
    )
    variations = [
        (at, to, seconds, earlier)
        for at in (
            dt.datetime(2026, 3, 29, 0, 59, tzinfo=dt.UTC),
            dt.datetime(2026, 8, 31, 9, 30, tzinfo=dt.UTC),  # a bank holiday
            dt.datetime(2026, 11, 24, 10, 30, tzinfo=dt.UTC),
        )
        for to in ("+442079460999", "+441632960100", "s")
        for seconds in (None, 0, 7200)
        for earlier in (0, 50)
    ]
    callers = {
        (Direction.INBOUND, "ok"): "01632 960555",
        (Direction.INBOUND, "withheld"): "anonymous",
        (Direction.INBOUND, "unparseable"): "Internal Revenue Service",
        (Direction.OUTBOUND, "ok"): "+447700900202",  # the restricted one: outbound all the same
        (Direction.OUTBOUND, "withheld"): "",
    }
    for (direction, state), raw in callers.items():
        caller = normalise_phone(raw)
        assert caller.state == state
        answers = {
            decide(
                Contact(
                    channel=Channel.PHONE,
                    senders=(caller,),
                    to=to,
                    at=at,
                    direction=direction,
                    duration_seconds=seconds,
                    calls_earlier_today=earlier,
                    calls_earlier_this_week=earlier,
                ),
                snapshot,
                policy,
            )
            for at, to, seconds, earlier in variations
        }
        assert len(answers) == 1, (direction, state)
        (answer,) = answers
        assert answer.restriction is None and answer.flags == ()
