"""Reading a call-log file as a stream: encoding, columns, times and durations, row by row.

Constant memory whatever the file's size: the csv module reads a text stream, one record at a
time, and nothing is kept once a row has been handed on. Each row becomes a `Call`, or a
`BadRow` saying which line and why; a bad row never stops the rows after it.

Encodings: a UTF-8 byte-order mark means UTF-8; otherwise the first MiB is tried as UTF-8
and the file is read as Windows-1252 (what Excel's plain "CSV" writes) if that fails. A file
that turns out not to be UTF-8 only after the first MiB has those bytes read as
Windows-1252 too (a codec error handler), rather than failing half-way.

Times: a time written without an offset is in the format's time zone (Europe/London by
default). On the clock-change days some local times are ambiguous or do not exist. The
choice, following PEP 495's fold=0: a repeated time (01:00-01:59 on the last Sunday of
October) is read as its first occurrence, in BST; a skipped time (01:00-01:59 on the last
Sunday of March, which a correct clock never shows) is read with the offset in force before
the change (GMT), i.e. as the instant one hour later on the BST clock. Each such row is
counted in the import's notes, so nobody is left guessing which rows were affected.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, TextIO
from zoneinfo import ZoneInfo

from gateway.calls.call import BadRow, Call
from gateway.calls.formats import EPOCH, ISO, CallFormat, CallFormatError
from routing.enums import Direction
from routing.plausible import MAX_CALL_SECONDS, contact_time_problem

SNIFF_BYTES = 1 << 20
READ_BUFFER = 1 << 20
MAX_COLUMNS = 200  # a "row" wider than this is not a call record
# Rows a little ahead of this machine's clock are a telephony clock's error, not a misread.
CLOCK_ERROR = dt.timedelta(days=1)

_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_FALLBACK_ERRORS = "ccr-cp1252-fallback"

_FAST_LOCAL = "%Y-%m-%d %H:%M:%S"  # Asterisk's format: parsed with fromisoformat, ~20x faster
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")  # .NET writes 7 fractional digits
_SECONDS = re.compile(r"\d+(?:\.\d+)?")
_CLOCK = re.compile(r"(?:(\d+):)?([0-5]?\d):([0-5]\d)")


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Decode bytes that are not UTF-8 as Windows-1252 instead of failing."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start : exc.end].decode("cp1252", errors="replace"), exc.end


codecs.register_error(_FALLBACK_ERRORS, _cp1252_fallback)


class CallLogError(ValueError):
    """The file as a whole cannot be read (not a row problem); one line, for people."""


# --- bytes to text --------------------------------------------------------------------------


def sniff_encoding(head: bytes) -> str:
    """utf-8-sig, utf-8 or cp1252, judged from the first bytes of the file."""
    if head.startswith(_UTF8_BOM):
        return "utf-8-sig"
    if head.startswith(_UTF16_BOMS):
        raise CallLogError("the file is UTF-16; save it as CSV UTF-8 (or plain CSV) instead")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut in two at the end of the sample is still UTF-8.
        truncated = exc.reason == "unexpected end of data" and exc.end == len(head)
        return "utf-8" if truncated else "cp1252"
    return "utf-8"


class _HashingReader(io.RawIOBase):
    """Passes the file's bytes through, hashing them on the way (one read of the file)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        size = self._raw.readinto(buffer) or 0
        self.digest.update(memoryview(buffer)[:size])
        return size


class CallLogFile:
    """An open call-log file as text, with its encoding and (once read) its SHA-256."""

    def __init__(self, path: Path, encoding: str = "auto") -> None:
        self.path = path
        # Unbuffered underneath and big reads on top: every read releases the interpreter lock,
        # and the importer's writer thread takes it each time, so fewer reads mean less waiting.
        self._binary = path.open("rb", buffering=0)
        try:
            head = self._binary.read(SNIFF_BYTES)
            self._binary.seek(0)
            self.encoding = sniff_encoding(head) if encoding == "auto" else encoding
            if encoding == "utf-8" and head.startswith(_UTF8_BOM):
                self.encoding = "utf-8-sig"
        except BaseException:
            self._binary.close()
            raise
        self._hashing = _HashingReader(self._binary)
        errors = _FALLBACK_ERRORS if self.encoding.startswith("utf-8") else "replace"
        self.text: TextIO = io.TextIOWrapper(
            io.BufferedReader(self._hashing, READ_BUFFER),
            encoding=self.encoding,
            errors=errors,
            newline="",  # the csv module handles line endings, also inside quoted cells
        )
        with contextlib.suppress(AttributeError):
            self.text._CHUNK_SIZE = READ_BUFFER  # type: ignore[attr-defined]  # default 8 KiB

    def sha256(self) -> str:
        """The hash of every byte read so far (all of them, once the rows are exhausted)."""
        return self._hashing.digest.hexdigest()

    def close(self) -> None:
        self.text.close()
        self._binary.close()

    def __enter__(self) -> CallLogFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# --- text to rows ---------------------------------------------------------------------------


