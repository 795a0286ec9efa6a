"""Contact volume in the gateway: read a person's contacts, ask routing.volume, record alerts.

Every channel that records contact events queues `evaluate_events(event_ids)` once its
transaction has committed (the mail intake after each batch, the call recorder through
`evaluate_after_commit`). The job finds whom each event is counted for, reads that
person's contacts around it in one indexed range query per group of people, and opens an
alert for each rule crossed, at most one open or acknowledged alert per person and rule
(a partial unique index holds that even when two workers evaluate the same person).

Whom a contact counts for: the customer its identity is linked to *now*, else the customer
recorded on the event (the restricted customer), else the identity alone. A customer's
contacts are read through its identities as well as its own customer id, so linking an
email address and a phone number to one customer combines their counts at once, for past
contacts as well as future ones, without rewriting the recorded events (which keep whom
they were attributed to when recorded, for an appeal).

`rescan` rebuilds the open alerts from the recorded events: the same rules, over every
window ending in the last `volume.rescan_days` days.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from gateway.jobs.queue import mergeable
from gateway.runtime import Runtime, runtime
from gateway.services.reconsideration import ask_for_reconsideration
from gateway.store import volume as volume_store
from gateway.store.audit import write_audit_rows
from routing import alerts as alert_steps
from routing import volume as counting
from routing.audit import AuditAction, audit_row
from routing.enums import AlertStatus, Channel
from routing.models import utcnow
from routing.plausible import contact_time_problem
from routing.volume import Finding, Focus, RuleSet, VolumeEvent, parse_person_key, person_key

log = logging.getLogger(__name__)

PEOPLE_PER_QUERY = 200  # people whose contacts are read in one query
SERVICE_MAP_SECONDS = 60.0  # how long a process keeps the service addresses it read
SYSTEM = "system"
# A window a year past now is still worked out; a contact further ahead is a misread date.
_FURTHEST_AHEAD = dt.timedelta(days=366)


# --- the job ---------------------------------------------------------------------------------


@mergeable
def evaluate_events(event_ids: list[int]) -> int:
    """Job: evaluate the volume rules for these new contact events; returns alerts opened.

    Idempotent: evaluating the same events again opens nothing new.
    """
    return len(evaluate(runtime(), event_ids))


def queue_evaluation(rt: Runtime, event_ids: Sequence[int]) -> None:
    """Queue `evaluate_events` for events already committed. Never raises: the contacts are
    recorded whatever happens to the queue, and `ccr alerts rescan` finds what was missed."""
    if not event_ids:
        return
    ids = sorted(event_ids)
    try:
        rt.jobs.enqueue(
            evaluate_events,
            ids,
            job_id=f"volume-{ids[0]}-{ids[-1]}-{len(ids)}",
            background=True,
        )
    except Exception:
        log.warning("could not queue contact volume evaluation of %d event(s)", len(ids))


def evaluate_after_commit(rt: Runtime, session: Session, event_ids: Sequence[int]) -> None:
    """Queue the evaluation of these events once ``session`` commits (never if it rolls back).

    The hook for code that records contact events inside a unit of work it does not end
    itself (the call recorder): one line, and the job cannot run before the rows exist.
    """
    ids = list(event_ids)
    if ids:
        event.listen(session, "after_commit", lambda _s: queue_evaluation(rt, ids), once=True)


def evaluate(rt: Runtime, event_ids: Sequence[int], *, now: dt.datetime | None = None) -> list[int]:
    """Evaluate the rules around these events in one unit of work; returns alerts opened."""
    with rt.uow() as session:
        return evaluate_in(session, rt, event_ids, now or utcnow())


def evaluate_in(
    session: Session, rt: Runtime, event_ids: Sequence[int], now: dt.datetime
) -> list[int]:
    """`evaluate` inside the caller's session."""
    evaluator = _Evaluator(session, rt, now, source="contact")
    moments = _moments_by_person(evaluator.conn, event_ids, now + _FURTHEST_AHEAD)
    for people in _chunks(sorted(moments), PEOPLE_PER_QUERY):
        evaluator.run({person: Focus.around(moments[person]) for person in people})
    evaluator.finish()
    # The same new contacts may come from someone whose restriction is dormant.
    if reconsider := ask_for_reconsideration(evaluator.conn, rt, event_ids, now):
        write_audit_rows(evaluator.conn, reconsider)
    return evaluator.opened


