"""Answer "what applies to this address or number now?" and audit any restriction it reveals."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection, Engine

from gateway.runtime import Runtime
from gateway.store.audit import write_audit_rows
from routing.audit import AuditAction, audit_row
from routing.enums import IdentityKind
from routing.identity import guess_kind, normalise
from routing.lookup import LookupAnswer, look_up

log = logging.getLogger(__name__)

AuditRow = dict[str, Any]
AuditWrite = Callable[[AuditRow], None]

BATCH_LIMIT = 500
# A batcher's thread ends after this long without work and starts again with the next entry.
IDLE_SECONDS = 5.0
COMMIT_TIMEOUT_SECONDS = 10.0


def lookup_now(
    rt: Runtime,
    raw: str,
    *,
    actor: str,
    source: str,
    kind: IdentityKind | None = None,
    now: dt.datetime | None = None,
    audit: AuditWrite | None = None,
) -> LookupAnswer:
    """Normalise the input, read the current register snapshot, and audit a restricted answer.

    `kind` says whether `raw` is an email address or a phone number (guessed from an "@"
    when not given). Only the audit entry touches the database: the answer itself comes
    from the in-memory snapshot, so it costs microseconds whatever the register's size.
    The entry is committed before this returns (by `audit`, a group-committing writer, when
    given): a restriction is never shown without its audit entry.
    """
    identity = normalise(
        raw,
        kind or guess_kind(raw),
        fold_plus=rt.settings.fold_plus_addresses,
        region=rt.settings.phone_region,
    )
    at = now or dt.datetime.now(dt.UTC)
    answer = look_up(identity, rt.register.snapshot(), rt.policy, at)
    if answer.restricted:
        row = lookup_audit_row(answer, actor=actor, source=source, now=at)
        (audit or _writer_for(rt.engine))(row)
    return answer


def lookup_audit_row(
    answer: LookupAnswer, *, actor: str, source: str, now: dt.datetime
) -> AuditRow:
    """The audit entry for a lookup that revealed restrictions."""
    return restrictions_seen_row(
        answer.references, answer.identity.kind, actor=actor, source=source, now=now
    )


def restrictions_seen_row(
    references: Sequence[str],
    kind: IdentityKind,
    *,
    actor: str,
    source: str,
    now: dt.datetime,
) -> AuditRow:
    """The audit entry for any answer that showed someone is restricted (a lookup, or a live
    call's flags); `kind` is what the answer was about, a phone number or an email address.

    Seeing that someone is restricted is a view of their record, so it is audited, by
    reference: never the number or address looked up (the reference finds the record).
    """
    return audit_row(
        AuditAction.REGISTER_LOOKUP,
        actor=actor,
        at=now,
        subject_type="restriction",
        subject_ref=references[0],
        detail={"references": list(references), "kind": kind.value},
        source=source,
    )


def _writer_for(engine: Engine) -> AuditWrite:
    def write(row: AuditRow) -> None:
        with engine.begin() as connection:
            write_audit_rows(connection, [row])

    return write


class GroupCommitAudit:
    """Writes lookup audit entries in shared transactions.

    Each caller waits until its own entry is committed, but entries that arrive while a
    commit is under way go together in the next one. Under a burst of calls that turns
    hundreds of small transactions into a few, which keeps the lookup fast on the call path.
    While entries keep coming, the writing thread keeps its connection from one commit to
    the next (no pool checkout or liveness ping per commit); it hands it back as soon as
    the queue is empty, so no connection outlives the work, and after a failure it takes a
    fresh one.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.Queue[tuple[AuditRow, Future[None]]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._connection: Connection | None = None

    def __call__(self, row: AuditRow) -> None:
        """Store one entry; returns once it is committed, raises if it could not be."""
        done: Future[None] = Future()
        self._queue.put((row, done))
        self._ensure_running()
        done.result(timeout=COMMIT_TIMEOUT_SECONDS)

    def _ensure_running(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="ccr-lookup-audit", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                batch = self._next_batch()
                if not batch:
                    with self._lock:
                        # Exit only with nothing queued: a caller that queued after the
                        # check above finds this thread gone and starts another.
                        if self._queue.empty():
                            self._thread = None
                            return
                    continue
                self._commit(batch)
        finally:
            self._release_connection()

    def _next_batch(self) -> list[tuple[AuditRow, Future[None]]]:
        try:
            batch = [self._queue.get(timeout=IDLE_SECONDS)]
        except queue.Empty:
            return []
        while len(batch) < BATCH_LIMIT:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _commit(self, batch: list[tuple[AuditRow, Future[None]]]) -> None:
        try:
            if self._connection is None:
                self._connection = self._engine.connect()
            with self._connection.begin():
                write_audit_rows(self._connection, [row for row, _ in batch])
        except Exception as exc:
            # Each waiting lookup answers 503: a restriction is not shown unaudited.
            log.warning("lookup audit entries not written: %s", type(exc).__name__)
            self._release_connection()
            for _, done in batch:
                done.set_exception(exc)
            return
        if self._queue.empty():
            # Hand the connection back before the callers hear: none outlives the work.
            self._release_connection()
        for _, done in batch:
            done.set_result(None)

    def _release_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
