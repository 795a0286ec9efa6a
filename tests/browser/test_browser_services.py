"""The council's services in real headless Chromium against the real service: an admin adds
and changes a service (axe on the list, the form, its error state and the edit page), and a
restriction scoped to a service follows the service's new mailbox at once through the
register cache, while other services' mail is left alone; the scope shows on the agent's
caller view, in its script and in the lookup API's answer."""

from __future__ import annotations

import json
import smtplib
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from gateway.jobs.queue import InProcessQueue
from gateway.services import accounts, council_services
from gateway.services.council_services import ServiceTerms
from routing.enums import EmailMeasure, IdentityKind, PhoneMeasure
from routing.lifecycle import Actor
from routing.models import AuditEntry, Customer, StaffUser, utcnow
from tests.browser.conftest import LiveService
from tests.browser.helpers import assert_accessible, sign_in, sign_out
from tests.integration.register_helpers import SPOC, impose_restriction
from tests.integration.smtp_helpers import maildir_messages
from tests.web.conftest import ADMIN, AGENT, APPROVER, MANAGER

pytestmark = pytest.mark.browser

CUSTOMER = "robin.sample@example.org"
CUSTOMER_PHONE = "07700 900789"
COUNCIL_TAX = "counciltax@council.example.org"
NEW_MAILBOX = "ctax.recovery@council.example.org"
HOUSING = "housing@council.example.org"


def _staff(live: LiveService) -> dict[str, Actor]:
    with live.rt.uow() as session:
        users = {u.email: u for u in session.scalars(select(StaffUser))}
    return {email: Actor(email, users[email].role, users[email].id) for email in users}


def _add(live: LiveService, name: str, *mailboxes: str) -> None:
    with live.rt.uow() as session:
        council_services.add_service(
            session, ServiceTerms(name, mailboxes=mailboxes), actor="test", now=utcnow()
        )


def _open_services(page: Any) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Services").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="Services", exact=True)).to_be_visible()


def _send(live: LiveService, recipient: str) -> None:
    message = f"From: {CUSTOMER}\r\nTo: {recipient}\r\nSubject: Bill\r\n\r\nAbout my bill.\r\n"
    with smtplib.SMTP("127.0.0.1", live.smtp_port, local_hostname="client.test") as client:
        client.sendmail(CUSTOMER, [recipient], message.encode())
    assert isinstance(live.rt.jobs, InProcessQueue)
    assert live.rt.jobs.join(timeout=60)


