"""The SPOC queue in real headless Chromium, with axe-core: mail a restriction redirected,
sent over real SMTP to the live gateway, listed, opened and given an outcome by keyboard
and mouse as a caseworker would."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest

from routing.enums import EmailMeasure, IdentityKind, Role
from routing.lifecycle import Actor
from tests.browser.conftest import LiveService
from tests.browser.helpers import assert_accessible, sign_in
from tests.integration.register_helpers import impose_restriction
from tests.web.conftest import APPROVER, MANAGER

pytestmark = pytest.mark.browser

CUSTOMER = "robin.example@example.org"
MESSAGE = (
    f"From: {CUSTOMER}\r\nTo: housing@council.example.org\r\nSubject: Missed collection\r\n"
    "Content-Type: text/html; charset=utf-8\r\n\r\n"
    "<p>The bin was <b>missed</b> again.</p><script>document.title='x'</script>\r\n"
).encode()


def test_the_queue_and_an_item_are_accessible_and_an_outcome_is_recorded(
    page: Any, live: LiveService
) -> None:
    manager = Actor(MANAGER, Role.MANAGER)
    approver = Actor(APPROVER, Role.APPROVER)
    impose_restriction(
        live.rt, manager, approver, [(CUSTOMER, IdentityKind.EMAIL)],
        email_measure=EmailMeasure.REDIRECT,
    )  # fmt: skip
    with smtplib.SMTP("127.0.0.1", live.smtp_port, local_hostname="client.test") as client:
        client.sendmail(CUSTOMER, ["housing@council.example.org"], MESSAGE)

    page.goto("/spoc-queue")
    sign_in(page, MANAGER)
    # The 250 came after the item was stored, in the same transaction: no waiting.
    page.goto("/spoc-queue?whose=all")
    assert page.get_by_role("link", name="Missed collection").count() == 1
    assert page.get_by_text("Unread").is_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Missed collection").click()
    page.wait_for_load_state()
    assert page.get_by_text("The bin was missed again.").is_visible()
    assert page.title() != "x"
    assert_accessible(page)

    page.get_by_role("button", name="Record the outcome").click()  # nothing chosen
    page.wait_for_load_state()
    assert page.get_by_text("There is a problem").is_visible()
    assert_accessible(page)

    page.get_by_label("Passed to a service as a new matter").check()
    page.get_by_label("Which service (for a new matter)").fill("Waste and recycling")
    page.get_by_role("button", name="Record the outcome").click()
    page.wait_for_load_state()
    assert page.get_by_text("Outcome recorded.").is_visible()
    page.goto("/spoc-queue?whose=all")
    assert page.get_by_text("Missed collection").count() == 0  # no longer waiting
    assert_accessible(page)
