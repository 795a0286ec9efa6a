"""Call flags through the real app and database: calls decided and recorded by the live
call API's function against a barred restriction, listed for agents by day and kind, in UK
time, with the restriction's reference and never its confidential notes."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from sqlalchemy import select

from gateway.runtime import Runtime
from gateway.store.tables import MailDelivery
from routing.enums import FlagKind, IdentityKind, PhoneMeasure
from routing.lifecycle import Actor
from routing.models import Alert
from tests.integration.register_helpers import impose_restriction
from tests.web.conftest import AGENT, APPROVER, CONFIDENTIAL, MANAGER
from tests.web.helpers import StaffClient, text_of
from tests.web.page_data import MAIN_LINE, call_in, earlier_today

CALLER = "07700 900456"


@pytest.fixture
def barred(rt: Runtime, staff: dict[str, Actor]) -> str:
    """A customer barred from calling, with a confidential note on the restriction."""
    return impose_restriction(
        rt,
        staff[MANAGER],
        staff[APPROVER],
        [(CALLER, IdentityKind.PHONE)],
        phone_measure=PhoneMeasure.BARRED,
        confidential_notes=CONFIDENTIAL,
    )


def test_agents_see_todays_flags_with_the_restriction_and_never_its_notes(
    rt: Runtime, barred: str, client_for: Callable[[str], StaffClient]
) -> None:
    at = earlier_today(rt, 5)
    assert call_in(rt, CALLER, at) == [FlagKind.PHONE_BARRED]
    page = text_of(client_for(AGENT).get("/call-flags"))
    assert ">phone barred</strong>" in page
    assert f">{barred}</a>" in page
    assert f"<td>{MAIN_LINE}</td>" in page
    local = at.astimezone(rt.timezone)
    assert f"{local.day} {local:%b %Y, %H:%M}" in page  # UK time, not UTC
    assert CONFIDENTIAL not in page and "Confidential" not in page


def test_flags_are_filtered_by_day_and_kind(
    rt: Runtime, barred: str, client_for: Callable[[str], StaffClient]
) -> None:
    today = rt.today()
    long_ago = dt.datetime.combine(today - dt.timedelta(days=20), dt.time(11), rt.timezone)
    call_in(rt, CALLER, long_ago.astimezone(dt.UTC))
    agent = client_for(AGENT)
    recent = text_of(agent.get("/call-flags"))
    assert "No flagged calls on these days." in recent  # the last 7 days by default
    day = long_ago.date().isoformat()
    that_day = text_of(agent.get(f"/call-flags?start={day}&end={day}"))
    assert ">phone barred</strong>" in that_day
    other_kind = text_of(agent.get(f"/call-flags?start={day}&end={day}&kind=outside_window"))
    assert "No flagged calls of that kind on these days." in other_kind


def test_a_range_that_ends_before_it_starts_is_shown_as_a_problem(
    client_for: Callable[[str], StaffClient], staff
) -> None:
    page = text_of(client_for(AGENT).get("/call-flags?start=2026-03-10&end=2026-03-01"))
    assert "There is a problem" in page
    assert '<a href="#start">The first day must not be after the last day</a>' in page
    assert "<title>Error: Call flags" in page


def test_an_agent_raises_a_safeguarding_concern_about_a_call_and_the_team_is_told(
    rt: Runtime, barred: str, client_for: Callable[[str], StaffClient]
) -> None:
    at = earlier_today(rt, 5)
    call_in(rt, CALLER, at)
    agent = client_for(AGENT)
    page = text_of(agent.get("/call-flags"))
    [event_id] = re.findall(r'action="/call-flags/(\d+)/safeguarding"', page)

    response = agent.post(f"/call-flags/{event_id}/safeguarding")

    assert response.status_code == 302
    assert "the safeguarding team has been told" in text_of(agent.get("/call-flags"))
    with rt.uow() as session:
        [alert] = session.scalars(select(Alert).where(Alert.rule == "safeguarding")).all()
        [copy] = session.scalars(select(MailDelivery)).all()
    assert alert.urgent and alert.customer_id is not None
    assert alert.evidence["contact_event_id"] == int(event_id)
    assert copy.target == rt.settings.safeguarding_mailbox
    # The managers' dashboard carries the banner until someone acts.
    assert f"Safeguarding concern {alert.id}" in text_of(client_for(MANAGER).get("/"))
