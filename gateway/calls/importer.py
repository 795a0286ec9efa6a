"""Importing a call-log file: read it as a stream, record its calls in batches, report.

Every way a file comes in (`ccr calls import`, the drop folder, an upload through the API)
goes through `import_file`, which keeps a `call_imports` row up to date as it goes: the API
reads an upload's progress and result from that row with `import_status`.

Rows pass through a small reordering window (a heap of `REORDER_WINDOW` rows) so calls are
decided in start-time order even though telephony systems write a call when it ends; that
keeps the daily and weekly call counts right for the calls already decided. A row that
arrives later than the window can reorder is still counted correctly itself, and the report
says how many there were.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import os
import queue
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gateway.calls.call import BadRow, Call
from gateway.calls.formats import (
    CallFormat,
    CallFormatError,
    load_all_formats,
    load_format,
)
from gateway.calls.reader import CallLogError, CallLogFile, read_calls, recognise
from gateway.calls.recorder import CallRecorder, DecidedBatch, StoredBatch
from gateway.runtime import Runtime, runtime
from gateway.store import calls as call_store
from gateway.store.tables import CallImport
from routing.enums import CallImportStatus
from routing.models import utcnow

log = logging.getLogger(__name__)

SOURCE = "call_log"  # contact_events.source of every call read from a file
BATCH_ROWS = 2_000  # calls per transaction
POSTGRESQL_WRITERS = 2  # connections storing batches at once (see _BatchWriter)
REORDER_WINDOW = 5_000
PROBLEMS_KEPT = 1_000  # bad rows listed in the report; rows_bad counts them all
# Called every batch with the rows read so far (the drop folder keeps its claim fresh).
Progress = Any


class CallImportError(ValueError):
    """The file cannot be imported at all (missing, unknown format, unreadable); one line."""


class ImportNotQueued(CallImportError):
    """An upload was stored but its job could not be queued (the queue is down): retry later."""


@dataclass
class ImportReport:
    """What happened to one file: the `call_imports` row, as the CLI and the API show it."""

    import_id: int
    file_name: str
    status: CallImportStatus
    source: str
    format: str | None = None
    encoding: str | None = None
    sha256: str | None = None
    rows_read: int = 0
    rows_imported: int = 0
    rows_duplicate: int = 0
    rows_bad: int = 0
    flag_counts: dict[str, int] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    created_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @classmethod
    def of(cls, row: CallImport) -> ImportReport:
        return cls(
            import_id=row.id,
            file_name=row.file_name,
            status=row.status,
            source=row.source,
            format=row.format,
            encoding=row.encoding,
            sha256=row.sha256,
            rows_read=row.rows_read,
            rows_imported=row.rows_imported,
            rows_duplicate=row.rows_duplicate,
            rows_bad=row.rows_bad,
            flag_counts=dict(row.flag_counts or {}),
            problems=list(row.problems or []),
            notes=list(row.notes or []),
            error=row.error,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )

    @property
    def flags(self) -> int:
        return sum(self.flag_counts.values())

    def problem_lines(self) -> list[str]:
        """The listed bad rows as "line N: reason"."""
        return [f"line {p['line']}: {p['reason']}" for p in self.problems]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (times in ISO 8601 UTC), for the API's upload status."""
        return {
            "id": self.import_id,
            "file_name": self.file_name,
            "status": self.status.value,
            "source": self.source,
            "format": self.format,
            "encoding": self.encoding,
            "sha256": self.sha256,
            "rows_read": self.rows_read,
            "rows_imported": self.rows_imported,
            "rows_duplicate": self.rows_duplicate,
            "rows_bad": self.rows_bad,
            "flags": dict(self.flag_counts),
            "problems": list(self.problems),
            "notes": list(self.notes),
            "error": self.error,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


# --- the public functions -------------------------------------------------------------------


def import_file(
    rt: Runtime,
    path: Path | str,
    format_name: str | None = None,
    *,
    source: str = "cli",
    import_id: int | None = None,
    file_name: str | None = None,
    progress: Progress = None,
) -> ImportReport:
    """Import one call-log file and return its report (also kept in `call_imports`).

    ``format_name`` is a format's name or a mapping file path; without it the format is
    recognised from the file's first row. ``import_id`` continues a queued import (an upload);
    ``file_name`` is the name to report when the file sits under another name.
    ``progress`` is called after each batch with the number of rows read so far.
    Raises CallImportError, after recording the import as failed, when the file cannot be
    read at all; bad rows are not errors: they are listed in the report.
    """
    path = Path(path)
    if import_id is None:
        import_id = create_import(
            rt, file_name or path.name, source=source, format_name=format_name
        )
    _mark_running(rt, import_id)
    try:
        if not path.is_file():
            raise CallImportError(f"{path}: no such file")
        fmt = _format_for(rt, path, format_name)
        report = _run(rt, import_id, path, fmt, progress)
    except (CallImportError, CallFormatError, CallLogError, UnicodeDecodeError, OSError) as exc:
        message = _one_line(exc)
        _mark_failed(rt, import_id, message)
        raise CallImportError(message) from None
    except BaseException as exc:
        _mark_failed(rt, import_id, f"stopped by an unexpected {type(exc).__name__}")
        raise
    return report


def import_status(rt: Runtime, import_id: int) -> ImportReport | None:
    """The report of one import (queued, running, done or failed), or None if there is none."""
    with rt.uow() as session:
        row = session.get(CallImport, import_id)
        return ImportReport.of(row) if row else None


def create_import(
    rt: Runtime,
    file_name: str,
    *,
    source: str,
    format_name: str | None = None,
    stored_path: Path | None = None,
) -> int:
    """Record an import about to happen (status queued); returns its id."""
    with rt.uow() as session:
        row = CallImport(
            file_name=_safe_name(file_name),
            stored_path=str(stored_path) if stored_path else None,
            format=format_name if format_name and not format_name.endswith(".toml") else None,
            source=source,
            status=CallImportStatus.QUEUED,
            rows_read=0,
            rows_imported=0,
            rows_duplicate=0,
            rows_bad=0,
            flag_counts={},
            problems=[],
            notes=[],
        )
        session.add(row)
        session.flush()
        return row.id


def uploads_dir(rt: Runtime) -> Path:
    """Where uploaded call logs wait for their job (next to the spool, under var/).

    With workers on other machines this folder must be on storage they share.
    """
    return Path(rt.settings.spool_dir).resolve().parent / "call-uploads"


def queue_upload(
    rt: Runtime, data: BinaryIO, file_name: str, format_name: str | None = None, *, source="api"
) -> int:
    """Store an uploaded call log and queue its import as a job; returns the import id.

    An unknown format name is refused at once (CallImportError) rather than in the job.
    The caller reads progress and the outcome with `import_status(rt, import_id)`.
    """
    if format_name:
        try:
            load_format(format_name, rt.settings)
        except CallFormatError as exc:
            raise CallImportError(str(exc)) from None
    folder = uploads_dir(rt)
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"{uuid.uuid4().hex}-{_safe_name(file_name)}"
    with stored.open("wb") as handle:
        shutil.copyfileobj(data, handle, 1 << 20)
    import_id = create_import(
        rt, file_name, source=source, format_name=format_name, stored_path=stored
    )
    try:
        # Background: a month's call log must not hold up delivering mail behind it.
        rt.jobs.enqueue(
            import_call_log, import_id, job_id=f"call-import-{import_id}", background=True
        )
    except Exception:
        _give_up_on(rt, import_id, stored)
        raise ImportNotQueued("the import could not be queued; try again shortly") from None
    return import_id


def _give_up_on(rt: Runtime, import_id: int, stored: Path) -> None:
    """An upload whose job could not be queued: marked failed, its copy removed."""
    stored.unlink(missing_ok=True)
    with rt.uow() as session:
        call_store.mark_import_failed(
            session, import_id, "the import could not be queued", utcnow(), forget_file=True
        )


def import_call_log(import_id: int) -> None:
    """Job: import the file stored for a queued import (an upload), then delete that copy.

    A file that cannot be imported is recorded as failed and not retried; a database outage
    raises, so the queue retries the job (imports are idempotent).
    """
    rt = runtime()
    with rt.uow() as session:
        row = session.get(CallImport, import_id)
        if row is None or row.status is CallImportStatus.DONE or not row.stored_path:
            return
        stored, fmt = Path(row.stored_path), row.format
    try:
        import_file(rt, stored, fmt, import_id=import_id)
    except CallImportError:
        log.warning("call-log import %d failed; see its report", import_id)
    stored.unlink(missing_ok=True)


def summary_lines(report: ImportReport, *, all_problems: bool = False, shown: int = 5) -> list[str]:
    """The report as lines for people: the command's output and the drop folder's report."""
    described = ", ".join(
        part
        for part in (
            f"import {report.import_id}",
            f"format {report.format}" if report.format else "",
            f"encoding {report.encoding}" if report.encoding else "",
        )
        if part
    )
    flags = ", ".join(f"{kind} {n}" for kind, n in sorted(report.flag_counts.items()))
    lines = [
        f"{report.file_name}: {report.status.value} ({described})",
        f"rows read: {report.rows_read}; imported: {report.rows_imported}; "
        f"duplicates skipped: {report.rows_duplicate}; bad rows: {report.rows_bad}",
        f"flags: {flags or 'none'}",
    ]
    if report.error:
        lines.append(f"error: {report.error}")
    problems = report.problem_lines()
    listed = problems if all_problems else problems[:shown]
    lines.extend(listed)
    if report.rows_bad > len(listed):
        lines.append(f"... and {report.rows_bad - len(listed)} more bad row(s)")
    lines.extend(f"note: {note}" for note in report.notes)
    return lines


# --- the work -------------------------------------------------------------------------------


def _format_for(rt: Runtime, path: Path, format_name: str | None) -> CallFormat:
    if format_name:
        return load_format(format_name, rt.settings)
    return recognise(path, load_all_formats(rt.settings))


def _run(
    rt: Runtime, import_id: int, path: Path, fmt: CallFormat, progress: Progress
) -> ImportReport:
    notes: list[str] = []
    with CallLogFile(path, fmt.encoding) as opened:
        _record_start(rt, import_id, fmt, opened.encoding)
        tally = _Tally()
        recorder = CallRecorder(rt, source=SOURCE, region=fmt.phone_region)
        rows = _tallied(read_calls(opened.text, fmt, notes), tally)
        with _BatchWriter(rt, recorder, import_id, tally, progress) as writer:
            for batch in _batches(_in_time_order(rows, tally)):
                if recorder.history.full:
                    writer.drain()  # its counts are forgotten next: nothing may be in flight
                with rt.uow() as session:  # commits any new identities the batch refers to
                    decided = recorder.decide(session, batch)
                writer.put(decided)
        sha256 = opened.sha256()
    notes.extend(tally.notes())
    notes.extend(_seen_before(rt, import_id, sha256))
    status = CallImportStatus.DONE
    error = None
    if tally.read == 0:
        status, error = CallImportStatus.FAILED, "the file holds no call rows"
    elif tally.bad == tally.read:
        status = CallImportStatus.FAILED
        error = f"none of the {tally.read} rows could be read as format {fmt.name!r}"
    with rt.uow() as session:
        call_store.finish_import(
            session,
            import_id,
            _counts(tally),
            status=status,
            error=error,
            sha256=sha256,
            notes=notes,
            now=utcnow(),
        )
    report = import_status(rt, import_id)
    assert report is not None
    log.info(
        "call-log import %d (%s, format %s): %d rows, %d new, %d duplicate, %d bad, %d flags",
        import_id,
        report.file_name,
        fmt.name,
        tally.read,
        tally.imported,
        tally.duplicate,
        tally.bad,
        report.flags,
    )
    return report


class _BatchWriter:
    """Stores decided batches on threads of their own while the next batch is decided.

    The database's share of the work (indexes, foreign keys, the disk) then overlaps with
    reading and deciding. PostgreSQL gets two writers, each with its own connection, since
    its per-row work for contact_events costs as much as Python's and can use another core;
    SQLite, which writes one transaction at a time anyway, gets one. At most one batch per
    writer waits while the writers work, so memory stays bounded. A failure in a writer
    stops the import at the next batch handed over, or when the writers are closed.
    """

    def __init__(
        self,
        rt: Runtime,
        recorder: CallRecorder,
        import_id: int,
        tally: _Tally,
        progress: Progress,
    ) -> None:
        self._rt = rt
        self._recorder = recorder
        self._import_id = import_id
        self._tally = tally
        self._progress = progress
        count = POSTGRESQL_WRITERS if rt.engine.dialect.name == "postgresql" else 1
        self._queue: queue.Queue[DecidedBatch | None] = queue.Queue(maxsize=count)
        self._lock = threading.Lock()  # the tally and the progress row, shared by writers
        self._error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._run, name=f"ccr-call-writer-{n}", daemon=True)
            for n in range(count)
        ]

    def __enter__(self) -> _BatchWriter:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        for _thread in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        if exc_type is None and self._error is not None:
            raise self._error

    def put(self, batch: DecidedBatch) -> None:
        self._raise_if_failed()
        self._queue.put(batch)

    def drain(self) -> None:
        """Wait until every batch handed over is stored."""
        self._queue.join()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            try:
                if self._error is None:
                    self._store(batch)
            except BaseException as exc:
                self._error = exc  # handed to the importing thread; later batches are dropped
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _store(self, batch: DecidedBatch) -> None:
        with self._rt.uow() as session:
            stored = self._recorder.store(session, batch)
            with self._lock:
                self._tally.add(stored)
                counts = _counts(self._tally)
            call_store.record_import_progress(session, self._import_id, counts)
        if self._progress:
            self._progress(self._tally.read)


