"""Approvals by stage in real headless Chromium against the real service, with the council's
policy set (stage 2 and cease and desist: a senior approver, a declaration of no prior
involvement, a business case): the manager is asked for the business case, the approver is
refused as too junior, the senior approver is refused until they declare, then approves;
the page shows the business case and the declaration. axe-core checks each state."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from gateway.settings import Settings
from routing.enums import RestrictionStatus, Stage
from routing.models import Restriction
from tests.browser.conftest import LiveService
from tests.browser.helpers import assert_accessible, sign_in, sign_out
from tests.browser.test_browser import add_customer
from tests.web.conftest import APPROVER, MANAGER, SENIOR_APPROVER, SPOC

pytestmark = pytest.mark.browser

POLICY_STAGES = [Stage.STAGE2, Stage.CEASE_AND_DESIST]
BUSINESS_CASE = "Abusive calls continued for three months after the stage 1 letter."


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings with the council's approval policy switched on."""
    return settings.model_copy(
        update={
            "senior_approval_stages": POLICY_STAGES,
            "no_prior_involvement_stages": POLICY_STAGES,
            "business_case_stages": POLICY_STAGES,
        }
    )


def _propose_stage_two(page: Any) -> str:
    page.get_by_role("link", name="Propose a restriction").click()
    expect(page.get_by_text("required for Stage 2 and Cease and desist")).to_be_visible()
    page.get_by_label("Stage 2").check()
    page.get_by_label("A: aggressive or abusive behaviour").check()
    page.get_by_label("Redirect: email goes only to the single point of contact").check()
    page.get_by_label("SPOC email address").fill(SPOC)
    page.get_by_role("button", name="Propose for approval").click()
    summary = page.get_by_role("alert")
    expect(summary.get_by_text("Enter why the restriction is proposed")).to_be_visible()
    page.get_by_label("Reason", exact=True).fill("Abusive calls to staff (test)")
    page.get_by_role("button", name="Propose for approval").click()
    expect(summary.get_by_text("Stage 2 restrictions need a business case")).to_be_visible()
    assert_accessible(page)
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.id") == "business_case"
    page.keyboard.type(BUSINESS_CASE)
    page.get_by_role("button", name="Propose for approval").click()
    expect(page.get_by_text("A different approver must approve it")).to_be_visible()
    return page.url


def _approve(page: Any) -> None:
    page.get_by_role("button", name="Approve: bring it into force").click()
    page.wait_for_load_state()


def test_stage_two_needs_a_business_case_a_senior_approver_and_a_declaration(
    page: Any, live: LiveService
) -> None:
    sign_in(page, MANAGER)
    add_customer(page, "Alex Sample", "alex.sample@example.org")
    restriction_url = _propose_stage_two(page)
    sign_out(page)

    sign_in(page, APPROVER)
    page.goto(restriction_url)
    expect(page.get_by_text("A Stage 2 restriction needs a senior approver.")).to_be_visible()
    _approve(page)
    expect(page.get_by_role("alert")).to_contain_text(
        "Stage 2 restrictions need a senior approver to approve them"
    )
    assert_accessible(page)
    sign_out(page)

    sign_in(page, SENIOR_APPROVER)
    page.goto(restriction_url)
    assert_accessible(page)
    _approve(page)  # without the declaration
    expect(page.get_by_role("alert")).to_contain_text("no prior involvement")
    with live.rt.uow() as session:
        status = session.scalar(select(Restriction.status))
    assert status is RestrictionStatus.PENDING_APPROVAL

    page.get_by_label("I have had no prior involvement in this case").check()
    _approve(page)
    expect(page.get_by_role("status").filter(has_text="it is in force now")).to_be_visible()
    expect(
        page.get_by_text("The approver declared no prior involvement in the case")
    ).to_be_visible()
    expect(page.get_by_text(BUSINESS_CASE)).to_be_visible()
    assert_accessible(page)
    with live.rt.uow() as session:
        restriction = session.scalars(select(Restriction)).one()
        assert restriction.status is RestrictionStatus.ACTIVE
        assert restriction.no_prior_involvement is True
        assert restriction.business_case == BUSINESS_CASE
