"""The mail log through the real app, with mail sent through the real SMTP gateway into a
Maildir (or a real downstream SMTP server): how each copy was routed, who sees the sender
(in every place it can show), paging, and a dead letter retried from the page until it
arrives."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from admin_ui import create_app
from gateway.bootstrap import bootstrap
from gateway.jobs.queue import InProcessQueue
from gateway.runtime import Runtime
from gateway.services import accounts
from gateway.settings import Settings
from gateway.smtp.server import SmtpGateway
from gateway.store import web_queries
from gateway.store.tables import MailDelivery
from routing.enums import DeliveryStatus, EmailMeasure, IdentityKind, Role
from routing.lifecycle import Actor
from routing.models import AuditEntry, utcnow
from tests.integration.register_helpers import impose_restriction
from tests.integration.smtp_helpers import RecordingDownstream
from tests.web.conftest import ADMIN, AGENT, MANAGER, STAFF
from tests.web.helpers import PASSWORD, StaffClient, text_of

SENDER = "pat.sample@example.org"
HOUSING = "housing@council.example.org"
PLANNING = "planning@council.example.org"
DUTY = "asc.duty@council.example.org"  # exempt: restricted senders' mail still reaches it


class MailService:
    """The SMTP gateway delivering into a Maildir, and the staff web app on the same runtime."""

    def __init__(self, rt: Runtime, port: int, staff: dict[Role, Actor]) -> None:
        self.rt, self.port, self.staff = rt, port, staff
        self.app: Flask = create_app(test_config={"TESTING": True}, runtime=rt)

    @property
    def maildir(self) -> Path:
        return Path(self.rt.settings.downstream.removeprefix("maildir:"))

    def send(self, *recipients: str, subject: str = "Bins") -> None:
        to = ", ".join(recipients)
        message = f"From: {SENDER}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nHello\r\n"
        with smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test") as client:
            client.sendmail(SENDER, list(recipients), message.encode())
        self.settle()

    def refuse_the_sender(self) -> str:
        """Put a restriction on SENDER that refuses their mail; returns its reference."""
        return impose_restriction(
            self.rt,
            self.staff[Role.MANAGER],
            self.staff[Role.APPROVER],
            [(SENDER, IdentityKind.EMAIL)],
            email_measure=EmailMeasure.REJECT,
        )

    def settle(self) -> None:
        assert isinstance(self.rt.jobs, InProcessQueue)
        assert self.rt.jobs.join(timeout=60)

    def client_for(self, email: str) -> StaffClient:
        client = StaffClient(self.app)
        assert client.sign_in(email, PASSWORD).status_code == 302
        return client

    def copies(self) -> list[MailDelivery]:
        with self.rt.uow() as session:
            return list(session.scalars(select(MailDelivery).order_by(MailDelivery.id)))


def running(settings: Settings, tmp_path: Path, **update: Any) -> Iterator[MailService]:
    """The SMTP gateway and the web app on one runtime, with an account for each role."""
    rt = bootstrap(
        settings.model_copy(
            update={
                "spool_dir": str(tmp_path / "spool"),
                "downstream": f"maildir:{tmp_path / 'mail'}",
                **update,
            }
        )
    )
    staff = {}
    with rt.uow() as session:
        for email, role in STAFF.items():
            user = accounts.add_user(
                session, email=email, role=role, password=PASSWORD, actor="test", now=utcnow()
            )
            staff[role] = Actor(user.email, role, user.id)
    smtp = SmtpGateway(rt).start()
    yield MailService(rt, smtp.port, staff)
    smtp.stop()
    rt.close()


@pytest.fixture
def mail(settings: Settings, tmp_path: Path) -> Iterator[MailService]:
    """Copies that fail are given up at once (a lifetime of a fraction of a second), so a
    Maildir folder that cannot be written makes a dead letter without waiting five days."""
    yield from running(settings, tmp_path, delivery_lifetime_hours=1e-7)


@pytest.fixture
def downstream() -> Iterator[RecordingDownstream]:
    with RecordingDownstream().start() as server:
        yield server


@pytest.fixture
def mail_over_smtp(
    settings: Settings, tmp_path: Path, downstream: RecordingDownstream
) -> Iterator[MailService]:
    """The gateway relaying to a real downstream SMTP server, with DUTY exempt from
    restrictions (so a refused sender's message still has a copy to deliver)."""
    yield from running(settings, tmp_path, downstream=downstream.url, exempt_mailboxes=[DUTY])


def test_each_copy_shows_how_it_was_routed_and_delivered(mail: MailService) -> None:
    mail.send(HOUSING)
    page = text_of(mail.client_for(MANAGER).get("/mail"))
    [copy] = mail.copies()
    assert copy.status is DeliveryStatus.DELIVERED
    with mail.rt.uow() as session:
        [message] = web_queries.mail_log(session).messages
    assert message.queue_id in page
    assert "<td>deliver</td>" in page and f"<td>{HOUSING}</td>" in page
    assert "Delivered " in page
    assert SENDER in page  # caseworkers see who wrote
    assert "None: every copy has been delivered" in page


def test_admins_see_the_routing_but_not_who_sent_it(mail: MailService) -> None:
    mail.send(HOUSING)
    page = text_of(mail.client_for(ADMIN).get("/mail"))
    assert f"<td>{HOUSING}</td>" in page
    assert SENDER not in page
    assert mail.client_for(AGENT).get("/mail").status_code == 403


def test_admins_see_neither_the_sender_as_a_refusal_notices_target_nor_in_errors(
    mail_over_smtp: MailService, downstream: RecordingDownstream
) -> None:
    mail = mail_over_smtp
    reference = mail.refuse_the_sender()
    # The downstream turns both copies away, quoting the sender's address as real ones do.
    downstream.refuse(SENDER, f"550 5.1.1 <{SENDER}>: Recipient address rejected")
    downstream.refuse(DUTY, f"553 5.7.1 <{SENDER}>: Sender address rejected")
    mail.send(HOUSING, DUTY)  # HOUSING refused (a notice goes to the sender), DUTY exempt
    copies = {copy.target: copy for copy in mail.copies()}
    notice, duty = copies[SENDER], copies[DUTY]
    assert (notice.target, notice.decision, notice.status) == (
        SENDER,
        "reject",
        DeliveryStatus.DEAD,
    )
    assert (duty.target, duty.status) == (DUTY, DeliveryStatus.DEAD)

    page = text_of(mail.client_for(ADMIN).get("/mail"))
    assert SENDER not in page  # not as a target, not in a downstream's words
    assert f"<td>{DUTY}</td>" in page and reference in page  # the routing is all there
    assert page.count("<td>the sender (address hidden)</td>") == 2  # dead letters, messages
    assert f"copy {notice.id} to the sender (address hidden)</span>" in page
    assert "550 5.1.1 (details hidden: they may name the sender)" in page
    assert "553 5.7.1 (details hidden: they may name the sender)" in page

    caseworker = text_of(mail.client_for(MANAGER).get("/mail"))
    assert f"<td>{SENDER}</td>" in caseworker  # From, and the notice's target
    assert f"&lt;{SENDER}&gt;: Sender address rejected" in caseworker


def test_looking_at_the_mail_log_is_audited(mail: MailService) -> None:
    mail.send(HOUSING)
    mail.client_for(MANAGER).get("/mail")
    with mail.rt.uow() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "mail.listed"))
    assert (entry.actor, entry.source, entry.detail["shown"]) == (MANAGER, "web 127.0.0.1", 1)


