"""Contact volume against the real database (SQLite and PostgreSQL): counting, alerts, the
manager's steps, linking identities and the rescan.

Contacts are written as contact events, as the gateway and the call importer write them,
then evaluated by the job function both of them queue (gateway.services.volume.evaluate). The
end-to-end tests (real SMTP, a real call-log import) are in test_volume_channels.py.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from gateway.runtime import Runtime
from gateway.services import volume
from gateway.services.alerts import (
    acknowledge_alert,
    dismiss_alert,
    escalate_alert,
)
from gateway.services.linking import link_identities
from routing.alerts import AlertRefused
from routing.enums import (
    AlertStatus,
    Channel,
    EmailMeasure,
    IdentityKind,
    Outcome,
    RestrictionStatus,
    Role,
    Stage,
)
from routing.identity import normalise
from routing.lifecycle import Actor, TransitionRefused
from routing.models import Alert, AuditEntry, ContactEvent, Identity, Restriction
from routing.volume import DEFAULT_THRESHOLDS, parse_rule_name
from tests.integration.register_helpers import impose_restriction

END = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)  # a Tuesday
SECOND = dt.timedelta(seconds=1)
EMAIL_ADDRESS = "jo.example@example.org"
PHONE_NUMBER = "07700 900123"
HOUSING = "housing@council.example.org"
MAIN_LINE = "+441632960100"
ROOT = Path(__file__).resolve().parents[2]
CCR = str(Path(sys.executable).with_name("ccr"))


# --- helpers ----------------------------------------------------------------------------------


def identity(rt: Runtime, raw: str = EMAIL_ADDRESS, kind: IdentityKind = IdentityKind.EMAIL) -> int:
    """The id of the stored identity for an address or number (created on first use)."""
    found = normalise(raw, kind, fold_plus=True)
    with rt.uow() as session:
        row = session.scalar(
            select(Identity).where(Identity.kind == kind, Identity.value == found.value)
        )
        if row is None:
            row = Identity(kind=kind, value=found.value)
            session.add(row)
            session.flush()
        return row.id


@dataclass
class Contact:
    at: dt.datetime
    channel: Channel = Channel.EMAIL
    to: str = HOUSING
    seconds: int | None = None
    content_hash: str | None = None
    statutory: bool = False


def record(rt: Runtime, identity_id: int, contacts: Sequence[Contact]) -> list[int]:
    """Write contact events as the channels do; returns their ids (in order)."""
    rows = [
        {
            "occurred_at": c.at,
            "channel": c.channel,
            "source": "test",
            "source_key": f"{identity_id}:{c.at.isoformat()}:{c.to}:{n}",
            "identity_id": identity_id,
            "from_value": None,
            "to_value": c.to,
            "outcome": Outcome.DELIVER if c.channel is Channel.EMAIL else Outcome.ALLOW,
            "reasons": [],
            "statutory": c.statutory,
            "safeguarding": False,
            "duration_seconds": c.seconds,
            "content_hash": c.content_hash,
            "created_at": END,
        }
        for n, c in enumerate(contacts)
    ]
    with rt.uow() as session:
        statement = insert(ContactEvent).returning(ContactEvent.id, sort_by_parameter_order=True)
        return list(session.scalars(statement, rows))


def evaluate(rt: Runtime, ids: Sequence[int]) -> list[int]:
    return volume.evaluate(rt, ids, now=END)


def alerts(rt: Runtime, **where: object) -> list[Alert]:
    with rt.uow() as session:
        query = select(Alert).order_by(Alert.id)
        for name, value in where.items():
            query = query.where(getattr(Alert, name) == value)
        return list(session.scalars(query))


def rules_of(rt: Runtime, status: AlertStatus = AlertStatus.OPEN) -> list[tuple[str, str]]:
    return [(a.person_key, a.rule) for a in alerts(rt, status=status)]


def audit(rt: Runtime, prefix: str) -> list[AuditEntry]:
    with rt.uow() as session:
        query = select(AuditEntry).where(AuditEntry.action.startswith(prefix))
        return list(session.scalars(query.order_by(AuditEntry.id)))


def spread(count: int, over: dt.timedelta, **fields: object) -> list[Contact]:
    """``count`` contacts evenly inside ``over`` (less an hour), the last at END."""
    step = (over - dt.timedelta(hours=1)) / max(count - 1, 1)
    return [Contact(END - (count - 1 - n) * step, **fields) for n in range(count)]


def crossing_plan(rule: str, threshold: int) -> list[Contact]:
    """Contacts that reach ``rule``'s threshold exactly, then one that goes over it (last)."""
    measure, window = parse_rule_name(rule)
    if measure.value == "call_minutes":
        return spread(threshold // 20 + 1, window, channel=Channel.PHONE, seconds=20 * 60)
    plan = spread(threshold + 1, window)
    for n, contact in enumerate(plan):
        if measure.value == "calls" or (measure.value == "contacts" and n % 2):
            contact.channel, contact.to = Channel.PHONE, MAIN_LINE
        if measure.value == "mailboxes":
            contact.to = f"officer{n}@council.example.org"
        if measure.value == "same_content":
            contact.content_hash = "f" * 64
    return plan


@pytest.fixture
def staff(make_staff: Callable[[str, Role], Actor]) -> dict[str, Actor]:
    return {
        "manager": make_staff("manager@council.example.org", Role.MANAGER),
        "approver": make_staff("approver@council.example.org", Role.APPROVER),
        "agent": make_staff("agent@council.example.org", Role.AGENT),
    }


def open_alert(rt: Runtime, rule: str = "emails_1d") -> Alert:
    """An open alert for EMAIL_ADDRESS on ``rule`` (a burst over its threshold)."""
    person = identity(rt)
    evaluate(rt, record(rt, person, crossing_plan(rule, DEFAULT_THRESHOLDS[rule])))
    [alert] = alerts(rt, rule=rule)
    return alert


# --- each rule, crossed and not crossed by one contact ----------------------------------------


@pytest.mark.parametrize("rule", sorted(DEFAULT_THRESHOLDS))
def test_each_rule_opens_an_alert_on_the_contact_that_goes_over_its_threshold(
    rt: Runtime, rule: str
) -> None:
    person = identity(rt)
    *reaching, over = crossing_plan(rule, DEFAULT_THRESHOLDS[rule])
    evaluate(rt, record(rt, person, reaching))
    assert (f"i:{person}", rule) not in rules_of(rt)
    [last] = record(rt, person, [over])
    evaluate(rt, [last])
    assert (f"i:{person}", rule) in rules_of(rt)
    [alert] = alerts(rt, rule=rule)
    assert alert.identity_id == person and alert.customer_id is None
    assert last in alert.evidence["events"]
    assert alert.evidence["threshold"] == DEFAULT_THRESHOLDS[rule]
    assert alert.evidence["value"] > DEFAULT_THRESHOLDS[rule]
    assert len(alert.evidence["series"]) == 28
    assert alert.summary.startswith(alert.evidence["title"])


# --- windows ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "days"), [("emails_1d", 1), ("emails_7d", 7), ("emails_28d", 28)])
def test_a_contact_just_inside_a_window_counts_and_one_just_outside_does_not(
    rt: Runtime, rule: str, days: int
) -> None:
    threshold, window = DEFAULT_THRESHOLDS[rule], dt.timedelta(days=days)
    # threshold contacts in the last hour before END, and one more at the window's edge
    recent = [Contact(END - n * dt.timedelta(minutes=5)) for n in range(threshold)]
    inside, outside = identity(rt, "inside@example.org"), identity(rt, "outside@example.org")
    evaluate(rt, record(rt, inside, [Contact(END - window + SECOND), *recent]))
    evaluate(rt, record(rt, outside, [Contact(END - window), *recent]))
    assert (f"i:{inside}", rule) in rules_of(rt)
    assert (f"i:{outside}", rule) not in rules_of(rt)


def test_a_call_log_read_late_is_counted_with_the_calls_after_it(rt: Runtime) -> None:
    person = identity(rt, PHONE_NUMBER, IdentityKind.PHONE)
    later = [
        Contact(END + n * dt.timedelta(minutes=10), Channel.PHONE, MAIN_LINE) for n in range(5)
    ]
    evaluate(rt, record(rt, person, later))
    assert rules_of(rt) == []
    evaluate(rt, record(rt, person, [Contact(END - dt.timedelta(hours=2), Channel.PHONE)]))
    assert rules_of(rt) == [(f"i:{person}", "calls_1d")]


# --- what is not counted ----------------------------------------------------------------------


def test_one_event_dated_year_1_does_not_stop_the_alerts_of_the_others_in_its_batch(
    rt: Runtime,
) -> None:
    """A contact stored before the edges refused such dates (or by a path that missed it)
    is left out of the counting; everyone else in the job is still evaluated."""
    other = identity(rt, "sam.example@example.org")
    [ancient] = record(rt, other, [Contact(dt.datetime(1, 1, 1, 9, tzinfo=dt.UTC))])
    person = identity(rt)
    burst = record(rt, person, crossing_plan("emails_1d", DEFAULT_THRESHOLDS["emails_1d"]))

    evaluate(rt, [ancient, *burst])

    assert rules_of(rt) == [(f"i:{person}", "emails_1d")]


def test_statutory_requests_are_recorded_but_never_counted(rt: Runtime) -> None:
    person = identity(rt)
    ten = [Contact(END - n * dt.timedelta(minutes=3)) for n in range(10)]
    requests = [Contact(END - n * SECOND, statutory=True) for n in range(1, 6)]
    evaluate(rt, record(rt, person, [*ten, *requests]))
    assert rules_of(rt) == []
    evaluate(rt, record(rt, person, [Contact(END + SECOND)]))
    [alert] = alerts(rt)
    assert (alert.rule, alert.evidence["value"]) == ("emails_1d", 11)
    with rt.uow() as session:
        statutory = session.scalars(
            select(ContactEvent.id).where(ContactEvent.statutory.is_(True))
        ).all()
    assert len(statutory) == 5 and not set(statutory) & set(alert.evidence["events"])


# --- no duplicates ----------------------------------------------------------------------------


def test_one_alert_per_person_and_rule_however_often_it_is_crossed(rt: Runtime) -> None:
    alert = open_alert(rt, "emails_1d")
    person = alert.identity_id
    for n in range(1, 4):
        evaluate(rt, record(rt, person, [Contact(END + n * SECOND)]))
    evaluate(rt, [e for e in alert.evidence["events"]])  # the same events again
    [again] = alerts(rt, rule="emails_1d")
    assert again.id == alert.id
    assert again.evidence["value"] == 14  # the evidence grows with the burst
    opened = [e.detail["rule"] for e in audit(rt, "alert.opened")]
    assert opened.count("emails_1d") == 1  # (14 is also over contacts_1d's 12: its own alert)


def test_the_database_refuses_a_second_live_alert_for_the_same_person_and_rule(
    rt: Runtime,
) -> None:
    alert = open_alert(rt, "emails_1d")
    duplicate = {
        "rule": alert.rule,
        "person_key": alert.person_key,
        "status": AlertStatus.ACKNOWLEDGED,
        "urgent": False,
        "summary": "copy",
        "evidence": {},
        "opened_at": END,
    }
    with pytest.raises(IntegrityError), rt.uow() as session:
        session.execute(insert(Alert), [duplicate])
    with rt.uow() as session:  # a closed one beside it is history, and allowed
        session.execute(insert(Alert), [{**duplicate, "status": AlertStatus.DISMISSED}])
        session.execute(insert(Alert), [{**duplicate, "person_key": None}])  # not volume


# --- the manager's steps ----------------------------------------------------------------------


def test_acknowledge_then_dismiss_needs_a_manager_and_a_reason(rt: Runtime, staff) -> None:
    alert = open_alert(rt)
    with rt.uow() as session, pytest.raises(AlertRefused, match="only a manager or an approver"):
        acknowledge_alert(session, staff["agent"], END, alert.id)
    with rt.uow() as session:
        acknowledge_alert(session, staff["manager"], END, alert.id)
    with rt.uow() as session, pytest.raises(AlertRefused, match="a reason is required"):
        dismiss_alert(session, staff["manager"], END, alert.id, reason="  ")
    with rt.uow() as session:
        dismiss_alert(session, staff["manager"], END, alert.id, reason="Chasing a repair; fair")
    [done] = alerts(rt)
    assert (done.status, done.closed_reason, done.closed_at) == (
        AlertStatus.DISMISSED,
        "Chasing a repair; fair",
        END,
    )
    steps = [(e.action, e.actor) for e in audit(rt, "alert.")]
    assert steps == [
        ("alert.opened", "system"),
        ("alert.acknowledged", "manager@council.example.org"),
        ("alert.dismissed", "manager@council.example.org"),
    ]
    dismissed = audit(rt, "alert.dismissed")[0]
    assert dismissed.subject_ref == str(alert.id)
    assert "repair" not in str(dismissed.detail)  # the free text stays on the alert
    with rt.uow() as session, pytest.raises(AlertRefused, match="it is dismissed"):
        acknowledge_alert(session, staff["manager"], END, alert.id)


def test_after_a_dismissal_only_a_fresh_crossing_opens_a_new_alert(rt: Runtime, staff) -> None:
    alert = open_alert(rt)
    with rt.uow() as session:
        dismiss_alert(session, staff["manager"], END, alert.id, reason="Reasonable")
    person = alert.identity_id
    evaluate(rt, record(rt, person, [Contact(END + n * SECOND) for n in range(1, 11)]))
    # Ten more: the burst that was dismissed is not counted again for that rule.
    assert alerts(rt, rule="emails_1d", status=AlertStatus.OPEN) == []
    evaluate(rt, record(rt, person, [Contact(END + 11 * SECOND)]))
    [fresh] = alerts(rt, rule="emails_1d", status=AlertStatus.OPEN)
    assert fresh.id != alert.id and fresh.evidence["value"] == 11


def test_escalation_drafts_a_warning_never_an_active_restriction(rt: Runtime, staff) -> None:
    alert = open_alert(rt, "calls_1d")  # about a lone identity: a customer is created
    with rt.uow() as session:
        draft = escalate_alert(session, rt, staff["manager"], END, alert.id, reason="Pattern")
        reference, draft_id = draft.reference, draft.id
    with rt.uow() as session:
        restriction = session.get(Restriction, draft_id)
        assert restriction is not None
        assert (restriction.status, restriction.stage) == (RestrictionStatus.DRAFT, Stage.WARNING)
        assert restriction.approved_by_id is None and restriction.proposed_by_id is None
        linked = session.get(Identity, alert.identity_id)
        assert linked is not None and linked.customer_id == restriction.customer_id
    rt.register.invalidate()
    assert not rt.register.snapshot().restrictions_for(IdentityKind.EMAIL, EMAIL_ADDRESS)
    [closed] = alerts(rt)
    assert closed.status is AlertStatus.ESCALATED
    assert closed.customer_id == restriction.customer_id
    [entry] = audit(rt, "alert.escalated")
    assert entry.detail["restriction"] == reference
    assert [e.action for e in audit(rt, "restriction.")] == ["restriction.drafted"]
    assert audit(rt, "identity.linked")


def test_only_a_live_alert_can_be_escalated_and_only_by_a_manager(rt: Runtime, staff) -> None:
    alert = open_alert(rt)
    with rt.uow() as session, pytest.raises(AlertRefused, match="only a manager"):
        escalate_alert(session, rt, staff["agent"], END, alert.id)
    with rt.uow() as session:
        dismiss_alert(session, staff["approver"], END, alert.id, reason="Seen")
    with rt.uow() as session, pytest.raises(AlertRefused, match="it is dismissed"):
        escalate_alert(session, rt, staff["manager"], END, alert.id)
    with rt.uow() as session, pytest.raises(AlertRefused, match="no alert with id 999"):
        escalate_alert(session, rt, staff["manager"], END, 999)
    with rt.uow() as session:
        assert session.scalars(select(Restriction)).all() == []


# --- linking identities -----------------------------------------------------------------------


def test_linking_an_email_and_a_phone_combines_their_counts(rt: Runtime, staff) -> None:
    email = identity(rt)
    phone = identity(rt, PHONE_NUMBER, IdentityKind.PHONE)
    minutes = dt.timedelta(minutes=7)
    emails = [Contact(END - n * minutes) for n in range(8)]
    calls = [Contact(END - n * minutes - SECOND, Channel.PHONE, MAIN_LINE) for n in range(5)]
    evaluate(rt, record(rt, email, emails) + record(rt, phone, calls))
    assert rules_of(rt) == []  # 8 emails and 5 calls: apart, nothing is over a threshold

    with rt.uow() as session:
        linked = link_identities(
            session,
            rt,
            staff["manager"],
            END,
            [(EMAIL_ADDRESS, IdentityKind.EMAIL), (PHONE_NUMBER, IdentityKind.PHONE)],
            customer_ref="C-1001",
        )
    person = f"c:{linked.customer_id}"
    assert rules_of(rt) == [(person, "contacts_1d")]  # 13 together, over 12, at once
    [combined] = alerts(rt)
    assert combined.evidence["value"] == 13 and combined.evidence["event_count"] == 13
    assert linked.alerts_opened == [combined.id]

    # From now on the phone's calls count for the customer too.
    evaluate(rt, record(rt, phone, [Contact(END + SECOND, Channel.PHONE, MAIN_LINE)]))
    assert sorted(rules_of(rt)) == [(person, "calls_1d"), (person, "contacts_1d")]
    assert {e.detail["kind"] for e in audit(rt, "identity.linked")} == {"email", "phone"}


def test_linking_moves_open_alerts_to_the_customer_and_merges_repeats(rt: Runtime, staff) -> None:
    email = identity(rt)
    phone = identity(rt, PHONE_NUMBER, IdentityKind.PHONE)
    evaluate(rt, record(rt, email, [Contact(END - n * SECOND) for n in range(13)]))
    calls = [Contact(END - n * SECOND, Channel.PHONE, MAIN_LINE) for n in range(13)]
    evaluate(rt, record(rt, phone, calls))
    before = sorted(rules_of(rt))
    assert {(f"i:{email}", "contacts_1d"), (f"i:{phone}", "contacts_1d")} <= set(before)

    with rt.uow() as session:
        result = link_identities(
            session,
            rt,
            staff["manager"],
            END,
            [(EMAIL_ADDRESS, IdentityKind.EMAIL), (PHONE_NUMBER, IdentityKind.PHONE)],
        )
    assert (result.alerts_merged, result.customer_created) == (1, True)
    person = f"c:{result.customer_id}"
    assert sorted(rules_of(rt)) == [
        (person, "calls_1d"),
        (person, "contacts_1d"),
        (person, "emails_1d"),
    ]
    [contacts] = alerts(rt, rule="contacts_1d", status=AlertStatus.OPEN)
    assert contacts.evidence["value"] == 26  # brought up to date with both channels
    [merged] = alerts(rt, status=AlertStatus.MERGED)
    assert merged.closed_reason == f"continued as alert {contacts.id}"


def test_an_alert_follows_its_identity_onto_a_restricted_customer(rt: Runtime, staff) -> None:
    alert = open_alert(rt)  # about a lone address, which a manager then restricts
    restricted = [(EMAIL_ADDRESS, IdentityKind.EMAIL)]
    impose_restriction(
        rt, staff["manager"], staff["approver"], restricted, email_measure=EmailMeasure.COPY
    )
    [moved] = alerts(rt)
    assert moved.id == alert.id and moved.customer_id is not None
    assert moved.person_key == f"c:{moved.customer_id}"
    assert [e.subject_ref for e in audit(rt, "alert.moved")] == [str(alert.id)]
    evaluate(rt, record(rt, alert.identity_id, [Contact(END + SECOND)]))
    assert [a.id for a in alerts(rt, rule="emails_1d")] == [alert.id]  # still one


def test_linking_is_for_managers_and_refuses_an_identity_of_another_customer(
    rt: Runtime, staff
) -> None:
    wanted = [(EMAIL_ADDRESS, IdentityKind.EMAIL)]
    with rt.uow() as session, pytest.raises(TransitionRefused, match="only a manager"):
        link_identities(session, rt, staff["agent"], END, wanted)
    with rt.uow() as session:
        link_identities(session, rt, staff["manager"], END, wanted, customer_ref="C-1")
    with rt.uow() as session, pytest.raises(ValueError, match="another customer"):
        link_identities(session, rt, staff["manager"], END, wanted, customer_ref="C-2")


# --- the rescan -------------------------------------------------------------------------------


def test_rescan_rebuilds_open_alerts_and_keeps_the_managers_decisions(rt: Runtime, staff) -> None:
    kept = open_alert(rt, "calls_1d")
    with rt.uow() as session:
        acknowledge_alert(session, staff["manager"], END, kept.id)
    missed = identity(rt, "missed@example.org")
    record(rt, missed, [Contact(END - n * SECOND) for n in range(12)])  # its job was lost
    evaluate(rt, record(rt, identity(rt, "quiet@example.org"), [Contact(END)]))

    report = volume.rescan(rt, now=END + SECOND, days=30)
    assert (report.opened, report.removed, report.people) == (1, 0, 3)
    assert rules_of(rt) == [(f"i:{missed}", "emails_1d")]
    [acknowledged] = alerts(rt, status=AlertStatus.ACKNOWLEDGED)
    assert acknowledged.id == kept.id

    again = volume.rescan(rt, now=END + SECOND, days=30)
    assert (again.removed, again.opened) == (1, 1)
    assert rules_of(rt) == [(f"i:{missed}", "emails_1d")]
    assert [e.detail["opened"] for e in audit(rt, "alerts.rescanned")] == [1, 1]


# --- the command line -------------------------------------------------------------------------


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CCR_")}
    return {
        **clean,
        "CCR_DATABASE_URL": database_url,
        "CCR_CONFIG": str(ROOT / "config" / "ccr.toml"),
        "CCR_SPOOL_DIR": str(tmp_path / "spool"),
        "CCR_LOG_LEVEL": "WARNING",
    }


def ccr(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CCR, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_alert_commands_list_by_reference_and_answer_mistakes_in_one_line(
    rt: Runtime, staff, env: dict[str, str]
) -> None:
    alert = open_alert(rt)
    listed = ccr(env, "alerts")
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    assert line.startswith(f"{alert.id}\topen\t") and f"email #{alert.identity_id}" in line
    assert "More than 10 emails in any 24 hours" in line
    assert EMAIL_ADDRESS not in listed.stdout

    shown = ccr(env, "alerts", "show", str(alert.id))
    assert shown.returncode == 0, shown.stderr
    assert "threshold 10, seen 11 emails" in shown.stdout and "#" in shown.stdout

    refused = ccr(env, "alerts", "dismiss", str(alert.id), "--by", "manager@council.example.org")
    assert refused.returncode == 2
    assert refused.stderr == f"ccr: error: a reason is required to dismiss alert {alert.id}\n"
    unknown = ccr(env, "alerts", "acknowledge", "999", "--by", "manager@council.example.org")
    assert unknown.stderr == "ccr: error: no alert with id 999\n"
    nobody = ccr(env, "alerts", "acknowledge", str(alert.id), "--by", "who@council.example.org")
    assert nobody.stderr == "ccr: error: no active staff account 'who@council.example.org'\n"

    escalated = ccr(env, "alerts", "escalate", str(alert.id), "--by", "manager@council.example.org")
    assert escalated.returncode == 0, escalated.stderr
    assert "draft warning CCR-" in escalated.stdout
    assert ccr(env, "alerts").stdout == ""
    # The manager's authority is the actor; who typed it on this machine is the source.
    with rt.uow() as session:
        acted = session.scalars(
            select(AuditEntry).where(AuditEntry.actor == "manager@council.example.org")
        ).all()
    assert acted and {entry.source for entry in acted} == {f"cli:{getpass.getuser()}"}


def test_customers_link_and_rescan_from_the_command_line(rt: Runtime, staff, env) -> None:
    email = identity(rt)
    phone = identity(rt, PHONE_NUMBER, IdentityKind.PHONE)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    record(rt, email, [Contact(now - n * dt.timedelta(minutes=5)) for n in range(8)])
    record(rt, phone, [Contact(now - n * SECOND, Channel.PHONE, MAIN_LINE) for n in range(5)])

    linked = ccr(
        env,
        "customers", "link", "--email", EMAIL_ADDRESS, "--phone", PHONE_NUMBER,
        "--customer-ref", "C-2002", "--by", "manager@council.example.org",
    )  # fmt: skip
    assert linked.returncode == 0, linked.stderr
    assert linked.stdout == (
        "linked 2 address(es) or number(s) to new customer C-2002; alerts: 0 moved, "
        "0 merged, 1 opened\n"
    )
    assert "customer C-2002" in ccr(env, "alerts").stdout

    rescanned = ccr(env, "alerts", "rescan")
    assert rescanned.returncode == 0, rescanned.stderr
    assert "1 alert(s) open, 1 removed and rebuilt" in rescanned.stdout
    bad = ccr(
        env, "customers", "link", "--email", "not an address", "--by", "manager@council.example.org"
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert ccr(env, "alerts", "rules").stdout.startswith("call_minutes_1d\tMore than 60 minutes")