def reevaluate_person(
    session: Session, rt: Runtime, person: str, now: dt.datetime, *, days: int | None = None
) -> list[int]:
    """Look at every window ending in the last ``days`` (default: volume.rescan_days) for one
    person, for instance after their identities were linked; returns alerts opened."""
    days = days or rt.settings.volume.rescan_days
    evaluator = _Evaluator(session, rt, now, source="link")
    evaluator.run({person: Focus.between(now - dt.timedelta(days=days), now)})
    evaluator.finish()
    return evaluator.opened


# --- the full rescan -------------------------------------------------------------------------


@dataclass
class RescanReport:
    """What `rescan` did."""

    days: int
    people: int = 0
    events: int = 0
    removed: int = 0  # open alerts removed before rebuilding
    opened: int = 0
    refreshed: int = 0  # acknowledged alerts whose evidence was brought up to date
    seconds: float = 0.0


def rescan(
    rt: Runtime, *, days: int | None = None, now: dt.datetime | None = None, actor: str = SYSTEM
) -> RescanReport:
    """Rebuild every open volume alert from the recorded contacts, in one unit of work.

    Open alerts nobody has acted on are removed and rebuilt: one per person and rule crossed
    by a window ending in the last ``days`` days. Alerts a manager acknowledged, dismissed or
    escalated are kept; their rules count only contacts after a dismissal or escalation.
    """
    started = time.perf_counter()
    now = now or utcnow()
    report = RescanReport(days or rt.settings.volume.rescan_days)
    start = now - dt.timedelta(days=report.days)
    with rt.uow() as session:
        evaluator = _Evaluator(session, rt, now, source="rescan")
        report.removed = volume_store.remove_open_alerts(evaluator.conn)
        focus = Focus.between(start, now)
        since = start - evaluator.rules.lookback
        states = _alert_states(evaluator.conn, None, since)
        for person, events in _contacts_by_person(evaluator, since, now):
            report.people += 1
            report.events += len(events)
            evaluator.judge(person, events, focus, states.get(person, _AlertState()))
        evaluator.finish()
        report.opened, report.refreshed = len(evaluator.opened), evaluator.refreshed
        report.seconds = time.perf_counter() - started
        write_audit_rows(evaluator.conn, [_rescan_audit(actor, now, report)])
    return report


def _rescan_audit(actor: str, now: dt.datetime, report: RescanReport) -> dict[str, Any]:
    return audit_row(
        AuditAction.ALERTS_RESCANNED,
        actor=actor,
        at=now,
        subject_type="alerts",
        detail={
            "days": report.days,
            "people": report.people,
            "removed": report.removed,
            "opened": report.opened,
            "refreshed": report.refreshed,
        },
    )


def _contacts_by_person(
    evaluator: _Evaluator, since: dt.datetime, until: dt.datetime
) -> Iterator[tuple[str, list[VolumeEvent]]]:
    """Every counted contact in (since, until], grouped by person, each group in time order,
    streamed from the database (a year can hold millions)."""
    current: str | None = None
    events: list[VolumeEvent] = []
    for row in volume_store.everyones_contacts(evaluator.conn, since, until):
        person = person_key(row.owner, row.identity_id)
        if person != current:
            if current is not None:
                yield current, events
            current, events = person, []
        events.append(evaluator.volume_event(row))
    if current is not None:
        yield current, events


# --- evaluation ------------------------------------------------------------------------------


@dataclass
class _AlertState:
    """One person's volume alerts that matter now."""

    live: dict[str, tuple[int, int]] = field(default_factory=dict)  # rule -> (id, value)
    closed: dict[str, dt.datetime] = field(default_factory=dict)  # rule -> last closed at


_CHANNEL = {c.value: c for c in Channel}
_NO_SERVICES: frozenset[str] = frozenset()


