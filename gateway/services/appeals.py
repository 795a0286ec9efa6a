"""Appeals against a restriction, each step in the caller's unit of work and audited:
lodged, given a hearer who took no part in the decision, decided with reasons.

A decision to lift ends the restriction through the register's own lifecycle; a decision to
vary is carried out on the variation page, as any variation is. The maintenance task below
raises one alert for each appeal still undecided when its window has closed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from gateway.runtime import Runtime
from gateway.services import register_service
from gateway.store import appeals as appeal_store
from routing import appeals, lifecycle
from routing.appeals import AppealRefused
from routing.audit import AuditAction
from routing.enums import AppealDecision, LetterMethod, RestrictionStatus
from routing.lifecycle import Actor
from routing.models import Alert, Appeal, Restriction

OVERDUE_RULE = "appeal_undecided"


def lodge_appeal(
    session: Session, actor: Actor, now: dt.datetime, restriction_id: int, *,
    today: dt.date, received_on: dt.date, received_how: LetterMethod,
) -> Appeal:  # fmt: skip
    restriction = _restriction(session, restriction_id)
    appeal, entry = appeals.lodge(
        restriction, actor, now, today=today, received_on=received_on, received_how=received_how
    )
    session.add(entry)
    session.flush()
    return appeal


def assign_hearer(
    session: Session, actor: Actor, now: dt.datetime, restriction_id: int, hearer_id: int
) -> Appeal:
    restriction = _restriction(session, restriction_id)
    appeal = _open_appeal(restriction)
    hearer = appeal_store.staff_member(session, hearer_id)
    if hearer is None:
        raise AppealRefused("choose who will hear the appeal")
    makers = appeal_store.decision_makers(session, restriction.reference)
    session.add(appeals.assign_hearer(appeal, actor, now, hearer=hearer, decision_makers=makers))
    session.flush()
    return appeal


def decide_appeal(
    session: Session, actor: Actor, now: dt.datetime, restriction_id: int, *,
    today: dt.date, decision: AppealDecision, reasons: str,
) -> Appeal:  # fmt: skip
    """The hearer decides; lifted: the restriction in force under the reference ends now."""
    restriction = _restriction(session, restriction_id)
    appeal = appeals.appeal_to_decide(restriction)
    session.add(appeals.decide(appeal, actor, now, today=today, decision=decision, reasons=reasons))
    session.flush()
    if decision is AppealDecision.LIFTED:
        _lift_on_appeal(session, actor, now, restriction.reference)
    return appeal  # type: ignore[return-value]  # decide() refused a missing appeal


def _lift_on_appeal(session: Session, actor: Actor, now: dt.datetime, reference: str) -> None:
    current = appeal_store.latest_revision(session, reference)
    if current is not None and current.status is RestrictionStatus.ACTIVE:
        register_service.lift(session, actor, now, current.id, reason="Lifted on appeal.")


def alert_undecided_appeals(rt: Runtime, now: dt.datetime) -> int:
    """One alert for each appeal still undecided after its window closed (never twice)."""
    with rt.uow() as session:
        overdue = appeal_store.undecided_after_window(session, rt.today(now))
        for appeal in overdue:
            appeal.overdue_alerted_at = now
            session.add(_overdue_alert(appeal.restriction, now))
            session.add(
                lifecycle.audit(
                    Actor.system(),
                    AuditAction.APPEAL_OVERDUE,
                    appeal.restriction,
                    now,
                    deadline=_iso(appeal.restriction.appeal_deadline),
                )
            )
    return len(overdue)


def _iso(day: dt.date | None) -> str:
    return day.isoformat() if day else ""


def _overdue_alert(r: Restriction, now: dt.datetime) -> Alert:
    deadline = _iso(r.appeal_deadline)
    return Alert(
        rule=OVERDUE_RULE,
        customer_id=r.customer_id,
        summary=f"The appeal against {r.reference} is still undecided: "
        f"its window closed on {deadline}.",
        evidence={"reference": r.reference, "deadline": deadline, "title": "Appeal undecided"},
        opened_at=now,
    )


def _restriction(session: Session, restriction_id: int) -> Restriction:
    restriction = appeal_store.letter_subject(session, restriction_id)
    if restriction is None:
        raise AppealRefused(f"no restriction with id {restriction_id}")
    return restriction


def _open_appeal(restriction: Restriction) -> Appeal:
    appeal = appeals.open_appeal(restriction)
    if appeal is None:
        raise AppealRefused(f"no appeal against {restriction.reference} is waiting for a decision")
    return appeal


__all__ = ["AppealRefused", "alert_undecided_appeals", "assign_hearer", "decide_appeal"]
