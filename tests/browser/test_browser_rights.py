"""The subject access pages in real headless Chromium, with axe-core: the person's page and
the erase confirmation (and its error state), as an information-governance officer."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.services import register_service
from routing.enums import IdentityKind, Role
from routing.lifecycle import Actor
from routing.models import utcnow
from tests.browser.conftest import LiveService
from tests.browser.helpers import assert_accessible, sign_in
from tests.web.conftest import IG

pytestmark = pytest.mark.browser

EMAIL = "robin.example@example.org"


def test_the_person_page_and_erase_confirmation_are_accessible(
    page: Any, live: LiveService
) -> None:
    caseworker = Actor("manager@council.example.org", Role.MANAGER)
    now = utcnow()
    with live.rt.uow() as session:
        customer = register_service.add_customer(
            session, caseworker, now, name="Robin Example", customer_ref="C-4004"
        )
        register_service.link_raw_identity(
            session, caseworker, now, customer, EMAIL, IdentityKind.EMAIL,
            fold_plus=True, region="GB",
        )  # fmt: skip
    page.goto("/rights")
    sign_in(page, IG)
    page.goto("/rights")
    page.get_by_role("button", name="Find the person").click()  # nothing typed: the error state
    page.wait_for_load_state()
    assert page.get_by_text("There is a problem").is_visible()
    assert_accessible(page)

    page.get_by_label("Email address, phone number or customer reference").fill("C-4004")
    page.get_by_role("button", name="Find the person").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Robin Example").is_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Erase this person").click()
    page.wait_for_load_state()
    assert_accessible(page)
    page.get_by_role("button", name="Erase this person").click()  # not confirmed
    page.wait_for_load_state()
    assert page.get_by_text("There is a problem").is_visible()
    assert_accessible(page)
