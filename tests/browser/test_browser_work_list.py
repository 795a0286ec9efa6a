"""The dashboard as a work list, and withdrawing a proposal, in real headless Chromium
against the real service with axe-core on each page and error state: the approver's work
list leads to the proposal waiting for them; the manager withdraws it after being asked
for a reason, and it leaves the approver's work list."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveService
from tests.browser.helpers import assert_accessible, sign_in, sign_out
from tests.browser.test_browser import add_customer, propose_redirect_to_spoc
from tests.web.conftest import APPROVER, MANAGER

pytestmark = pytest.mark.browser

WAITING = "Proposals waiting for your approval"


def _work_entry(page: Any, name: str) -> Any:
    return page.get_by_role("listitem").filter(has=page.get_by_role("link", name=name))


def test_the_work_list_leads_to_a_proposal_which_its_manager_then_withdraws(
    page: Any, live: LiveService
) -> None:
    sign_in(page, MANAGER)
    add_customer(page, "Sam Sample", "sam.sample@example.org")
    restriction_url = propose_redirect_to_spoc(page)
    sign_out(page)

    sign_in(page, APPROVER)
    expect(_work_entry(page, WAITING)).to_contain_text("1 waiting")
    assert_accessible(page)
    _work_entry(page, WAITING).get_by_role("link").click()
    expect(page.get_by_role("heading", name="The register: pending approval")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    page.get_by_role("link", name="Appeals waiting for a decision").click()
    expect(page.get_by_text("No appeal is waiting for a decision.")).to_be_visible()
    assert_accessible(page)
    sign_out(page)

    sign_in(page, MANAGER)
    page.goto(restriction_url)
    page.get_by_role("link", name="Withdraw the proposal").click()
    assert_accessible(page)
    page.get_by_role("button", name="Withdraw the proposal").click()
    summary = page.get_by_role("alert")
    expect(summary.get_by_text("Enter why the proposal is being withdrawn")).to_be_visible()
    assert_accessible(page)
    summary.get_by_role("link").first.click()
    page.keyboard.type("Resolved at a meeting with the customer (test).")
    page.get_by_role("button", name="Withdraw the proposal").click()
    expect(page.get_by_text("withdrawn: it will not come into force")).to_be_visible()
    assert_accessible(page)
    sign_out(page)

    sign_in(page, APPROVER)
    expect(_work_entry(page, WAITING)).to_contain_text("Nothing waiting")
