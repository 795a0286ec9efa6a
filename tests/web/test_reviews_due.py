"""The dashboard's reviews due, through the real app and database: read once per dashboard,
capped, with "and N more" linking to the full list, which pages."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from admin_ui.dashboard import REVIEWS_ON_DASHBOARD
from gateway.runtime import Runtime
from routing.lifecycle import Actor
from routing.models import Restriction
from tests.web.conftest import AGENT, APPROVER, MANAGER, Register
from tests.web.helpers import StaffClient, text_of
from tests.web.page_data import restrictions_due_for_review

ROW = re.compile(r'<td><a href="/restrictions/\d+">(CCR-\d{4}-\d{4})</a></td>')


@contextmanager
def statements(rt: Runtime) -> Iterator[list[str]]:
    """The SQL the database is sent while inside."""
    sent: list[str] = []

    def record(_conn, _cursor, statement: str, *_args) -> None:
        sent.append(statement)

    event.listen(rt.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(rt.engine, "before_cursor_execute", record)


@pytest.fixture
def many_due(rt: Runtime, register: Register, staff: dict[str, Actor]) -> list[str]:
    return restrictions_due_for_review(
        rt, staff[MANAGER], staff[APPROVER], register.customer_id, REVIEWS_ON_DASHBOARD + 7
    )


def test_the_dashboard_reads_the_reviews_due_once_and_caps_the_list(
    rt: Runtime, many_due: list[str], client_for: Callable[[str], StaffClient]
) -> None:
    manager = client_for(MANAGER)
    with statements(rt) as sent:
        page = text_of(manager.get("/"))
    assert len([s for s in sent if "next_review_on" in s]) == 1
    total = len(many_due)
    assert f'<span class="figure-value">{total}</span>' in page
    assert ROW.findall(page) == many_due[:REVIEWS_ON_DASHBOARD]
    assert "overdue</strong>" in page
    assert f"And {total - REVIEWS_ON_DASHBOARD} more." in page
    assert f'<a href="/reviews-due">See all {total} reviews due</a>' in page


def test_the_full_list_shows_every_review_due_a_page_at_a_time(
    rt: Runtime,
    register: Register,
    staff: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
    client_for: Callable[[str], StaffClient],
) -> None:
    references = restrictions_due_for_review(
        rt, staff[MANAGER], staff[APPROVER], register.customer_id, 5
    )
    monkeypatch.setattr("admin_ui.dashboard.REVIEWS_PAGE_SIZE", 3)
    manager = client_for(MANAGER)
    first = text_of(manager.get("/reviews-due"))
    assert "5 restrictions in force with a review due by" in first
    assert ROW.findall(first) == references[:3]
    assert 'href="/reviews-due?from=3">Later reviews</a>' in first
    second = text_of(manager.get("/reviews-due?from=3"))
    assert ROW.findall(second) == references[3:]
    assert 'href="/reviews-due">Sooner reviews</a>' in second and "Later reviews" not in second
    beyond = text_of(manager.get("/reviews-due?from=30"))
    assert "5 restrictions in force" in beyond and ROW.findall(beyond) == []


def test_a_short_list_has_no_more_link_and_agents_see_no_reviews(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    with rt.uow() as session:
        session.get(Restriction, register.active_id).next_review_on = rt.today()
    page = text_of(client_for(APPROVER).get("/"))
    assert ROW.findall(page) == [register.reference]
    assert "more." not in page and 'href="/reviews-due">' in page  # the figure links there
    agent = text_of(client_for(AGENT).get("/"))
    assert "Reviews due" not in agent and register.reference not in agent