@dataclass
class _Tally:
    """Running counts of one import, and the first bad rows."""

    read: int = 0
    imported: int = 0
    duplicate: int = 0
    bad: int = 0
    late: int = 0
    clock_changes: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    problems: list[dict[str, Any]] = field(default_factory=list)

    def bad_row(self, row: BadRow) -> None:
        self.bad += 1
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append({"line": row.line, "reason": row.reason})

    def add(self, stored: StoredBatch) -> None:
        new = stored.new_events()
        self.imported += len(new)
        self.duplicate += len(stored.batch.prepared) - len(new)
        self.flags.update(flag.kind.value for _, decision in new for flag in decision.flags)

    def notes(self) -> list[str]:
        notes = []
        if self.bad > len(self.problems):
            notes.append(f"only the first {len(self.problems)} of {self.bad} bad rows are listed")
        if self.clock_changes["ambiguous"]:
            notes.append(
                f"{self.clock_changes['ambiguous']} row(s) had a local time that occurs twice "
                "(clocks went back); read as the first occurrence (BST)"
            )
        if self.clock_changes["skipped"]:
            notes.append(
                f"{self.clock_changes['skipped']} row(s) had a local time that does not exist "
                "(clocks went forward); read as GMT, one hour later on the BST clock"
            )
        if self.late:
            notes.append(
                f"{self.late} row(s) came more than {REORDER_WINDOW} rows out of time order; "
                "calls decided before them were counted without them"
            )
        return notes