class _Evaluator:
    """Evaluates people's contacts against the rules and records the findings as alerts.

    Works on the session's connection with the Core statements of store.volume (built
    once): evaluating a contact must cost a few indexed queries, not ORM bookkeeping.
    """

    def __init__(self, session: Session, rt: Runtime, now: dt.datetime, *, source: str) -> None:
        self.conn = session.connection()
        self.now = now
        self.source = source
        self.rules: RuleSet = rt.settings.volume.rule_set
        self.zone = rt.timezone
        self.services = _service_map(self.conn, rt) if self.rules.services else {}
        self.opened: list[int] = []
        self.refreshed = 0
        self._audits: list[dict[str, Any]] = []

    def run(self, foci: dict[str, Focus]) -> None:
        """Evaluate each person around their focus: one query reads their contacts, and only
        people with something to record have their alerts read."""
        lo, hi = self._span(foci.values())
        contacts = _contacts_of(self, list(foci), lo, hi)
        crossing = {
            person: findings
            for person, focus in foci.items()
            if (findings := self._evaluate(contacts.get(person, []), focus))
        }
        if not crossing:
            return
        states = _alert_states(self.conn, list(crossing), lo)
        for person, findings in crossing.items():
            state = states.get(person, _AlertState())
            if state.closed:  # count again without what a manager has closed
                findings = self._evaluate(contacts[person], foci[person], state.closed)
            self._record(person, findings, state, contacts[person])

    def judge(
        self, person: str, events: list[VolumeEvent], focus: Focus, state: _AlertState
    ) -> None:
        """Apply every rule to one person's contacts (their alerts already known)."""
        self._record(person, self._evaluate(events, focus, state.closed), state, events)

    def finish(self) -> None:
        """Write the audit entries of the alerts opened."""
        if self._audits:
            write_audit_rows(self.conn, self._audits)
            self._audits = []

    def volume_event(self, row: Any) -> VolumeEvent:
        """A contact row of store.volume (see its _ROW) as routing.volume counts it."""
        event_id, occurred_at, channel, target, seconds, content_hash, _, _ = row
        services = self.services.get(target, _NO_SERVICES) if self.services else _NO_SERVICES
        return VolumeEvent(
            event_id,
            _aware(occurred_at),
            _CHANNEL[channel],
            target,
            seconds,
            content_hash,
            services,
        )

    def _evaluate(
        self,
        events: list[VolumeEvent],
        focus: Focus,
        closed: dict[str, dt.datetime] | None = None,
    ) -> list[Finding]:
        if not events:
            return []
        return counting.evaluate(self.rules, events, focus, self.zone, counted_after=closed)

    def _record(
        self,
        person: str,
        findings: list[Finding],
        state: _AlertState,
        events: list[VolumeEvent],
    ) -> None:
        """Open an alert for each new finding, or update one that has grown."""
        for finding in findings:
            live = state.live.get(finding.rule.key)
            if live is not None and finding.shown_value <= live[1]:
                continue  # already open with this much or more
            charted = counting.with_chart(finding, events, self.zone, counted_after=state.closed)
            if live is None:
                self._open(person, charted)
            else:
                self._refresh(live[0], charted)

    def _span(self, foci: Iterable[Focus]) -> tuple[dt.datetime, dt.datetime]:
        """The contacts to read: far enough around the focus for every window and the chart."""
        starts, ends = [], []
        for focus in foci:
            if focus.period is not None:
                starts.append(focus.period[0])
                ends.append(focus.period[1])
            else:
                starts.append(min(focus.moments))
                ends.append(max(focus.moments) + self.rules.longest_window)
        return min(starts) - self.rules.lookback, max(ends)

    def _open(self, person: str, finding: Finding) -> None:
        customer_id, identity_id = parse_person_key(person)
        row = {
            "rule": finding.rule.key,
            "person_key": person,
            "customer_id": customer_id,
            "identity_id": identity_id,
            "status": AlertStatus.OPEN,
            "urgent": False,
            "summary": finding.summary(self.zone),
            "evidence": finding.evidence(self.zone),
            "value": finding.shown_value,
            "opened_at": self.now,
            "closed_at": None,
            "closed_reason": None,
        }
        alert_id = volume_store.open_alert_unless_live(self.conn, row)
        if alert_id is None:
            return  # another worker opened it a moment ago
        self.opened.append(alert_id)
        self._audits.append(_opened_audit(alert_id, row, finding, self.source, self.now))

    def _refresh(self, alert_id: int, finding: Finding) -> None:
        volume_store.refresh_alert(
            self.conn,
            alert_id,
            summary=finding.summary(self.zone),
            evidence=finding.evidence(self.zone),
            value=finding.shown_value,
        )
        self.refreshed += 1


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC)


