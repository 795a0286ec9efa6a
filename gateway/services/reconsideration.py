"""A dormant case contacting again: a manager is asked to reconsider at once (a policy asks
for urgent reconsideration if the behaviour starts again while the case is kept on file).
Like every alert, a suggestion: nothing is reinstated by itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from dateutil.relativedelta import relativedelta
from sqlalchemy import Connection

from gateway.runtime import Runtime
from gateway.store import volume as volume_store
from gateway.store.reconsideration import DormantCase, dormant_cases_contacting
from routing.alerts import RECONTACT
from routing.audit import AuditAction, audit_row
from routing.enums import AlertStatus
from routing.volume import person_key


def ask_for_reconsideration(
    conn: Connection, rt: Runtime, event_ids: Sequence[int], now: dt.datetime
) -> list[dict]:
    """Open one urgent alert per dormant case whose person contacted again (none while one is
    still open); returns the audit rows of the alerts opened."""
    audits = []
    for case in dormant_cases_contacting(conn, event_ids):
        row = _alert_row(rt, case, now)
        alert_id = volume_store.open_alert_unless_live(conn, row)
        if alert_id is not None:
            audits.append(
                audit_row(
                    AuditAction.ALERT_OPENED,
                    actor="system",
                    at=now,
                    subject_type="alert",
                    subject_ref=str(alert_id),
                    detail={"rule": RECONTACT, "customer_id": case.customer_id},
                )
            )
    return audits


def _alert_row(rt: Runtime, case: DormantCase, now: dt.datetime) -> dict:
    zone = rt.timezone
    kept_until = case.dormant_since + relativedelta(months=rt.settings.retention_months)
    contacted = case.contacted_at.astimezone(zone).strftime("%d %B %Y")
    return {
        "rule": RECONTACT,
        "person_key": person_key(case.customer_id, None),
        "customer_id": case.customer_id,
        "identity_id": None,
        "status": AlertStatus.OPEN,
        "urgent": True,
        "summary": f"Contacted the council again on {contacted} while {case.reference} is "
        f"dormant (kept on file until {kept_until.astimezone(zone):%d %B %Y}): reconsider "
        "whether a restriction is needed again.",
        "evidence": {
            "reference": case.reference,
            "contacted_at": case.contacted_at.isoformat(),
            "dormant_since": case.dormant_since.isoformat(),
        },
        "value": None,
        "opened_at": now,
        "closed_at": None,
        "closed_reason": None,
    }
