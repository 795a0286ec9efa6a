"""The alerts, call flags, mail log, audit log, staff accounts and API tokens pages in real
headless Chromium against the real service, with axe-core run on each page (and on each
page's error state) as the role that uses it."""

from __future__ import annotations

import datetime as dt
import re
import smtplib
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from gateway.jobs.queue import InProcessQueue
from gateway.settings import Settings
from routing.enums import IdentityKind, PhoneMeasure, Role
from routing.lifecycle import Actor
from routing.models import StaffUser
from tests.browser.conftest import LiveService
from tests.browser.helpers import assert_accessible, sign_in, sign_out
from tests.integration.register_helpers import impose_restriction
from tests.web.conftest import ADMIN, AGENT, APPROVER, MANAGER
from tests.web.page_data import call_in, earlier_today, email_identity_of, raise_email_alert

pytestmark = pytest.mark.browser

CUSTOMER_EMAIL = "robin.sample@example.org"
CUSTOMER_PHONE = "07700 900789"
HOUSING = "housing@council.example.org"
PLANNING = "planning@council.example.org"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A copy that fails is given up at once, so a blocked mailbox makes a dead letter now.
    return settings.model_copy(update={"delivery_lifetime_hours": 1e-7})


@pytest.fixture
def casework(live: LiveService) -> str:
    """A customer barred from calling, with a flagged call today and an open email alert;
    returns the restriction's reference."""
    rt = live.rt
    with rt.uow() as session:
        ids = {u.email: u for u in session.scalars(select(StaffUser))}
    manager = Actor(MANAGER, Role.MANAGER, ids[MANAGER].id)
    approver = Actor(APPROVER, Role.APPROVER, ids[APPROVER].id)
    reference = impose_restriction(
        rt,
        manager,
        approver,
        [(CUSTOMER_EMAIL, IdentityKind.EMAIL), (CUSTOMER_PHONE, IdentityKind.PHONE)],
        phone_measure=PhoneMeasure.BARRED,
    )
    now = dt.datetime.now(dt.UTC)
    call_in(rt, CUSTOMER_PHONE, earlier_today(rt, 10))
    raise_email_alert(rt, email_identity_of(rt, CUSTOMER_EMAIL), now - dt.timedelta(minutes=1))
    return reference


def nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()
    page.wait_for_load_state()


def test_alert_pages_and_their_actions_pass_axe(
    page: Any, live: LiveService, casework: str
) -> None:
    sign_in(page, MANAGER)
    nav(page, "Alerts")
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Status").select_option("dismissed")
    page.get_by_role("button", name="Show alerts").click()
    expect(page.get_by_text("No alerts match.")).to_be_visible()
    assert_accessible(page)

    nav(page, "Alerts")
    page.get_by_role("link", name=re.compile(r"^Alert \d+$")).first.click()
    expect(page.get_by_role("img", name=re.compile("Emails per day"))).to_be_visible()
    assert_accessible(page)
    page.get_by_text("The figures as a table").click()  # the chart's table, opened
    assert_accessible(page)

    page.get_by_role("button", name="Dismiss the alert").click()  # no reason given
    summary = page.get_by_role("alert")
    expect(summary.get_by_text("Enter why the contact is reasonable")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^Error: "))
    assert_accessible(page)
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.id") == "reason"

    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status").filter(has_text="acknowledged")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Escalate: draft a warning").click()
    expect(page.get_by_role("status").filter(has_text="drafted as a warning")).to_be_visible()
    expect(page.get_by_role("button", name="Propose for approval")).to_be_visible()
    assert_accessible(page)


def test_call_flags_pass_axe_for_agents(page: Any, live: LiveService, casework: str) -> None:
    sign_in(page, AGENT)
    nav(page, "Call flags")
    expect(page.get_by_role("cell", name="phone barred")).to_be_visible()
    expect(page.get_by_role("link", name=casework)).to_be_visible()
    assert_accessible(page)
    page.get_by_label("From").fill("2026-03-10")
    page.get_by_label("To").fill("2026-03-01")
    page.get_by_role("button", name="Show flags").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page)