def test_pages_continue_by_message_id_and_keep_the_filter(mail: MailService) -> None:
    for subject in ("one", "two", "three"):
        mail.send(HOUSING, subject=subject)
    with mail.rt.uow() as session:
        first = web_queries.mail_log(session, limit=2)
        second = web_queries.mail_log(session, before=first.older_than, limit=2)
        redirected = web_queries.mail_log(session, decision="redirect")
    ids = [m.id for m in first.messages] + [m.id for m in second.messages]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3
    assert second.older_than is None
    assert redirected.messages == []

    manager = mail.client_for(MANAGER)
    older = text_of(manager.get(f"/mail?before={ids[1]}&decision=deliver"))
    assert older.count("<code>") == 1  # only the oldest message
    assert "Newest messages" in older
    assert "No messages routed as redirect" in text_of(manager.get("/mail?decision=redirect"))


def test_a_dead_letter_retried_from_the_page_arrives_in_the_maildir(mail: MailService) -> None:
    # A file where the mailbox's folder should be: every delivery to it fails.
    blocker = mail.maildir / PLANNING
    mail.maildir.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    mail.send(PLANNING)
    [copy] = mail.copies()
    assert copy.status is DeliveryStatus.DEAD

    admin = mail.client_for(ADMIN)
    page = text_of(admin.get("/mail"))
    assert f'Retry<span class="visually-hidden"> copy {copy.id} to {PLANNING}</span>' in page
    assert "expired: " in page  # the reason, as the delivery recorded it

    blocker.unlink()  # the cause is fixed
    response = admin.post(f"/mail/dead-letters/{copy.id}/retry")
    assert response.status_code == 302 and response.location == "/mail"
    mail.settle()
    [copy] = mail.copies()
    assert copy.status is DeliveryStatus.DELIVERED
    assert len(list((mail.maildir / PLANNING / "new").iterdir())) == 1
    after = text_of(admin.get("/mail"))
    assert f"Copy {copy.id} is queued for delivery again." in after
    assert "None: every copy has been delivered" in after
    with mail.rt.uow() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "mail.retried"))
    assert (entry.actor, entry.subject_ref, entry.source) == (ADMIN, str(copy.id), "web 127.0.0.1")

    again = admin.post(f"/mail/dead-letters/{copy.id}/retry", follow_redirects=True)
    assert f"Copy {copy.id} is not a dead letter" in text_of(again)