def test_an_admin_adds_and_changes_a_service_and_everyone_can_read_the_list(
    page: Any, live: LiveService
) -> None:
    _add(live, "Housing", HOUSING)
    sign_in(page, ADMIN)
    _open_services(page)
    assert_accessible(page)
    page.get_by_role("link", name="Add a service").click()
    assert_accessible(page)

    page.get_by_label("Name").fill("housing")
    page.get_by_label("Mailboxes").fill("parking@council.example.org")
    page.get_by_role("button", name="Save the service").click()
    duplicate = "A service called 'Housing' already exists"
    expect(page.get_by_role("link", name=duplicate)).to_be_visible()
    assert page.title().startswith("Error: ")
    assert_accessible(page)

    page.get_by_label("Name").fill("Parking")
    page.get_by_label("Mailboxes").fill("not an address")
    page.get_by_role("button", name="Save the service").click()
    expect(page.get_by_text("'not an address' is not an email address").first).to_be_visible()

    page.get_by_label("Mailboxes").fill("Parking@Council.Example.org")
    page.get_by_label("Phone lines").fill("020 7946 0400")
    page.get_by_role("button", name="Save the service").click()
    expect(page.get_by_text("Parking is saved.")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Parking")
    expect(row.get_by_role("cell", name="parking@council.example.org")).to_be_visible()
    expect(row.get_by_role("cell", name="020 7946 0400")).to_be_visible()

    row.get_by_role("link", name="Change Parking").click()
    expect(page.get_by_role("heading", name="Change Parking")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Phone lines").fill("")
    page.get_by_label("Mailboxes").fill("parking@council.example.org\npermits@council.example.org")
    page.get_by_role("button", name="Save the service").click()
    row = page.get_by_role("row").filter(has_text="Parking")
    expect(row.get_by_role("cell", name="020 7946 0400")).to_have_count(0)
    expect(row).to_contain_text("permits@council.example.org")
    with live.rt.uow() as session:
        actions = list(
            session.scalars(select(AuditEntry.action).where(AuditEntry.subject_type == "service"))
        )
    assert actions.count("service.created") == 2 and actions.count("service.changed") == 1

    sign_out(page)
    sign_in(page, AGENT)
    _open_services(page)
    expect(page.get_by_role("row").filter(has_text="Parking")).to_contain_text("permits@")
    expect(page.get_by_role("link", name="Add a service")).to_have_count(0)
    expect(page.get_by_role("link", name="Change Parking")).to_have_count(0)
    assert_accessible(page)


def test_a_scoped_restriction_follows_its_service_and_leaves_other_services_alone(
    page: Any, live: LiveService, tmp_path: Path
) -> None:
    _add(live, "Council Tax", COUNCIL_TAX)
    _add(live, "Housing", HOUSING)
    staff = _staff(live)
    reference = impose_restriction(
        live.rt,
        staff[MANAGER],
        staff[APPROVER],
        [(CUSTOMER, IdentityKind.EMAIL), (CUSTOMER_PHONE, IdentityKind.PHONE)],
        email_measure=EmailMeasure.REDIRECT,
        phone_measure=PhoneMeasure.BARRED,
        scope_services=["Council Tax"],
    )
    # Before the change the new mailbox is outside the restriction: the mail reaches it.
    _send(live, NEW_MAILBOX)
    assert len(maildir_messages(live.maildir, NEW_MAILBOX)) == 1

    sign_in(page, ADMIN)
    _open_services(page)
    page.get_by_role("link", name="Change Council Tax").click()
    page.get_by_label("Mailboxes").fill(f"{COUNCIL_TAX}\n{NEW_MAILBOX}")
    page.get_by_role("button", name="Save the service").click()
    expect(page.get_by_text("Council Tax is saved.")).to_be_visible()

    # At once, with no wait for the refresh: the new mailbox is in scope, Housing is not.
    _send(live, NEW_MAILBOX)
    _send(live, HOUSING)
    assert len(maildir_messages(live.maildir, NEW_MAILBOX)) == 1  # still only the first
    assert len(maildir_messages(live.maildir, SPOC)) == 1
    assert len(maildir_messages(live.maildir, HOUSING)) == 1

    sign_out(page)
    sign_in(page, AGENT)
    with live.rt.uow() as session:
        customer_id = session.scalar(select(Customer.id).where(Customer.name == "Jo"))
    page.goto(f"/customers/{customer_id}")
    expect(page.get_by_role("heading", name=reference)).to_be_visible()
    expect(page.get_by_text("Council Tax", exact=True)).to_be_visible()  # services covered
    expect(page.get_by_text("Council Tax only: take other calls as normal.")).to_be_visible()
    assert_accessible(page)

    answer = _lookup(live, CUSTOMER_PHONE)
    assert answer["services"] == ["Council Tax"]
    assert answer["scope_text"] == "Council Tax only"
    assert answer["agent_script"].startswith("Council Tax only: take other calls as normal.")


def _lookup(live: LiveService, phone: str) -> dict[str, Any]:
    with live.rt.uow() as session:
        secret = accounts.add_token(
            session, name="screen-pop", scopes=["lookup"], actor="test", now=utcnow()
        )
    request = urllib.request.Request(
        live.url(f"/api/v1/lookup?phone={urllib.parse.quote(phone)}"),
        headers={"Authorization": f"Bearer {secret}"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())