def test_the_mail_log_with_a_dead_letter_retried_passes_axe(page: Any, live: LiveService) -> None:
    live.maildir.mkdir(parents=True, exist_ok=True)
    blocker = live.maildir / PLANNING
    blocker.write_text("not a folder")  # deliveries to this mailbox fail: a dead letter
    for recipient in (HOUSING, PLANNING):
        _send(live, recipient)

    sign_in(page, ADMIN)
    nav(page, "Mail log")
    retry = page.get_by_role("button", name=re.compile(f"^Retry copy \\d+ to {PLANNING}$"))
    expect(retry).to_be_visible()
    assert_accessible(page)
    blocker.unlink()
    retry.click()
    expect(page.get_by_role("status").filter(has_text="queued for delivery again")).to_be_visible()
    assert isinstance(live.rt.jobs, InProcessQueue) and live.rt.jobs.join(timeout=60)
    page.reload()
    expect(page.get_by_text("None: every copy has been delivered")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Routed as").select_option("redirect")
    page.get_by_role("button", name="Show messages").click()
    expect(page.get_by_text("No messages routed as redirect")).to_be_visible()
    assert_accessible(page)


def test_audit_log_staff_accounts_and_tokens_pass_axe(page: Any, live: LiveService) -> None:
    sign_in(page, ADMIN)
    nav(page, "Audit log")
    expect(page.get_by_role("cell", name="staff.signed_in").first).to_be_visible()
    assert_accessible(page)
    page.get_by_label("From").fill("2026-03-10")
    page.get_by_label("Who").fill(ADMIN)
    page.get_by_role("button", name="Show entries").click()
    assert_accessible(page)

    nav(page, "Staff accounts")
    assert_accessible(page)
    page.get_by_role("link", name="Add a staff account").click()
    assert_accessible(page)
    page.get_by_role("button", name="Add the account").click()  # empty: errors
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Email address").fill("temp.officer@council.example.org")
    page.get_by_label("Agent: caller lookup and call flags").check()
    page.get_by_role("button", name="Add the account").click()
    expect(page.get_by_role("heading", name="Staff account added")).to_be_visible()
    assert_accessible(page)
    nav(page, "Staff accounts")
    page.get_by_role("button", name="Deactivate temp.officer@council.example.org").click()
    expect(page.get_by_role("status").filter(has_text="is deactivated")).to_be_visible()
    assert_accessible(page)

    nav(page, "API tokens")
    assert_accessible(page)
    page.get_by_role("link", name="Make a token").click()
    page.get_by_role("button", name="Make the token").click()  # empty: errors
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Name").fill("screen-pop")
    page.get_by_label(re.compile("^lookup:")).check()
    page.get_by_role("button", name="Make the token").click()
    expect(page.get_by_text(re.compile(r"^ccr_"))).to_be_visible()
    assert_accessible(page)
    nav(page, "API tokens")
    page.get_by_role("button", name="Revoke screen-pop").click()
    expect(page.get_by_role("status").filter(has_text="is revoked")).to_be_visible()
    assert_accessible(page)
    nav(page, "Retention")
    expect(page.get_by_role("heading", name="Legal holds")).to_be_visible()
    assert_accessible(page)
    sign_out(page)


def _send(live: LiveService, recipient: str) -> None:
    message = f"From: {CUSTOMER_EMAIL}\r\nTo: {recipient}\r\nSubject: Hello\r\n\r\nHello\r\n"
    with smtplib.SMTP("127.0.0.1", live.smtp_port, local_hostname="client.test") as client:
        client.sendmail(CUSTOMER_EMAIL, [recipient], message.encode())
    assert isinstance(live.rt.jobs, InProcessQueue) and live.rt.jobs.join(timeout=60)
