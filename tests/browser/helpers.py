"""Steps for the browser tests, done as a member of staff would: through the pages, with
the keyboard or the mouse, and checked with axe-core in the same browser."""

from __future__ import annotations

from typing import Any

from tests.web.helpers import PASSWORD


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    """Sign in from wherever the browser is (a page that needs it redirects to sign-in)."""
    if "/sign-in" not in page.url:
        page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()


def assert_accessible(page: Any) -> None:
    """axe-core's WCAG checks on the page as it stands: no violation at all."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert results.violations_count == 0, f"{page.url}:\n{results.generate_report()}"