class _CsvReader(Protocol):
    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...
    def __next__(self) -> list[str]: ...


def read_calls(
    stream: TextIO, fmt: CallFormat, notes: list[str] | None = None
) -> Iterator[Call | BadRow]:
    """Every record of the stream (after any header) as a Call or a BadRow, in file order.

    Raises CallLogError when the header lacks a column the format needs (nothing could be
    read). Optional columns missing from the header are mentioned in ``notes``.
    """
    records = _records(csv.reader(stream, delimiter=fmt.delimiter))
    notes = notes if notes is not None else []
    columns = _column_indexes(records, fmt, notes) if fmt.header else None
    parse = _RowParser(fmt, columns)
    for line, record in records:
        yield record if isinstance(record, BadRow) else parse(line, record)


def _records(reader: _CsvReader) -> Iterator[tuple[int, list[str] | BadRow]]:
    """(first line of the record, cells), skipping blank lines; csv errors as BadRows."""
    line_after = 0
    while True:
        start = line_after + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line_after = reader.line_num
            yield start, BadRow(start, f"not readable as CSV ({exc})")
            continue
        line_after = reader.line_num
        if any(record) and (len(record) > 1 or record[0].strip()):
            yield start, record  # blank and whitespace-only lines are skipped quietly


def _column_indexes(
    records: Iterator[tuple[int, list[str] | BadRow]], fmt: CallFormat, notes: list[str]
) -> dict[str, int]:
    """Field -> column index, from the header row (the first record, consumed here)."""
    for line, record in records:
        if isinstance(record, BadRow):
            raise CallLogError(f"line {line}: the header row is {record.reason}")
        header = {_header_name(cell): index for index, cell in reversed(list(enumerate(record)))}
        found, missing = {}, []
        for field, column in fmt.fields.named().items():
            if _header_name(column) in header:
                found[field] = header[_header_name(column)]
            elif _needed(field, fmt):
                missing.append(column)
            else:
                notes.append(f"no {column!r} column: {_WITHOUT[field]}")
        if missing:
            raise CallLogError(
                f"the header row (line {line}) has no column {missing[0]!r}, which format "
                f"{fmt.name!r} needs; is this the right format?"
            )
        return found
    raise CallLogError("the file is empty: no header row")


_WITHOUT = {
    "call_id": "calls are recognised on re-import by their time, numbers and duration",
    "duration": "call lengths are unknown, so none is flagged over_duration",
    "direction": "every call is taken as the format's default direction",
}


def _needed(field: str, fmt: CallFormat) -> bool:
    # A missing id or duration column loses detail; a missing direction has a default or not.
    if field in ("call_id", "duration"):
        return False
    return not (field == "direction" and fmt.direction.default is not None)


def _header_name(cell: str) -> str:
    return cell.strip().lstrip("\ufeff").casefold()


def header_matches(record: list[str], fmt: CallFormat) -> bool:
    """True when this first row is a header with every column the format needs."""
    header = {_header_name(cell) for cell in record}
    return all(
        _header_name(column) in header
        for field, column in fmt.fields.named().items()
        if _needed(field, fmt)
    )