def _tallied(rows: Iterator[Call | BadRow], tally: _Tally) -> Iterator[Call]:
    for row in rows:
        tally.read += 1
        if isinstance(row, BadRow):
            tally.bad_row(row)
            continue
        if row.clock_change:
            tally.clock_changes[row.clock_change] += 1
        yield row


def _in_time_order(calls: Iterator[Call], tally: _Tally) -> Iterator[Call]:
    """The calls in start-time order, as far as a window of REORDER_WINDOW rows allows."""
    heap: list[tuple[dt.datetime, int, Call]] = []
    latest: dt.datetime | None = None
    for call in calls:
        heapq.heappush(heap, (call.started_at, call.line, call))
        if len(heap) > REORDER_WINDOW:
            earliest = heapq.heappop(heap)[2]
            if latest is not None and earliest.started_at < latest:
                tally.late += 1  # a later call was decided before this one came in
            else:
                latest = earliest.started_at
            yield earliest
    while heap:
        yield heapq.heappop(heap)[2]


def _batches(calls: Iterator[Call]) -> Iterator[list[Call]]:
    batch: list[Call] = []
    for call in calls:
        batch.append(call)
        if len(batch) >= BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


# --- the call_imports row -------------------------------------------------------------------


def _counts(tally: _Tally) -> dict[str, Any]:
    """The running counts as the call_imports row keeps them (copies: writers add on)."""
    return {
        "rows_read": tally.read,
        "rows_imported": tally.imported,
        "rows_duplicate": tally.duplicate,
        "rows_bad": tally.bad,
        "flag_counts": dict(sorted(tally.flags.items())),
        "problems": list(tally.problems),
    }


