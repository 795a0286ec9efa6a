"""Passwords in real headless Chromium against the real service: an admin resets a manager's
password, the manager signs in with the temporary one and can do nothing until they have
chosen their own, then changes it again from the header. axe-core checks every page on the
way, error states included."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveService
from tests.browser.helpers import assert_accessible, sign_in, sign_out
from tests.web.conftest import ADMIN, MANAGER

pytestmark = pytest.mark.browser

CHOSEN = "kettle orchard lantern"
CHOSEN_LATER = "violet harbour compass"


def reset_password_of(page: Any, email: str) -> str:
    """As a signed-in admin: reset `email`'s password from the users page; the temporary one."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Staff accounts").click()
    assert_accessible(page)
    page.get_by_role("link", name=f"Reset password of {email}").click()
    expect(page.get_by_role("heading", name=f"Reset the password of {email}")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Reset the password").click()
    expect(page.get_by_role("heading", name="Password reset")).to_be_visible()
    assert_accessible(page)
    return page.locator("code.token-secret").inner_text()


def choose_password(page: Any, current: str, new: str, again: str | None = None) -> None:
    page.get_by_label("Current password").fill(current)
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("New password again").fill(again or new)
    page.get_by_role("button", name="Change your password").click()
    page.wait_for_load_state()


def test_a_reset_password_must_be_changed_at_the_next_sign_in(page: Any, live: LiveService) -> None:
    sign_in(page, ADMIN)
    temporary = reset_password_of(page, MANAGER)
    sign_out(page)

    sign_in(page, MANAGER, temporary)
    expect(page).to_have_url(re.compile(r"/account/password$"))
    expect(page.get_by_text("An administrator has given you a temporary password")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    assert_accessible(page)
    page.goto("/customers")  # any other page sends them back
    expect(page).to_have_url(re.compile(r"/account/password$"))

    choose_password(page, temporary, CHOSEN, CHOSEN + " typo")
    expect(page).to_have_title(re.compile(r"^Error: Change your password"))
    summary = page.get_by_role("alert")
    expect(summary.get_by_role("link", name="Enter the same new password twice")).to_be_visible()
    assert_accessible(page)
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.id") == "confirm_password"

    choose_password(page, temporary, CHOSEN)
    expect(page.get_by_role("status").filter(has_text="Your password is changed")).to_be_visible()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
    expect(page).to_have_url(re.compile(r"/customers$"))
    sign_out(page)

    sign_in(page, MANAGER, CHOSEN)
    page.get_by_role("link", name="Change your password").click()
    expect(page.get_by_text("signs you out everywhere else")).to_be_visible()
    assert_accessible(page)
    choose_password(page, "not the password", CHOSEN_LATER)
    expect(
        page.get_by_role("alert").get_by_text("Your current password is not right")
    ).to_be_visible()
    assert_accessible(page)
    choose_password(page, CHOSEN, CHOSEN_LATER)
    expect(page.get_by_role("status").filter(has_text="Your password is changed")).to_be_visible()
    assert_accessible(page)
