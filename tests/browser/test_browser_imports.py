"""The "confirm imported restrictions" task in real headless Chromium against the real
service: a register imported with `ccr register import` (a real process) waits on the named
approver's dashboard; they confirm two at once and withdraw one with a reason, the refusals
on the way shown in the error summary; axe-core checks each state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from routing.enums import ImportConfirmation, RestrictionStatus
from routing.models import ImportedRestriction, Restriction
from tests.browser.conftest import LiveService
from tests.browser.helpers import assert_accessible, sign_in, sign_out
from tests.integration.smtp_helpers import ccr_env, run_ccr
from tests.integration.test_register_csv import HEADER, row
from tests.web.conftest import APPROVER, SECOND_APPROVER

pytestmark = pytest.mark.browser


def _import_with_the_command(live: LiveService, tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    rows = [
        row(customer_ref="P-1", name="Pat Example", emails="pat@example.org",
            approved_by="Head of Customer Services", approved_on="2025-03-14"),
        row(customer_ref="P-2", name="Lee Example", emails="lee@example.org"),
        row(customer_ref="P-3", name="Kim Example", emails="kim@example.org",
            next_review_on="2026-01-05"),
    ]  # fmt: skip
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    env = ccr_env(live.rt.settings.database_url, downstream=live.rt.settings.downstream)
    done = run_ccr(env, "register", "import", str(path), "--approved-by", APPROVER)
    assert done.returncode == 0, done.stderr
    assert f"awaiting confirmation by {APPROVER}" in done.stdout


def _row_of(page: Any, reference_holder: str) -> Any:
    return page.get_by_role("row").filter(has_text=reference_holder)


def test_the_named_approver_confirms_two_at_once_and_withdraws_one(
    page: Any, live: LiveService, tmp_path: Path
) -> None:
    _import_with_the_command(live, tmp_path)

    sign_in(page, SECOND_APPROVER)  # not named on the import: nothing waits for them
    page.goto("/imports")
    expect(page.get_by_text("No imported restrictions are waiting for you.")).to_be_visible()
    sign_out(page)

    sign_in(page, APPROVER)
    work = page.get_by_role("listitem").filter(
        has=page.get_by_role("link", name="Imported restrictions to confirm")
    )
    expect(work).to_contain_text("3 waiting")
    work.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Confirm imported restrictions")).to_be_visible()
    expect(_row_of(page, "Pat Example")).to_contain_text("Head of Customer Services")
    expect(_row_of(page, "Kim Example")).to_contain_text("overdue")
    assert_accessible(page)

    page.get_by_role("button", name="Confirm the ticked restrictions").click()
    expect(page.get_by_role("alert")).to_contain_text("Tick at least one restriction")
    assert page.title().startswith("Error: ")
    assert_accessible(page)

    _row_of(page, "Pat Example").get_by_role("checkbox").check()
    _row_of(page, "Lee Example").get_by_role("checkbox").check()
    page.get_by_role("button", name="Confirm the ticked restrictions").click()
    expect(page.get_by_role("status")).to_contain_text("confirmed")
    expect(page.get_by_role("row").filter(has_text="Example")).to_have_count(1)

    _row_of(page, "Kim Example").get_by_role("checkbox").check()
    page.get_by_role("button", name="Withdraw the ticked restrictions").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter why you are withdrawing them")
    expect(_row_of(page, "Kim Example").get_by_role("checkbox")).to_be_checked()  # kept
    page.get_by_label("Why you are withdrawing them").fill("No record of this decision")
    page.get_by_role("button", name="Withdraw the ticked restrictions").click()
    expect(page.get_by_role("status")).to_contain_text("withdrawn: no longer in force")
    expect(page.get_by_text("No imported restrictions are waiting for you.")).to_be_visible()
    assert_accessible(page)

    with live.rt.uow() as session:
        states = {
            r.customer.name: (r.status, r.imported.state)
            for r in session.scalars(select(Restriction).join(ImportedRestriction))
        }
    assert states == {
        "Pat Example": (RestrictionStatus.ACTIVE, ImportConfirmation.CONFIRMED),
        "Lee Example": (RestrictionStatus.ACTIVE, ImportConfirmation.CONFIRMED),
        "Kim Example": (RestrictionStatus.LIFTED, ImportConfirmation.WITHDRAWN),
    }

    # The restriction's own page tells the story: imported, by whom, and who confirmed it.
    with live.rt.uow() as session:
        pat = session.scalar(
            select(Restriction.id).join(Restriction.customer).where(Restriction.reason.is_not(None))
        )
    page.goto(f"/restrictions/{pat}")
    expect(page.get_by_text(f"Confirmed by {APPROVER}")).to_be_visible()
    expect(page.get_by_text("by cli:")).to_be_visible()
    assert_accessible(page)