def _mark_running(rt: Runtime, import_id: int) -> None:
    with rt.uow() as session:
        call_store.mark_import_running(session, import_id, utcnow())


def _record_start(rt: Runtime, import_id: int, fmt: CallFormat, encoding: str) -> None:
    with rt.uow() as session:
        call_store.record_import_format(session, import_id, fmt.name, encoding)


def _mark_failed(rt: Runtime, import_id: int, message: str) -> None:
    with rt.uow() as session:
        call_store.mark_import_failed(session, import_id, message, utcnow())


def _seen_before(rt: Runtime, import_id: int, sha256: str) -> list[str]:
    """A note when identical content was imported before (its rows are then duplicates)."""
    with rt.uow() as session:
        earlier = call_store.earlier_import_of(session, sha256, import_id)
    return [f"identical content was imported before (import {earlier})"] if earlier else []


def _safe_name(name: str) -> str:
    """A file name fit to show and store: no folders, no control characters, bounded."""
    base = os.path.basename(name.replace("\\", "/")).strip()
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in "/\\")
    return (cleaned or "upload.csv")[:200]


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"the file is not valid {exc.encoding} text; set encoding = 'auto' in its format"
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
        return f"cannot read the file: {exc.strerror or type(exc).__name__}"
    return " ".join(str(exc).split())
