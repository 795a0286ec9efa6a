"""The staff web UI in real headless Chromium against the real service (waitress web server
and SMTP gateway on loopback): a manager proposes, a different approver approves, and the
customer's next email is redirected. axe-core checks every page on the way."""

from __future__ import annotations

import re
import smtplib
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from gateway.jobs.queue import InProcessQueue
from gateway.store.tables import MailMessage
from tests.browser.conftest import LiveService
from tests.browser.helpers import assert_accessible, sign_in, sign_out
from tests.web.conftest import ADMIN, AGENT, APPROVER, MANAGER, SPOC

pytestmark = pytest.mark.browser

CUSTOMER = "alex.sample@example.org"
HOUSING = "housing@council.example.org"


def test_a_restriction_proposed_and_approved_in_the_browser_redirects_the_next_email(
    page: Any, live: LiveService
) -> None:
    page.goto("/")
    assert "/sign-in" in page.url
    assert_accessible(page)
    sign_in(page, MANAGER)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert_accessible(page)

    customer_url = add_customer(page, "Alex Sample", CUSTOMER)
    restriction_url = propose_redirect_to_spoc(page)
    expect(page.get_by_text("pending approval").first).to_be_visible()
    sign_out(page)

    sign_in(page, APPROVER)
    page.goto(restriction_url)
    page.get_by_role("button", name="Approve: bring it into force").click()
    expect(
        page.get_by_role("status").filter(has_text="approved: it is in force now")
    ).to_be_visible()
    assert_accessible(page)

    queue_id = send_mail(live, CUSTOMER, HOUSING)
    assert_mail_log_shows_redirect(page, live, queue_id)
    page.goto(customer_url)
    expect(page.get_by_role("cell", name=HOUSING).first).to_be_visible()  # the timeline


def add_customer(page: Any, name: str, email: str) -> str:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
    assert_accessible(page)
    page.get_by_role("link", name="Add a customer").click()
    assert_accessible(page)
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Email addresses").fill(email)
    page.get_by_role("button", name="Add the customer").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    assert_accessible(page)
    return page.url


def propose_redirect_to_spoc(page: Any) -> str:
    page.get_by_role("link", name="Propose a restriction").click()
    assert_accessible(page)
    page.get_by_label("Stage 1").check()
    page.get_by_label("C: unreasonable levels of contact").check()
    page.get_by_label("Redirect: email goes only to the single point of contact").check()
    page.get_by_role("button", name="Propose for approval").click()

    # Forgotten SPOC address: the summary names it and its link takes the keyboard there.
    summary = page.get_by_role("alert")
    expect(summary.get_by_text("needs a SPOC email address")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^Error: "))
    assert_accessible(page)
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.id") == "spoc_email"
    page.keyboard.type(SPOC)
    page.get_by_label("Reason", exact=True).fill("Daily emails to several officers (test)")
    page.get_by_role("button", name="Propose for approval").click()
    expect(page.get_by_text("A different approver must approve it")).to_be_visible()
    assert_accessible(page)
    return page.url


def send_mail(live: LiveService, sender: str, recipient: str) -> str:
    """An email from the customer through the running gateway; returns its queue id."""
    message = f"From: {sender}\r\nTo: {recipient}\r\nSubject: Bins\r\n\r\nWhere is my bin?\r\n"
    with smtplib.SMTP("127.0.0.1", live.smtp_port, local_hostname="client.test") as client:
        client.sendmail(sender, [recipient], message.encode())
    assert isinstance(live.rt.jobs, InProcessQueue)
    assert live.rt.jobs.join(timeout=60)
    with live.rt.uow() as session:
        return session.scalar(select(MailMessage.queue_id).order_by(MailMessage.id.desc()))


def assert_mail_log_shows_redirect(page: Any, live: LiveService, queue_id: str) -> None:
    """The mail log, read in the browser as the approver, shows the message going only to
    the SPOC, redirected under the restriction just approved; the SPOC's Maildir agrees."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Mail log").click()
    expect(page.get_by_role("heading", name="Mail log", exact=True)).to_be_visible()
    rows = page.get_by_role("row").filter(has_text=queue_id)
    expect(rows).to_have_count(1)  # one copy: the customer's mail reached no one else
    row = rows.first
    expect(row.get_by_role("cell", name="redirect", exact=True)).to_be_visible()
    expect(row.get_by_role("cell", name=SPOC, exact=True)).to_be_visible()
    expect(row.get_by_role("cell", name=HOUSING, exact=True)).to_be_visible()  # addressed to
    expect(row.get_by_role("cell", name=re.compile(r"^CCR-\d{4}-\d{4}$"))).to_be_visible()
    expect(row.get_by_role("cell", name=re.compile(r"^Delivered "))).to_be_visible()
    assert_accessible(page)
    assert len(list((live.maildir / SPOC / "new").iterdir())) == 1
    assert not (live.maildir / HOUSING).exists()


def test_every_page_passes_axe_for_every_role_that_uses_it(page: Any, live: LiveService) -> None:
    sign_in(page, MANAGER)
    customer_url = add_customer(page, "Sam Example", "sam.example@example.org")
    restriction_url = propose_redirect_to_spoc(page)
    page.goto("/customers?q=sam")
    expect(page.get_by_text("1 customer found")).to_be_visible()
    assert_accessible(page)
    page.goto("/register")
    assert_accessible(page)
    sign_out(page)
    assert_accessible(page)  # the sign-in page with its "signed out" message

    sign_in(page, APPROVER)
    page.goto(restriction_url)
    page.get_by_role("button", name="Approve: bring it into force").click()
    for action in ("Record a review", "Vary the terms", "Lift it"):
        page.goto(restriction_url)
        page.get_by_role("link", name=action).click()
        assert_accessible(page)
        page.get_by_role("button").filter(has_not_text="Sign out").last.click()  # empty: errors
        expect(page.get_by_role("alert")).to_be_visible()
        assert_accessible(page)
    page.goto(customer_url)
    expect(page.get_by_role("img", name="Contacts per day")).to_be_visible()
    assert_accessible(page)
    sign_out(page)

    for email in (AGENT, ADMIN):
        sign_in(page, email)
        assert_accessible(page)  # the dashboard, as this role sees it
        page.goto("/no-such-page")
        assert_accessible(page)
        sign_out(page)
    sign_in(page, AGENT)
    page.goto(customer_url)
    assert_accessible(page)
    page.goto("/register")  # not for agents
    expect(page.get_by_role("heading", name="You cannot use this page")).to_be_visible()
    assert_accessible(page)
    page.goto("/status")
    assert_accessible(page)


def test_the_keyboard_reaches_the_content_first_through_the_skip_link(
    page: Any, live: LiveService
) -> None:
    sign_in(page, MANAGER)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
