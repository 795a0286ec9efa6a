"""The SPOC queue's pages through the real app: the list (own items by default, every
SPOC's on request, overdue and unread tagged), an item shown as safe text and marked read,
an outcome recorded (and refused when incomplete), attachments only as downloads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select

from gateway.runtime import Runtime
from gateway.store.tables import SpocItem
from routing.audit import AuditAction
from routing.models import AuditEntry, Service, utcnow
from routing.spoc import ItemOutcome
from tests.web.conftest import AGENT, MANAGER, Register
from tests.web.helpers import StaffClient, text_of
from tests.web.page_data import spoc_item

SPOC = "spoc@council.example.org"
HTML_MAIL = (
    b"From: jo.example@example.org\r\nTo: housing@council.example.org\r\n"
    b"Subject: My bins\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b'<p>Still <b>no</b> collection</p><img src="https://tracker.example.org/x.png">'
    b"<script>document.title='owned'</script>\r\n"
    b'--b\r\nContent-Type: text/html; name="photo.html"\r\n'
    b'Content-Disposition: attachment; filename="photo.html"\r\n\r\n'
    b"<script>alert(1)</script>\r\n--b--\r\n"
)


def one(rt: Runtime, item_id: int) -> SpocItem:
    with rt.uow() as session:
        item = session.get(SpocItem, item_id)
        assert item is not None
        session.expunge(item)
        return item


def test_the_queue_shows_a_spocs_own_items_by_default_and_all_on_request(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    for_spoc = spoc_item(rt, register.customer_id, register.reference, HTML_MAIL)
    for_manager = spoc_item(
        rt,
        register.customer_id,
        register.reference,
        HTML_MAIL.replace(b"My bins", b"Parking permit"),
        spoc_email=MANAGER,
    )
    manager = client_for(MANAGER)
    own = text_of(manager.get("/spoc-queue"))
    assert "Parking permit" in own and "My bins" not in own
    every = manager.get("/spoc-queue?whose=all")
    assert f"/spoc-queue/{for_spoc}".encode() in every.data
    assert f"/spoc-queue/{for_manager}".encode() in every.data
    assert "Unread" in text_of(every)


def test_overdue_items_are_tagged_and_filtered(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    yesterday = utcnow().date() - dt.timedelta(days=2)
    late = spoc_item(rt, register.customer_id, register.reference, HTML_MAIL, due_on=yesterday)
    spoc_item(
        rt,
        register.customer_id,
        register.reference,
        HTML_MAIL.replace(b"My bins", b"Not yet due"),
        due_on=utcnow().date() + dt.timedelta(days=5),
    )
    page = client_for(MANAGER).get("/spoc-queue?whose=all&show=overdue")
    assert f"/spoc-queue/{late}".encode() in page.data
    assert "Not yet due" not in text_of(page)
    assert "Overdue" in text_of(page)


def test_an_item_is_shown_as_text_never_as_its_html_and_opening_it_marks_it_read(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    item_id = spoc_item(rt, register.customer_id, register.reference, HTML_MAIL)
    page = client_for(MANAGER).get(f"/spoc-queue/{item_id}")
    assert page.status_code == 200
    assert "Still no collection" in text_of(page)
    assert b"tracker.example.org" not in page.data
    assert b"<script>document" not in page.data and b"owned" not in page.data
    assert "photo.html" in text_of(page)
    item = one(rt, item_id)
    assert item.read_by == MANAGER and item.read_at is not None
    with rt.uow() as session:
        opened = session.scalars(
            select(AuditEntry).where(AuditEntry.action == AuditAction.SPOC_ITEM_OPENED)
        ).all()
        assert [(e.actor, e.subject_ref) for e in opened] == [(MANAGER, str(item_id))]


def test_an_attachment_is_only_ever_a_download(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    item_id = spoc_item(rt, register.customer_id, register.reference, HTML_MAIL)
    response = client_for(MANAGER).get(f"/spoc-queue/{item_id}/attachments/0")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert "photo.html" in response.headers["Content-Disposition"]
    assert response.mimetype == "application/octet-stream"
    assert response.data.strip() == b"<script>alert(1)</script>"
    assert client_for(MANAGER).get(f"/spoc-queue/{item_id}/attachments/5").status_code == 404


def test_an_outcome_is_recorded_and_an_incomplete_one_shown_against_its_field(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    item_id = spoc_item(rt, register.customer_id, register.reference, HTML_MAIL)
    manager = client_for(MANAGER)
    refused = manager.post(f"/spoc-queue/{item_id}/outcome", {"outcome": "reply_due"})
    assert refused.status_code == 400
    assert "Give the date the reply is due by" in text_of(refused)
    assert one(rt, item_id).outcome is None
    done = manager.post(
        f"/spoc-queue/{item_id}/outcome",
        {"outcome": "new_matter", "service": "Waste and recycling"},
    )
    assert done.status_code == 302
    item = one(rt, item_id)
    assert (item.outcome, item.service) == (ItemOutcome.NEW_MATTER, "Waste and recycling")


def test_an_agent_may_not_see_the_queue(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    item_id = spoc_item(rt, register.customer_id, register.reference, HTML_MAIL)
    agent = client_for(AGENT)
    assert agent.get("/spoc-queue").status_code == 403
    assert agent.get(f"/spoc-queue/{item_id}").status_code == 403
    assert agent.get(f"/spoc-queue/{item_id}/attachments/0").status_code == 403
    assert one(rt, item_id).read_at is None


def test_the_dashboard_counts_the_spocs_own_unread_and_overdue_items_with_links(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    late = utcnow().date() - dt.timedelta(days=3)
    spoc_item(rt, register.customer_id, register.reference, HTML_MAIL, spoc_email=MANAGER)
    spoc_item(
        rt, register.customer_id, register.reference, HTML_MAIL, spoc_email=MANAGER, due_on=late
    )
    spoc_item(rt, register.customer_id, register.reference, HTML_MAIL, due_on=late)  # not theirs
    page = client_for(MANAGER).get("/")
    html = page.data.decode()
    assert (
        '<a href="/spoc-queue?show=unread"><span class="figure-value">2</span> '
        '<span class="figure-label">SPOC queue items unread'
    ) in html
    assert (
        '<a class="task-list-name" href="/spoc-queue?show=overdue">Your SPOC queue: items '
        'overdue</a> <strong class="tag tag-warning">1 waiting</strong>'
    ) in " ".join(html.split())
    agent = text_of(client_for(AGENT).get("/"))
    assert "SPOC queue items" not in agent and "Your SPOC queue" not in agent


def test_the_councils_services_are_offered_for_a_new_matter(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    with rt.uow() as session:
        session.add(Service(name="Council Tax"))
    item_id = spoc_item(rt, register.customer_id, register.reference, HTML_MAIL)
    page = client_for(MANAGER).get(f"/spoc-queue/{item_id}").data.decode()
    assert 'list="service-names"' in page
    assert '<option value="Council Tax">' in page
