"""The role table (routing.roles), read as a person would check it, and the lifecycle and
alert steps refusing exactly what it refuses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from routing import alerts, lifecycle
from routing.alerts import AlertRefused
from routing.enums import (
    AlertStatus,
    Category,
    EmailMeasure,
    Mode,
    RestrictionStatus,
    ReviewOutcome,
    Role,
    Stage,
)
from routing.lifecycle import Actor, TransitionRefused
from routing.models import Alert, Customer, Restriction
from routing.roles import WHO_MAY, Permission, may

# What each role may do today. One line per kind of work; columns in this order.
COLUMNS = (Role.AGENT, Role.MANAGER, Role.APPROVER, Role.SENIOR_APPROVER, Role.ADMIN, Role.IG)
GRANTS = """
                    agent   manager  approver  senior_approver  admin  ig
propose             no      yes      yes       yes              no     no
edit_customers      no      yes      yes       yes              no     no
handle_alerts       no      yes      yes       yes              no     no
approve             no      no       yes       yes              no     no
vary                no      no       yes       yes              no     no
lift                no      no       yes       yes              no     no
review              no      no       yes       yes              no     no
legal_hold          no      no       yes       yes              yes    no
customer_record     no      yes      yes       yes              no     yes
caller_view         yes     yes      yes       yes              no     no
call_flags          yes     yes      yes       yes              no     no
mail_log            no      yes      yes       yes              yes    no
admin_pages         no      no       no        no               yes    no
subject_access      no      no       no        no               no     yes
rectify             no      no       no        no               no     yes
erase               no      no       no        no               no     yes
raise_concern       yes     yes      yes       yes              no     no
see_services        yes     yes      yes       yes              yes    yes
manage_services     no      no       no        no               yes    no
retention_category  no      no       no        no               no     yes
read_letters        no      yes      yes       yes              no     yes
record_letter       no      yes      yes       yes              no     no
lodge_appeal        no      yes      yes       yes              no     no
decide_appeal       no      no       yes       yes              no     no
spoc_queue          no      yes      yes       yes              no     no
"""

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
PROPOSER_ID = 1


def _grants() -> dict[Permission, dict[Role, bool]]:
    header, *rows = GRANTS.strip().splitlines()
    assert header.split() == [role.value for role in COLUMNS]
    table = {}
    for row in rows:
        name, *answers = row.split()
        table[Permission(name)] = {
            role: answer == "yes" for role, answer in zip(COLUMNS, answers, strict=True)
        }
    return table


def test_the_table_above_covers_every_permission_and_matches_the_code() -> None:
    grants = _grants()
    assert set(grants) == set(Permission) == set(WHO_MAY)
    for permission, by_role in grants.items():
        for role, allowed in by_role.items():
            assert may(role, permission) is allowed, f"{role.value} / {permission.value}"


def test_an_agent_may_not_approve_and_an_approver_may() -> None:
    assert not may(Role.AGENT, Permission.APPROVE)
    assert not may(Role.MANAGER, Permission.APPROVE)
    assert may(Role.APPROVER, Permission.APPROVE)


def test_an_admin_sees_no_customer_record_nor_a_caller() -> None:
    assert not may(Role.ADMIN, Permission.CUSTOMER_RECORD)
    assert not may(Role.ADMIN, Permission.CALLER_VIEW)
    assert may(Role.ADMIN, Permission.ADMIN_PAGES)


def test_an_agent_sees_the_caller_view_and_call_flags_but_not_the_record() -> None:
    assert may(Role.AGENT, Permission.CALLER_VIEW)
    assert may(Role.AGENT, Permission.CALL_FLAGS)
    assert not may(Role.AGENT, Permission.CUSTOMER_RECORD)


def test_nobody_without_a_role_may_do_anything() -> None:
    # The system actor (expiry, purge) has no role: it acts through its own steps only.
    assert not any(may(None, permission) for permission in Permission)


# --- the lifecycle and alert steps read the same table -----------------------------------


def _restriction(status: RestrictionStatus) -> Restriction:
    return Restriction(
        reference="CCR-2026-0001",
        revision=1,
        customer=Customer(name="Jo Example"),
        status=status,
        mode=Mode.ENFORCE,
        stage=Stage.STAGE1,
        category=Category.C,
        email_measure=EmailMeasure.REDIRECT,
        spoc_email="spoc@council.example.org",
        starts_on=TODAY,
        review_every_months=3,
        scope_all=True,
        exempt_addresses=[],
        legal_hold=False,
        reviews=[],
        proposed_by_id=PROPOSER_ID,
    )


STEPS: dict[Permission, Callable[[Actor], object]] = {
    Permission.PROPOSE: lambda a: lifecycle.submit(_restriction(RestrictionStatus.DRAFT), a, NOW),
    Permission.APPROVE: lambda a: lifecycle.approve(
        _restriction(RestrictionStatus.PENDING_APPROVAL), a, NOW, today=TODAY, appeal_days=14
    ),
    Permission.VARY: lambda a: lifecycle.vary(
        _restriction(RestrictionStatus.ACTIVE), a, NOW, {"stage": Stage.STAGE2}, today=TODAY,
        reason="escalating",
    ),
    Permission.LIFT: lambda a: lifecycle.lift(
        _restriction(RestrictionStatus.ACTIVE), a, NOW, "no longer needed"
    ),
    Permission.REVIEW: lambda a: lifecycle.record_review(
        _restriction(RestrictionStatus.ACTIVE), a, NOW, today=TODAY,
        outcome=ReviewOutcome.CONTINUE,
    ),
    Permission.LEGAL_HOLD: lambda a: lifecycle.set_legal_hold(
        _restriction(RestrictionStatus.ACTIVE), a, NOW, hold=True, reason="tribunal claim"
    ),
    Permission.HANDLE_ALERTS: lambda a: alerts.acknowledge(
        Alert(id=7, rule="emails_1d", person_key="i:5", identity_id=5, status=AlertStatus.OPEN),
        a,
        NOW,
    ),
}  # fmt: skip


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(STEPS))
def test_each_step_refuses_exactly_the_roles_the_table_refuses(
    permission: Permission, role: Role
) -> None:
    actor = Actor(f"{role.value}@council.example.org", role, PROPOSER_ID + 1)
    step = STEPS[permission]
    if may(role, permission):
        step(actor)
    else:
        with pytest.raises((TransitionRefused, AlertRefused), match=r"^only "):
            step(actor)
