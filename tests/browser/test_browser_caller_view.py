"""The agent's caller view, the reviews due and the legal hold pages in real headless
Chromium against the real service, with axe-core run on each page (and each form's error
state) as the role that uses it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from admin_ui.dashboard import REVIEWS_ON_DASHBOARD
from routing.enums import IdentityKind, PhoneMeasure, Role
from routing.lifecycle import Actor
from routing.models import Restriction, StaffUser
from tests.browser.conftest import LiveService
from tests.browser.helpers import assert_accessible, sign_in, sign_out
from tests.integration.register_helpers import impose_restriction
from tests.web.conftest import ADMIN, AGENT, APPROVER, MANAGER
from tests.web.page_data import call_in, earlier_today, restrictions_due_for_review

pytestmark = pytest.mark.browser

CUSTOMER_EMAIL = "robin.sample@example.org"
CUSTOMER_PHONE = "07700 900789"


def _staff(live: LiveService) -> dict[str, Actor]:
    with live.rt.uow() as session:
        users = {u.email: u for u in session.scalars(select(StaffUser))}
    return {
        MANAGER: Actor(MANAGER, Role.MANAGER, users[MANAGER].id),
        APPROVER: Actor(APPROVER, Role.APPROVER, users[APPROVER].id),
    }


@pytest.fixture
def barred(live: LiveService) -> str:
    """A customer barred from calling, with a flagged call; returns the reference."""
    staff = _staff(live)
    reference = impose_restriction(
        live.rt,
        staff[MANAGER],
        staff[APPROVER],
        [(CUSTOMER_EMAIL, IdentityKind.EMAIL), (CUSTOMER_PHONE, IdentityKind.PHONE)],
        phone_measure=PhoneMeasure.BARRED,
    )
    call_in(live.rt, CUSTOMER_PHONE, earlier_today(live.rt, 10))
    return reference


def nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()
    page.wait_for_load_state()


def test_the_caller_view_passes_axe_and_is_reached_from_a_call_flag(
    page: Any, live: LiveService, barred: str
) -> None:
    sign_in(page, AGENT)
    nav(page, "Call flags")
    page.get_by_role("link", name=barred).click()
    expect(page.get_by_role("heading", name=barred)).to_be_visible()
    expect(page.get_by_text("Telephone contact is not accepted from this caller")).to_be_visible()
    expect(page.get_by_role("cell", name="phone barred")).to_be_visible()
    assert page.url.endswith(f"#restriction-{barred}")
    assert_accessible(page)


def test_the_reviews_due_on_the_dashboard_and_in_full_pass_axe(
    page: Any, live: LiveService, barred: str
) -> None:
    with live.rt.uow() as session:
        customer_id = session.scalar(select(Restriction.customer_id).limit(1))
    staff = _staff(live)
    restrictions_due_for_review(
        live.rt, staff[MANAGER], staff[APPROVER], customer_id, REVIEWS_ON_DASHBOARD + 2
    )
    sign_in(page, MANAGER)
    expect(page.get_by_text("And 2 more.")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name=f"See all {REVIEWS_ON_DASHBOARD + 2} reviews due").click()
    expect(page.get_by_role("heading", name="Reviews due")).to_be_visible()
    expect(page.get_by_role("cell", name="overdue").first).to_be_visible()
    assert_accessible(page)


def test_placing_and_releasing_a_legal_hold_passes_axe(
    page: Any, live: LiveService, barred: str
) -> None:
    sign_in(page, ADMIN)
    nav(page, "Retention")
    page.get_by_role("link", name="Place a legal hold").click()
    assert_accessible(page)
    page.get_by_role("button", name="Place the hold").click()  # empty: errors
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Restriction reference").fill(barred)
    page.get_by_label("Reason").fill("Complaint with the Ombudsman (test)")
    page.get_by_role("button", name="Place the hold").click()
    expect(page.get_by_role("status").filter(has_text="is under a legal hold")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name=f"Release the hold on {barred}").click()
    expect(page.get_by_label("Restriction reference")).to_have_value(barred)
    page.get_by_role("button", name="Release the hold").click()  # no reason: errors
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Reason").fill("Complaint closed (test)")
    page.get_by_role("button", name="Release the hold").click()
    expect(page.get_by_text("No restriction is under a legal hold.")).to_be_visible()
    assert_accessible(page)
    sign_out(page)