class _RowParser:
    """Turns one record's cells into a Call or a BadRow, for one format."""

    def __init__(self, fmt: CallFormat, columns: dict[str, int] | None) -> None:
        if columns is None:
            position = {name: index for index, name in enumerate(fmt.columns)}
            columns = {field: position[c] for field, c in fmt.fields.named().items()}
        self._fmt = fmt
        self._caller = columns["caller"]
        self._called = columns["called"]
        self._started = columns["started_at"]
        self._duration = columns.get("duration")
        self._direction = columns.get("direction")
        self._call_id = columns.get("call_id")
        # Every mapped column but the id must be there (Asterisk may leave uniqueid off).
        self._needed = 1 + max(index for f, index in columns.items() if f != "call_id")
        self._max_columns = len(fmt.columns) if not fmt.header else MAX_COLUMNS
        self._time = TimestampParser(fmt.timestamp.format, fmt.zone)
        self._duration_style = fmt.duration.format
        self._directions: dict[str, Direction | None] = {}
        self._latest = dt.datetime.now(dt.UTC) + CLOCK_ERROR

    def __call__(self, line: int, cells: list[str]) -> Call | BadRow:
        count = len(cells)
        if count < self._needed:
            return BadRow(line, f"{count} column(s); this format needs {self._needed}")
        if count > self._max_columns:
            return BadRow(line, f"{count} columns; this format has {self._max_columns}")
        # Every column read below but the id is within _needed, so indexing is safe.
        fields = self._fmt.fields
        try:
            started_at, clock_change = self._time(cells[self._started])
        except ValueError as exc:
            return BadRow(line, f"{fields.started_at}: {exc}")
        except OverflowError:  # a time at the very edge of the calendar, moved by its zone
            return BadRow(line, f"{fields.started_at}: not a date a call log can hold")
        if problem := contact_time_problem(started_at, self._latest):
            return BadRow(line, f"{fields.started_at}: {started_at.date().isoformat()} {problem}")
        try:
            duration = self._duration_of(cells)
        except ValueError as exc:
            return BadRow(line, f"{fields.duration}: {exc}")
        direction = self._direction_of(cells)
        if direction is None:
            return BadRow(line, f"{fields.direction}: not a direction this format knows")
        call_id = None
        if self._call_id is not None and self._call_id < count:
            call_id = cells[self._call_id].strip() or None
        return Call(
            cells[self._caller],
            cells[self._called],
            started_at,
            duration,
            direction,
            call_id,
            None,
            line,
            clock_change,
        )

    def _duration_of(self, cells: list[str]) -> int | None:
        if self._duration is None:
            return None
        text = cells[self._duration]
        if text.isdigit():
            seconds = int(text)  # the common case, first
        elif not text.strip():
            return None  # not recorded: unknown rather than zero
        else:
            seconds = parse_duration(text, self._duration_style)
        if seconds > MAX_CALL_SECONDS:
            raise ValueError(f"{text!r} is longer than any call (over 24 hours)")
        return seconds

    def _direction_of(self, cells: list[str]) -> Direction | None:
        value = cells[self._direction] if self._direction is not None else ""
        try:
            return self._directions[value]
        except KeyError:
            pass
        # A few distinct values (contexts, call types) repeat on every row: match each once.
        if len(self._directions) > 10_000:
            self._directions.clear()
        direction = self._directions[value] = self._fmt.direction.classify(value)
        return direction


# --- cells ----------------------------------------------------------------------------------


