"""Letters and appeals from the restriction's page, through the real app and database:
preview a letter, download it as PDF, record it as sent (which starts the appeal window),
then lodge an appeal, name a hearer (never the decision-maker) and decide it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import shutil
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select

from admin_ui import create_app
from gateway.runtime import Runtime
from routing.enums import RestrictionStatus
from routing.models import AuditEntry, Restriction
from tests.web.conftest import APPROVER, IG, MANAGER, SECOND_APPROVER, SPOC, Register
from tests.web.helpers import StaffClient, text_of

ROOT = Path(__file__).resolve().parents[2]


def _letter_url(register: Register, kind: str = "notification", suffix: str = "") -> str:
    return f"/restrictions/{register.active_id}/letters/{kind}{suffix}"


def _actions(rt: Runtime, action: str) -> list[AuditEntry]:
    with rt.uow() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _restriction(rt: Runtime, restriction_id: int) -> Restriction:
    with rt.uow() as session:
        restriction = session.get(Restriction, restriction_id)
        session.expunge_all()
        return restriction


def test_a_manager_previews_the_letter_and_the_view_is_audited(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    page = client_for(MANAGER).get(_letter_url(register))
    assert page.status_code == 200
    html = text_of(page)
    assert "Unreasonable levels of contact (test)." in html
    assert SPOC in html and "information.governance@council.example.org" in html
    assert "Record that this letter was sent" in html
    [entry] = _actions(rt, "letter.rendered")
    assert entry.actor == MANAGER and entry.detail["format"] == "html"


def test_information_governance_reads_the_letter_but_does_not_record_it(
    register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    ig = client_for(IG)
    page = ig.get(_letter_url(register))
    assert page.status_code == 200
    assert "Record that this letter was sent" not in text_of(page)
    refused = ig.post(_letter_url(register, suffix="/sent"), {"sent_on": "2026-01-02"})
    assert refused.status_code == 403


def test_the_pdf_downloads_with_the_letter_in_it(
    register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    response = client_for(MANAGER).get(_letter_url(register, suffix="/pdf"))
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert register.reference in response.headers["Content-Disposition"]
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    assert "Notification" in text and register.reference in text


def test_recording_the_letter_as_sent_shows_the_appeal_deadline(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    manager = client_for(MANAGER)
    sent = manager.post(
        _letter_url(register, suffix="/sent"), {"sent_on": "2026-01-02", "method": "post"}
    )
    assert sent.status_code == 302
    page = text_of(manager.get(f"/restrictions/{register.active_id}"))
    assert "The customer may appeal until <strong>16 January 2026</strong>" in page
    assert "2 January 2026" in page
    assert _restriction(rt, register.active_id).appeal_deadline == dt.date(2026, 1, 16)
    [entry] = _actions(rt, "letter.sent")
    assert entry.detail == {
        "status": "active", "kind": "notification", "method": "post", "sent_on": "2026-01-02"
    }  # fmt: skip
    assert "letter sent" in page  # in the restriction's history


def test_recording_without_a_method_shows_the_problem(
    register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    page = client_for(MANAGER).post(
        _letter_url(register, suffix="/sent"), {"sent_on": "2026-01-02"}
    )
    assert page.status_code == 400
    assert "Choose how the letter was sent" in text_of(page)


def test_a_broken_template_is_a_clear_message_not_a_crash(
    rt: Runtime, register: Register, staff: dict, tmp_path: Path, clock
) -> None:
    folder = tmp_path / "letters"
    shutil.copytree(ROOT / "config" / "letters", folder)
    (folder / "notification.html").write_text(
        "{% extends '_layout.html' %}{% block letter %}{% if %}"
    )
    # The same runtime (database, register) with the council's edited templates.
    broken_rt = dataclasses.replace(
        rt, settings=rt.settings.model_copy(update={"letters_dir": str(folder)})
    )
    app: Flask = create_app(test_config={"TESTING": True, "CCR_CLOCK": clock}, runtime=broken_rt)
    client = StaffClient(app)
    client.sign_in(MANAGER)
    page = client.get(_letter_url(register))
    assert page.status_code == 409
    html = text_of(page)
    assert "letter template notification.html, line 1" in html
    assert "Traceback" not in html
    assert client.get(_letter_url(register, suffix="/pdf")).status_code == 302


def test_an_unknown_kind_of_letter_is_not_found(
    register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    assert client_for(MANAGER).get(_letter_url(register, kind="apology")).status_code == 404


def test_an_appeal_lodged_heard_and_lifted(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient], staff: dict
) -> None:
    manager = client_for(MANAGER)
    base = f"/restrictions/{register.active_id}/appeal"
    lodged = manager.post(f"{base}/new", {"received_on": "2026-01-05", "received_how": "email"})
    assert lodged.status_code == 302 and lodged.location.endswith(f"{base}/hearer")

    page = manager.get(f"{base}/hearer")
    assert page.status_code == 200
    refused = manager.post(f"{base}/hearer", {"hearer": staff[APPROVER].user_id})
    assert refused.status_code == 400
    assert "took no part in the decision" in text_of(refused)
    assert (
        manager.post(f"{base}/hearer", {"hearer": staff[SECOND_APPROVER].user_id}).status_code
        == 302
    )

    # Waiting: on the appeals list with its hearer, and on the work list.
    waiting = " ".join(text_of(manager.get("/appeals")).split())
    assert f">{register.reference}</a></td> <td>5 January 2026</td>" in waiting
    work = " ".join(text_of(manager.get("/")).split())
    assert 'href="/appeals">Appeals waiting for a decision</a> <strong class="tag' in work

    assert manager.get(f"{base}/decide").status_code == 403  # a manager does not decide
    approver = client_for(APPROVER)
    not_hearer = approver.post(f"{base}/decide", {"decision": "upheld", "reasons": "Mine."})
    assert "only the approver named" in text_of(not_hearer)
    hearer = client_for(SECOND_APPROVER)
    decided = hearer.post(
        f"{base}/decide", {"decision": "lifted", "reasons": "Contact was reasonable (test)."}
    )
    assert decided.status_code == 302
    assert _restriction(rt, register.active_id).status is RestrictionStatus.LIFTED
    shown = text_of(hearer.get(f"/restrictions/{register.active_id}"))
    assert "Lifted on" in shown and "Contact was reasonable (test)." in shown
    assert "Appeal outcome letter" in shown and "Lifting of a restriction letter" in shown
    assert "No appeal is waiting for a decision." in text_of(hearer.get("/appeals"))


def test_an_appeal_decided_varied_leads_to_the_variation(
    register: Register, client_for: Callable[[str], StaffClient], staff: dict
) -> None:
    manager = client_for(MANAGER)
    base = f"/restrictions/{register.active_id}/appeal"
    manager.post(f"{base}/new", {"received_on": "2026-01-05", "received_how": "post"})
    manager.post(f"{base}/hearer", {"hearer": staff[SECOND_APPROVER].user_id})
    decided = client_for(SECOND_APPROVER).post(
        f"{base}/decide", {"decision": "varied", "reasons": "Calls may be allowed (test)."}
    )
    assert decided.status_code == 302
    assert decided.location.endswith(f"/restrictions/{register.active_id}/vary")
