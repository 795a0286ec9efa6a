"""Letters and appeals in real headless Chromium, with axe-core on every new page: a manager
previews the notification and records it as sent, records an appeal and names its hearer
(the decision-maker is refused), and the hearer decides it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.services import register_service
from gateway.store import repository
from routing.enums import Category, EmailMeasure, IdentityKind, Stage
from routing.lifecycle import Actor
from routing.models import utcnow
from routing.terms import RestrictionDraft
from tests.browser.conftest import LiveService
from tests.browser.helpers import assert_accessible, sign_in, sign_out
from tests.web.conftest import APPROVER, MANAGER, SECOND_APPROVER

pytestmark = pytest.mark.browser

REASON = "Sixty calls in one week to the housing team (test)."


def _actor(live: LiveService, email: str) -> Actor:
    with live.rt.uow() as session:
        user = repository.staff_by_email(session, email)
        return Actor(user.email, user.role, user.id)


def _restriction_in_force(live: LiveService) -> int:
    manager, approver = _actor(live, MANAGER), _actor(live, APPROVER)
    now = utcnow()
    with live.rt.uow() as session:
        customer = register_service.add_customer(session, manager, now, name="Sam Example")
        register_service.link_raw_identity(
            session, manager, now, customer, "sam@example.org", IdentityKind.EMAIL,
            fold_plus=True, region="GB",
        )  # fmt: skip
        draft = RestrictionDraft(
            stage=Stage.STAGE1, category=Category.C, starts_on=dt.date(2026, 1, 1),
            email_measure=EmailMeasure.REDIRECT, spoc_name="Housing Contact Team",
            spoc_email="spoc@council.example.org", reason=REASON,
        )  # fmt: skip
        restriction = register_service.draft_restriction(session, manager, now, customer, draft)
        register_service.submit(session, manager, now, restriction.id)
        register_service.approve(
            session, approver, now, restriction.id, today=live.rt.today(now), appeal_days=14
        )
        return restriction.id


def _submit(page: Any, button: str) -> None:
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


def test_a_letter_recorded_as_sent_and_an_appeal_lodged_and_decided(
    page: Any, live: LiveService
) -> None:
    restriction_id = _restriction_in_force(live)
    page.goto(f"/restrictions/{restriction_id}")
    sign_in(page, MANAGER)
    page.goto(f"/restrictions/{restriction_id}")
    assert_accessible(page)

    page.get_by_role("link", name="Notification of a restriction letter").click()
    page.wait_for_load_state()
    assert page.get_by_text(REASON).is_visible()
    assert_accessible(page)
    _submit(page, "Record as sent")  # no method chosen: the error state
    assert page.get_by_text("There is a problem").is_visible()
    assert_accessible(page)
    page.get_by_label("Date sent").fill("2026-01-02")
    page.get_by_label("By post").check()
    _submit(page, "Record as sent")
    assert page.get_by_text("The customer may appeal until 16 January 2026.").first.is_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Record an appeal").click()
    page.wait_for_load_state()
    assert_accessible(page)
    page.get_by_label("Date received").fill("2026-01-10")
    page.get_by_label("By email").check()
    _submit(page, "Record the appeal")
    assert page.get_by_role("heading", name="Who will hear the appeal").is_visible()
    assert_accessible(page)
    page.get_by_label("Who will hear the appeal").select_option(label=APPROVER)
    _submit(page, "Name the hearer")
    assert page.get_by_text("took no part in the decision must hear the appeal").first.is_visible()
    assert_accessible(page)
    page.get_by_label("Who will hear the appeal").select_option(label=SECOND_APPROVER)
    _submit(page, "Name the hearer")
    assert page.get_by_text("Hearer named").is_visible()
    sign_out(page)

    sign_in(page, SECOND_APPROVER)
    page.goto(f"/restrictions/{restriction_id}")
    page.get_by_role("link", name="Decide the appeal").click()
    page.wait_for_load_state()
    assert_accessible(page)
    page.get_by_label("Upheld: the restriction stays as it is").check()
    page.get_by_label("Reasons for the decision").fill("The call log supports it (test).")
    _submit(page, "Record the decision")
    assert page.get_by_text("Appeal decided: the restriction stays as it is.").is_visible()
    assert page.get_by_text("The call log supports it (test).").is_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Appeal outcome letter").click()
    page.wait_for_load_state()
    assert page.get_by_text("We have upheld the original decision").is_visible()
    assert_accessible(page)