def _opened_audit(
    alert_id: int, row: dict[str, Any], finding: Finding, source: str, now: dt.datetime
) -> dict[str, Any]:
    return audit_row(
        AuditAction.ALERT_OPENED,
        actor=SYSTEM,
        at=now,
        subject_type="alert",
        subject_ref=str(alert_id),
        detail={
            "status": AlertStatus.OPEN.value,
            "rule": row["rule"],
            "customer_id": row["customer_id"],
            "identity_id": row["identity_id"],
            "value": finding.shown_value,
            "threshold": finding.rule.threshold,
            "found_by": source,
        },
    )


# --- reading through store.volume ----------------------------------------------------------


def _moments_by_person(
    conn: Connection, event_ids: Sequence[int], latest: dt.datetime
) -> dict[str, set[dt.datetime]]:
    """person key -> the times of those events that count toward a rule.

    An event at an impossible time (year 1, stored before the edges refused such dates) is
    left out: no window around it can be worked out, and it must not stop the job for the
    other events evaluated with it.
    """
    moments: dict[str, set[dt.datetime]] = defaultdict(set)
    impossible = 0
    for occurred_at, identity_id, owner in volume_store.counted_moments(conn, event_ids):
        person = person_key(owner, identity_id)
        moment = _aware(occurred_at)
        if contact_time_problem(moment, latest) is not None:
            impossible += 1
        elif person is not None:
            moments[person].add(moment)
    if impossible:
        log.warning(
            "%d contact event(s) at an impossible time left out of volume rules", impossible
        )
    return moments


def _contacts_of(
    evaluator: _Evaluator, people: list[str], lo: dt.datetime, hi: dt.datetime
) -> dict[str, list[VolumeEvent]]:
    """Each person's counted contacts in (lo, hi], in time order."""
    keys = [parse_person_key(person) for person in people]
    customers = [c for c, _ in keys if c is not None]
    identities = [i for _, i in keys if i is not None]
    wanted = set(people)
    seen: set[int] = set()
    found: dict[str, list[VolumeEvent]] = defaultdict(list)
    for row in volume_store.contacts_of_people(evaluator.conn, customers, identities, lo, hi):
        person = person_key(row.owner, row.identity_id)
        if person in wanted and row.id not in seen:
            seen.add(row.id)
            found[person].append(evaluator.volume_event(row))
    for events in found.values():
        events.sort(key=lambda e: (e.at, e.id))
    return found


def _alert_states(
    conn: Connection, people: list[str] | None, since: dt.datetime
) -> dict[str, _AlertState]:
    """The live alerts and the last closing of each rule, per person (None: everyone)."""
    rows = volume_store.alert_state_rows(conn, people, since)
    states: dict[str, _AlertState] = defaultdict(_AlertState)
    for alert_id, person, rule, status, closed_at, value in rows:
        state = states[person]
        if status in alert_steps.LIVE:
            state.live[rule] = (alert_id, value or 0)
        elif closed_at is not None and (rule not in state.closed or closed_at > state.closed[rule]):
            state.closed[rule] = closed_at
    return states


# The service addresses change rarely; each process keeps what it read for a minute.
_service_cache: dict[int, tuple[float, dict[str, frozenset[str]]]] = {}


def _service_map(conn: Connection, rt: Runtime) -> dict[str, frozenset[str]]:
    """Council mailbox or line -> the names of the services it belongs to."""
    cached = _service_cache.get(id(rt))
    if cached and time.monotonic() - cached[0] < SERVICE_MAP_SECONDS:
        return cached[1]
    names: dict[str, set[str]] = defaultdict(set)
    for value, name in volume_store.service_addresses(conn):
        names[value].add(name)
    mapping = {value: frozenset(found) for value, found in names.items()}
    _warn_unknown_services(rt.settings.volume.rule_set, {n for ns in names.values() for n in ns})
    _service_cache[id(rt)] = (time.monotonic(), mapping)
    return mapping


def forget_service_map() -> None:
    """Read the service addresses afresh next time (this process changed them)."""
    _service_cache.clear()


def _warn_unknown_services(rules: RuleSet, known: set[str]) -> None:
    for name in sorted(rules.services - known):
        log.warning("volume thresholds name service %r, which has no mailboxes or lines", name)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


__all__ = [
    "RescanReport",
    "evaluate",
    "evaluate_after_commit",
    "evaluate_events",
    "evaluate_in",
    "queue_evaluation",
    "reevaluate_person",
    "rescan",
]
