"""The lookup's group-committing audit writer against the real database."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import create_engine, func, select

from gateway.runtime import Runtime
from gateway.services.lookup_service import GroupCommitAudit
from routing.models import AuditEntry


def row(n: int) -> dict:
    return {
        "at": dt.datetime.now(dt.UTC),
        "actor": "token:screen-pop",
        "action": "register.lookup",
        "subject_type": "restriction",
        "subject_ref": f"CCR-2026-{n:04d}",
        "detail": {"references": [f"CCR-2026-{n:04d}"], "kind": "phone"},
        "source": "api",
    }


def lookups_recorded(rt: Runtime) -> set[str]:
    with rt.session_factory() as session:
        return set(
            session.scalars(
                select(AuditEntry.subject_ref).where(AuditEntry.action == "register.lookup")
            )
        )


def test_each_entry_is_committed_before_its_writer_returns(rt: Runtime) -> None:
    audit = GroupCommitAudit(rt.engine)
    seen_after_return: list[bool] = []

    def write(n: int) -> None:
        audit(row(n))
        seen_after_return.append(f"CCR-2026-{n:04d}" in lookups_recorded(rt))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert seen_after_return == [True] * 40
    assert lookups_recorded(rt) == {f"CCR-2026-{n:04d}" for n in range(40)}
    with rt.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) >= 40


def test_a_failed_commit_is_raised_to_the_waiting_writer(tmp_path) -> None:
    (tmp_path / "not-a-folder").write_text("")
    broken = create_engine(f"sqlite:///{tmp_path / 'not-a-folder' / 'ccr.db'}")
    audit = GroupCommitAudit(broken)
    try:
        for _ in range(2):  # and again: each try takes a fresh connection
            with pytest.raises(Exception, match="unable to open database file"):
                audit(row(1))
    finally:
        broken.dispose()
