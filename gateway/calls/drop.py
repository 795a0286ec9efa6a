"""The call-log drop folder (`CCR_CALLS_DROP`): every file put there is imported once.

Life cycle of a file in the folder:

1. It is left alone while it may still be being written: names starting with "." or "~"
   and names ending in .part, .tmp, .partial, .filepart or .crdownload are never taken,
   and any other file only once it has not changed for `calls_drop_settle_seconds`. The
   safest way for a telephony system to deliver is to write under a temporary name and
   rename when done; the settle time covers plain copies.
2. It is claimed by renaming it into `processing/` (atomic: when several workers poll the
   same folder, exactly one gets each file). A claim is kept fresh while the import runs;
   a file left in `processing/` by a process that died is taken up again once its claim is
   `STALE_CLAIM_SECONDS` old (importing twice is harmless: calls are recognised).
3. It is imported, then moved to `processed/`, or to `failed/` when nothing could be
   imported (unknown format, unreadable, no readable row). Beside it, `NAME.errors.txt`
   gives the reason and the line-numbered bad rows; a processed file gets one too when some
   rows were bad.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from gateway.calls.importer import CallImportError, ImportReport, import_file, summary_lines
from gateway.runtime import Runtime, runtime
from routing.enums import CallImportStatus

log = logging.getLogger(__name__)

PROCESSING = "processing"
PROCESSED = "processed"
FAILED = "failed"
STALE_CLAIM_SECONDS = 600.0
IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".partial", ".filepart", ".crdownload")
_CLAIM_SEPARATOR = "__"


@dataclass(frozen=True)
class DropOutcome:
    name: str
    moved_to: Path
    report: ImportReport | None  # None when the import could not even start
    error: str | None = None


def poll_calls_drop() -> int:
    """Job: import whatever has settled in the drop folder; returns how many files."""
    rt = runtime()
    if not rt.settings.calls_drop:
        return 0
    return len(process_drop_folder(rt, Path(rt.settings.calls_drop)))


def process_drop_folder(
    rt: Runtime, folder: Path, *, settle_seconds: float | None = None
) -> list[DropOutcome]:
    """Claim and import every settled file in the folder (and stale claims); oldest first."""
    settle = rt.settings.calls_drop_settle_seconds if settle_seconds is None else settle_seconds
    for sub in (PROCESSING, PROCESSED, FAILED):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    outcomes = []
    for path in [*_stale_claims(folder), *_settled_files(folder, settle)]:
        claimed = _claim(path, folder / PROCESSING)
        if claimed is None:
            continue  # another process took it first
        try:
            outcomes.append(_process(rt, claimed, folder))
        except Exception as exc:
            # The database is away, for example: the claim goes stale and is taken up again.
            # Only the kind of error is logged: a driver's message can quote call data.
            log.warning(
                "drop folder: importing a file stopped (%s); it is retried once its claim "
                "is %d s old",
                type(exc).__name__,
                STALE_CLAIM_SECONDS,
            )
    return outcomes


def _settled_files(folder: Path, settle: float) -> list[Path]:
    now = time.time()
    found = []
    for entry in os.scandir(folder):
        if not entry.is_file(follow_symlinks=False) or _in_progress_name(entry.name):
            continue
        modified = entry.stat(follow_symlinks=False).st_mtime
        if now - modified >= settle:
            found.append((modified, Path(entry.path)))
    return [path for _, path in sorted(found)]


def _stale_claims(folder: Path) -> list[Path]:
    now = time.time()
    return sorted(
        Path(entry.path)
        for entry in os.scandir(folder / PROCESSING)
        if entry.is_file(follow_symlinks=False)
        and now - entry.stat(follow_symlinks=False).st_mtime >= STALE_CLAIM_SECONDS
    )


def _in_progress_name(name: str) -> bool:
    return name.startswith((".", "~")) or name.lower().endswith(IN_PROGRESS_SUFFIXES)


def _claim(path: Path, processing: Path) -> Path | None:
    """Rename the file into processing/ under a name of its own; None if someone else did."""
    target = processing / f"{uuid.uuid4().hex[:12]}{_CLAIM_SEPARATOR}{_original_name(path)}"
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return None
    os.utime(target)  # the claim's age starts now
    return target


def _original_name(path: Path) -> str:
    if path.parent.name == PROCESSING and _CLAIM_SEPARATOR in path.name:
        return path.name.split(_CLAIM_SEPARATOR, 1)[1]
    return path.name


def _process(rt: Runtime, claimed: Path, folder: Path) -> DropOutcome:
    name = _original_name(claimed)

    def keep_claim_fresh(_rows: int) -> None:
        with contextlib.suppress(OSError):
            os.utime(claimed)

    try:
        report = import_file(
            rt,
            claimed,
            rt.settings.calls_drop_format,
            source="drop",
            file_name=name,
            progress=keep_claim_fresh,
        )
    except CallImportError as exc:
        moved = _move(claimed, folder / FAILED, name)
        _write_report(moved, [f"{name}: not imported", f"error: {exc}"])
        log.warning("drop folder: %s not imported; see %s", name, _report_path(moved).name)
        return DropOutcome(name, moved, None, str(exc))
    done = report.status is CallImportStatus.DONE
    moved = _move(claimed, folder / (PROCESSED if done else FAILED), name)
    if not done or report.rows_bad:
        _write_report(moved, summary_lines(report, all_problems=True))
    return DropOutcome(name, moved, report, report.error)


def _move(claimed: Path, destination: Path, name: str) -> Path:
    """Into processed/ or failed/ under its own name, or a time-stamped one if that is taken."""
    target = destination / name
    if target.exists() or _report_path(target).exists():
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        stem, dot, suffix = name.rpartition(".")
        unique = f"{stem}-{stamp}-{uuid.uuid4().hex[:6]}{dot}{suffix}" if dot else f"{name}-{stamp}"
        target = destination / unique
    os.rename(claimed, target)
    return target


def _report_path(moved: Path) -> Path:
    return moved.with_name(f"{moved.name}.errors.txt")


def _write_report(moved: Path, lines: list[str]) -> None:
    _report_path(moved).write_text("\n".join(lines) + "\n", encoding="utf-8")