def parse_duration(text: str, style: str = "auto") -> int:
    """Seconds from "271", "271.4" (rounded) or "h:mm:ss" / "mm:ss"; ValueError otherwise.

    ``style`` is "seconds", "hh:mm:ss" or "auto" (a colon means a clock-style duration).
    """
    value = text.strip()
    if value.isdigit() and style != "hh:mm:ss":
        return int(value)  # the common case, without a regular expression
    clock = style == "hh:mm:ss" or (style == "auto" and ":" in value)
    if clock:
        match = _CLOCK.fullmatch(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration as h:mm:ss or mm:ss")
        hours, minutes, seconds = (int(part or 0) for part in match.groups())
        return hours * 3600 + minutes * 60 + seconds
    if not _SECONDS.fullmatch(value):
        raise ValueError(f"{value!r} is not a number of seconds")
    return round(float(value))


class TimestampParser:
    """Reads one format's times; returns (aware UTC datetime, clock-change note or None)."""

    def __init__(self, pattern: str, zone: ZoneInfo) -> None:
        self._pattern = pattern
        self._zone = zone
        self._utc = zone.key == "UTC"
        self._iso_like = pattern in (ISO, _FAST_LOCAL)
        # UTC offset by local "YYYY-MM-DD HH" for hours with no clock change in them: a log's
        # rows share a few thousand hours, and the zone lookups cost more than the rest.
        self._hour_offsets: dict[str, dt.timedelta | None] = {}

    def __call__(self, text: str) -> tuple[dt.datetime, str | None]:
        value = text.strip()
        if self._iso_like and len(value) == 19:
            # "YYYY-MM-DD HH:MM:SS" without an offset, the common case: read as if it were
            # UTC (cheaper than attaching a zone afterwards), then moved by the zone's offset.
            try:
                wall = dt.datetime.fromisoformat(value + "+00:00")
            except ValueError:
                pass  # the general path below words the error
            else:
                offset = _NO_OFFSET if self._utc else self._steady_offset(wall, value)
                if offset is not None:
                    return wall - offset, None
                return local_to_utc(wall.replace(tzinfo=None), self._zone)
        moment = self._parse(value)
        if moment.tzinfo is not None:
            return moment.astimezone(dt.UTC), None
        if self._utc:
            return moment.replace(tzinfo=dt.UTC), None
        offset = self._steady_offset(moment, value)
        if offset is not None:
            return (moment - offset).replace(tzinfo=dt.UTC), None
        return local_to_utc(moment, self._zone)

    def _steady_offset(self, moment: dt.datetime, text: str) -> dt.timedelta | None:
        """The offset for the moment's hour when no clock change falls in it, else None."""
        # "YYYY-MM-DD HH" straight from the text when it is written that way (cheapest).
        dashed = len(text) >= 13 and text[4] == "-" and text[7] == "-" and text[10] in " T"
        key = text[:10] + text[11:13] if dashed else moment.strftime("%Y-%m-%d%H")
        try:
            return self._hour_offsets[key]
        except KeyError:
            pass
        if len(self._hour_offsets) > 100_000:
            self._hour_offsets.clear()
        hour = moment.replace(minute=0, second=0, microsecond=0, tzinfo=None)
        first, first_note = local_to_utc(hour, self._zone)
        last, last_note = local_to_utc(hour.replace(minute=59, second=59), self._zone)
        steady = first_note is None and last_note is None and last - first == _HOUR_LESS
        offset = self._hour_offsets[key] = (hour - first.replace(tzinfo=None)) if steady else None
        return offset

    def _parse(self, value: str) -> dt.datetime:
        if self._pattern == EPOCH:
            try:
                return dt.datetime.fromtimestamp(float(value), dt.UTC)
            except (ValueError, OverflowError, OSError):
                raise ValueError(f"{value!r} is not a time in seconds since 1970") from None
        if self._pattern == ISO or (self._pattern == _FAST_LOCAL and len(value) == 19):
            try:
                return dt.datetime.fromisoformat(
                    _LONG_FRACTION.sub(r"\1", value) if len(value) > 26 else value
                )
            except ValueError:
                if self._pattern == ISO:
                    raise ValueError(f"{value!r} is not an ISO 8601 date and time") from None
        try:
            return dt.datetime.strptime(value, self._pattern)
        except ValueError:
            raise ValueError(f"{value!r} is not a date and time as {self._pattern}") from None


_HOUR_LESS = dt.timedelta(minutes=59, seconds=59)
_NO_OFFSET = dt.timedelta(0)


def local_to_utc(naive: dt.datetime, zone: ZoneInfo) -> tuple[dt.datetime, str | None]:
    """A wall-clock time in ``zone`` as UTC, with fold=0 at the clock changes (module doc)."""
    first = naive.replace(tzinfo=zone)
    offset = first.utcoffset()
    assert offset is not None
    utc = (naive - offset).replace(tzinfo=dt.UTC)
    if offset == naive.replace(tzinfo=zone, fold=1).utcoffset():
        return utc, None
    # The two folds disagree: the wall time is repeated (ambiguous) or never shown (skipped).
    shown = utc.astimezone(zone).replace(tzinfo=None)
    return utc, "ambiguous" if shown == naive else "skipped"


def first_record(stream: TextIO, delimiter: str) -> list[str] | None:
    """The first non-blank record of a stream (for recognising its format), or None."""
    for _line, record in _records(csv.reader(stream, delimiter=delimiter)):
        return None if isinstance(record, BadRow) else record
    return None


def recognise(path: Path, formats: list[CallFormat]) -> CallFormat:
    """The one format whose shape the file's first row fits; CallFormatError otherwise."""
    fits = []
    with CallLogFile(path) as opened:
        head = opened.text.read(SNIFF_BYTES // 4)
    for fmt in formats:
        record = first_record(io.StringIO(head), fmt.delimiter)
        if record is not None and _fits(record, fmt):
            fits.append(fmt)
    names = ", ".join(f.name for f in formats)
    if not fits:
        raise CallFormatError(
            f"{path.name}: its first row fits none of the call-log formats ({names}); "
            "name one with --format"
        )
    if len(fits) > 1:
        raise CallFormatError(
            f"{path.name}: its first row fits several formats "
            f"({', '.join(f.name for f in fits)}); name one with --format"
        )
    return fits[0]


def _fits(record: list[str], fmt: CallFormat) -> bool:
    if fmt.header:
        return header_matches(record, fmt)
    parsed = _RowParser(fmt, None)(1, record)
    return isinstance(parsed, Call)
