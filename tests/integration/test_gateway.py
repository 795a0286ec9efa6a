"""The SMTP gateway end to end: real SMTP over loopback into the running gateway, delivery
into real Maildirs, and the register in the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.policy
import os
import smtplib
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from sqlalchemy import select, text

from gateway.bootstrap import bootstrap
from gateway.jobs.queue import InProcessQueue
from gateway.mail import replies
from gateway.mail.delivery import sweep_due_deliveries
from gateway.mail.intake import IntakeResult
from gateway.mail.spool import Spool
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.smtp.server import SmtpGateway
from gateway.store.tables import MailDelivery, MailMessage
from routing.enums import (
    DeliveryStatus,
    EmailMeasure,
    IdentityKind,
    Mode,
    Outcome,
    Role,
)
from routing.lifecycle import Actor
from routing.models import Alert, ContactEvent, utcnow
from tests.integration.register_helpers import impose_restriction
from tests.integration.smtp_helpers import RecordingDownstream, with_bound_port
from tests.polling import wait_until

CUSTOMER = "jo.example@example.org"
OTHER = "pat.other@example.org"
HOUSING = "housing@council.example.org"
TAX = "counciltax@council.example.org"
SPOC = "spoc@council.example.org"
RECORDS = "records@council.example.org"
IG = "information.governance@council.example.org"
DUTY = "asc.duty@council.example.org"


@contextlib.contextmanager
def running_gateway(settings: Settings, tmp_path: Path, downstream: str) -> Iterator[Runtime]:
    """A runtime whose SMTP gateway listens on a loopback port of its own (its settings name
    it) and delivers to `downstream`."""
    rt = bootstrap(
        settings.model_copy(
            update={
                "spool_dir": str(tmp_path / "spool"),
                "downstream": downstream,
                "exempt_mailboxes": [DUTY],
                "max_message_bytes": 200_000,
                "max_recipients": 5,
            }
        )
    )
    smtp = SmtpGateway(rt).start()
    try:
        yield with_bound_port(rt, smtp)
    finally:
        smtp.stop()
        rt.close()


@pytest.fixture
def gateway_rt(settings: Settings, tmp_path: Path) -> Iterator[Runtime]:
    """The gateway delivering into Maildirs under tmp_path."""
    with running_gateway(settings, tmp_path, f"maildir:{tmp_path / 'mail'}") as rt:
        yield rt


@pytest.fixture
def restrict(gateway_rt: Runtime, make_staff: Callable[[str, Role], Actor]):
    """Put a restriction on CUSTOMER in force: restrict(email_measure=..., mode=...)."""
    manager = make_staff("manager@council.example.org", Role.MANAGER)
    approver = make_staff("approver@council.example.org", Role.APPROVER)

    def impose(**terms: object) -> str:
        return impose_restriction(
            gateway_rt, manager, approver, [(CUSTOMER, IdentityKind.EMAIL)], **terms
        )

    return impose


def raw_message(
    sender: str, to: str, subject: str = "Bins", body: str = "Where is my bin?\r\n", extra: str = ""
) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{abs(hash((sender, subject, body)))}@example.org>\r\n{extra}"
        f"\r\n{body}"
    ).encode()


def send(rt: Runtime, sender: str, recipients: list[str], data: bytes) -> tuple[int, str]:
    """Send over SMTP; returns the reply to DATA (or to the refusing command)."""
    port = int(rt.settings.smtp_listen.rpartition(":")[2])
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30) as client:
        client.ehlo()
        client.mail(sender)
        for recipient in recipients:
            code, text = client.rcpt(recipient)
            if code >= 400:
                return code, text.decode()
        code, text = client.data(data)
        return code, text.decode()


def delivered(rt: Runtime, mailbox: str) -> list[bytes]:
    """Every message delivered into a mailbox's Maildir, after queued jobs have run."""
    assert isinstance(rt.jobs, InProcessQueue)
    assert rt.jobs.join(timeout=60)
    folder = Path(rt.settings.downstream.removeprefix("maildir:")) / mailbox / "new"
    return [path.read_bytes() for path in sorted(folder.glob("*"))] if folder.exists() else []


def headers_of(data: bytes) -> email.message.Message:
    return email.message_from_bytes(data)


# --- each outcome ------------------------------------------------------------------------------


def test_unrestricted_mail_is_delivered_byte_for_byte_with_decision_headers(gateway_rt) -> None:
    original = raw_message(OTHER, HOUSING, body="Line one\r\n.Leading dot\r\n\r\nEnd\r\n")
    code, text = send(gateway_rt, OTHER, [HOUSING], original)
    assert code == 250
    assert text.startswith("2.0.0 Message accepted for delivery")
    [copy] = delivered(gateway_rt, HOUSING)
    head, _, rest = copy.partition(b"From: ")
    assert b"From: " + rest == original  # every original header and body byte kept
    routing = headers_of(head + b"\r\n")
    assert routing["X-CCR-Decision"].startswith("deliver; by=ccr-gateway; id=")
    assert routing["X-CCR-Restriction"] == "none"
    assert routing["X-CCR-Original-Recipients"] == HOUSING


def test_redirect_sends_only_to_the_spoc_and_names_the_original_recipient(
    gateway_rt, restrict
) -> None:
    reference = restrict(email_measure=EmailMeasure.REDIRECT)
    assert send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))[0] == 250
    [copy] = delivered(gateway_rt, SPOC)
    assert delivered(gateway_rt, HOUSING) == []
    message = headers_of(copy)
    assert message["X-CCR-Decision"].startswith("redirect;")
    assert message["X-CCR-Restriction"] == reference
    assert message["X-CCR-Original-Recipients"] == HOUSING
    assert message["Subject"] == "Bins"


def test_copy_goes_to_the_recipient_and_the_spoc(gateway_rt, restrict) -> None:
    restrict(email_measure=EmailMeasure.COPY)
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))
    assert len(delivered(gateway_rt, HOUSING)) == 1
    assert len(delivered(gateway_rt, SPOC)) == 1


def test_file_goes_to_the_records_mailbox(gateway_rt, restrict) -> None:
    restrict(email_measure=EmailMeasure.FILE)
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))
    [copy] = delivered(gateway_rt, RECORDS)
    assert headers_of(copy)["X-CCR-Decision"].startswith("file;")
    assert delivered(gateway_rt, HOUSING) == []


def test_reject_answers_550_naming_the_permitted_channel_and_keeps_it_for_the_spoc(
    gateway_rt, restrict
) -> None:
    reference = restrict(email_measure=EmailMeasure.REJECT)
    code, text = send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))
    assert code == 550
    assert text.startswith("5.7.1 ")
    assert SPOC in text and reference in text
    assert delivered(gateway_rt, HOUSING) == []
    # The sender is refused, but a person still reads it for new matters and safeguarding.
    [kept] = delivered(gateway_rt, SPOC)
    assert headers_of(kept)["X-CCR-Decision"].startswith("reject;")
    assert headers_of(kept)["X-CCR-Original-Recipients"] == HOUSING
    assert delivered(gateway_rt, CUSTOMER) == []  # the 550 is the sender's notice
    with gateway_rt.uow() as session:
        [event] = session.scalars(select(ContactEvent)).all()
    assert event.outcome is Outcome.REJECT  # a refused message is still a recorded contact


@pytest.mark.parametrize("to", [SPOC, IG, DUTY], ids=["spoc", "ig", "exempt"])
def test_a_refusing_restriction_never_refuses_mail_to_the_channels_left_open(
    gateway_rt, restrict, to: str
) -> None:
    restrict(email_measure=EmailMeasure.REJECT)
    code, _ = send(gateway_rt, CUSTOMER, [to], raw_message(CUSTOMER, to))
    assert code == 250
    [copy] = delivered(gateway_rt, to)
    assert headers_of(copy)["X-CCR-Decision"].startswith("deliver;")


@pytest.mark.parametrize(
    ("body", "flag", "also_to"),
    [
        (
            "Under GDPR please send me copies of all the personal data you hold about me.",
            "statutory",
            IG,
        ),
        ("I want to die, I can't go on.", "safeguarding", None),
    ],
    ids=["data-rights-request", "harm-to-self"],
)
def test_a_refusing_restriction_never_refuses_a_statutory_request_or_a_safeguarding_concern(
    gateway_rt, restrict, body: str, flag: str, also_to: str | None
) -> None:
    restrict(email_measure=EmailMeasure.REJECT)
    code, _ = send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING, body=body))
    assert code == 250
    [to_spoc] = delivered(gateway_rt, SPOC)
    assert flag in headers_of(to_spoc)["X-CCR-Flags"]
    if also_to:
        assert len(delivered(gateway_rt, also_to)) == 1


def test_refusal_for_some_recipients_delivers_the_rest_and_tells_the_sender(
    gateway_rt, restrict
) -> None:
    restrict(email_measure=EmailMeasure.REJECT)
    code, _ = send(gateway_rt, CUSTOMER, [HOUSING, DUTY], raw_message(CUSTOMER, HOUSING))
    assert code == 250
    assert len(delivered(gateway_rt, DUTY)) == 1  # exempt: always delivered
    assert delivered(gateway_rt, HOUSING) == []
    [notice] = delivered(gateway_rt, CUSTOMER)
    parsed = headers_of(notice)
    assert parsed["Subject"] == "Your message was not delivered to some recipients"
    assert HOUSING in parsed.get_payload() and SPOC in parsed.get_payload()
    # The customer must not hold a signed decision header they could put on their next
    # message to get it past the restriction.
    assert not [name for name in parsed if name.lower().startswith("x-ccr-")]


def test_a_refusal_notice_goes_from_the_null_sender_like_a_bounce(
    settings: Settings, tmp_path: Path, make_staff: Callable[[str, Role], Actor]
) -> None:
    with (
        RecordingDownstream().start() as downstream,
        running_gateway(settings, tmp_path, f"smtp://127.0.0.1:{downstream.port}") as rt,
    ):
        manager = make_staff("manager@council.example.org", Role.MANAGER)
        approver = make_staff("approver@council.example.org", Role.APPROVER)
        customer = [(CUSTOMER, IdentityKind.EMAIL)]
        impose_restriction(rt, manager, approver, customer, email_measure=EmailMeasure.REJECT)
        assert send(rt, CUSTOMER, [HOUSING, DUTY], raw_message(CUSTOMER, HOUSING))[0] == 250
        wait_until(lambda: len(downstream.received) == 3, 30, "the copies and the notice")
        envelopes = {mail.rcpt_tos: mail.mail_from for mail in downstream.received}
        # The notice goes MAIL FROM:<>; the message itself to the duty team and the SPOC.
        assert envelopes == {(DUTY,): CUSTOMER, (SPOC,): CUSTOMER, (CUSTOMER,): "<>"}


def test_shadow_mode_delivers_untouched_and_records_what_would_have_happened(
    gateway_rt, restrict
) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT, mode=Mode.SHADOW)
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))
    [copy] = delivered(gateway_rt, HOUSING)
    assert headers_of(copy)["X-CCR-Decision"].startswith("deliver; would=redirect;")
    assert delivered(gateway_rt, SPOC) == []
    with gateway_rt.uow() as session:
        [event] = session.scalars(select(ContactEvent)).all()
    assert (event.outcome, event.would_outcome) == (Outcome.DELIVER, Outcome.REDIRECT)


def test_statutory_request_also_reaches_information_governance_flagged(
    gateway_rt, restrict
) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT)
    data = raw_message(
        CUSTOMER,
        HOUSING,
        subject="Request",
        body="I make this request under the Freedom of Information Act.\r\n",
    )
    send(gateway_rt, CUSTOMER, [HOUSING], data)
    [to_ig] = delivered(gateway_rt, IG)
    assert headers_of(to_ig)["X-CCR-Flags"] == "statutory"
    assert len(delivered(gateway_rt, SPOC)) == 1
    with gateway_rt.uow() as session:
        [event] = session.scalars(select(ContactEvent)).all()
    assert event.statutory


def test_safeguarding_wording_raises_an_urgent_alert(gateway_rt, restrict) -> None:
    restrict(email_measure=EmailMeasure.FILE)
    data = raw_message(CUSTOMER, HOUSING, body="I can't go on, I am going to kill myself.\r\n")
    send(gateway_rt, CUSTOMER, [HOUSING], data)
    assert len(delivered(gateway_rt, RECORDS)) == 1
    with gateway_rt.uow() as session:
        [alert] = session.scalars(select(Alert)).all()
    assert alert.urgent and alert.rule == "safeguarding"


def test_the_safeguarding_mailbox_is_told_at_once_with_a_link_and_never_the_words(
    settings: Settings, tmp_path: Path, make_staff: Callable[[str, Role], Actor]
) -> None:
    words = "I can't go on, I am going to kill myself tonight."
    with (
        RecordingDownstream().start() as downstream,
        running_gateway(settings, tmp_path, f"smtp://127.0.0.1:{downstream.port}") as rt,
    ):
        manager = make_staff("manager@council.example.org", Role.MANAGER)
        approver = make_staff("approver@council.example.org", Role.APPROVER)
        customer = [(CUSTOMER, IdentityKind.EMAIL)]
        impose_restriction(rt, manager, approver, customer, email_measure=EmailMeasure.FILE)
        data = raw_message(CUSTOMER, HOUSING, subject="Help", body=words + "\r\n")
        assert send(rt, CUSTOMER, [HOUSING], data)[0] == 250
        to_safeguarding = rt.settings.safeguarding_mailbox
        wait_until(
            lambda: any(m.rcpt_tos == (to_safeguarding,) for m in downstream.received),
            30,
            "the notice to the safeguarding mailbox",
        )
        [notice] = [m for m in downstream.received if m.rcpt_tos == (to_safeguarding,)]
        with rt.uow() as session:
            [alert] = session.scalars(select(Alert)).all()
    text = notice.data.decode()
    assert notice.headers["Subject"].startswith("Safeguarding concern")
    assert f"{rt.settings.public_url}/alerts/{alert.id}" in text
    assert RECORDS in text  # where the message went
    assert "kill myself" not in text and CUSTOMER not in text
    assert alert.evidence["delivered_to"] == [RECORDS]
    assert alert.evidence["recipients"] == [HOUSING]


def test_a_header_identity_is_enough_when_the_envelope_sender_differs(gateway_rt, restrict) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT)
    data = raw_message(f"Jo <{CUSTOMER}>", HOUSING)
    send(gateway_rt, "bounces-1234@lists.example.org", [HOUSING], data)
    assert len(delivered(gateway_rt, SPOC)) == 1


def test_with_the_null_sender_the_person_is_still_who_the_from_header_names(
    gateway_rt, restrict
) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT)
    data = raw_message(CUSTOMER, HOUSING, extra=f"Reply-To: {OTHER}\r\n")
    send(gateway_rt, "", [HOUSING], data)  # an auto-reply: MAIL FROM:<>
    assert len(delivered(gateway_rt, SPOC)) == 1
    with gateway_rt.uow() as session:
        [event] = session.scalars(select(ContactEvent)).all()
    assert event.from_value == CUSTOMER


def test_no_refusal_notice_is_made_for_a_message_from_the_null_sender(gateway_rt, restrict) -> None:
    restrict(email_measure=EmailMeasure.REJECT)
    code, _ = send(gateway_rt, "", [HOUSING, DUTY], raw_message(CUSTOMER, HOUSING))
    assert code == 250
    assert len(delivered(gateway_rt, DUTY)) == 1
    with gateway_rt.uow() as session:
        targets = session.scalars(select(MailDelivery.target)).all()
        [envelope] = session.scalars(select(MailMessage.envelope_from)).all()
    # No notice: to the null sender it could only bounce or loop.
    assert sorted(targets) == sorted([DUTY, SPOC])
    assert envelope == ""


def test_every_message_is_a_contact_event_per_recipient_with_its_reasons(
    gateway_rt, restrict
) -> None:
    reference = restrict(email_measure=EmailMeasure.REDIRECT, scope_services=[])
    send(gateway_rt, CUSTOMER, [HOUSING, TAX], raw_message(CUSTOMER, HOUSING))
    with gateway_rt.uow() as session:
        events = session.scalars(select(ContactEvent).order_by(ContactEvent.to_value)).all()
    assert [(e.to_value, e.outcome) for e in events] == [
        (TAX, Outcome.REDIRECT),
        (HOUSING, Outcome.REDIRECT),
    ]
    assert events[0].reasons[-1]["restriction"] == reference
    assert events[0].from_value == CUSTOMER
    [spoc_copy] = delivered(gateway_rt, SPOC)  # one copy for both original recipients
    unfolded = email.message_from_bytes(spoc_copy, policy=email.policy.default)
    assert unfolded["X-CCR-Original-Recipients"] == f"{HOUSING}, {TAX}"


def test_a_long_list_of_original_recipients_is_folded_into_short_lines(gateway_rt) -> None:
    from gateway.mail.headers import routing_headers
    from gateway.store.deliveries import ClaimedCopy

    officers = [f"officer.number{n}@council.example.org" for n in range(30)]
    copy = ClaimedCopy(1, SPOC, "redirect", "CCR-1", officers, [], None, "q1", CUSTOMER, None)
    block = routing_headers(gateway_rt, copy, b"Subject: x\r\n\r\nbody\r\n")
    lines = block.decode().split("\r\n")
    start = next(n for n, line in enumerate(lines) if line.startswith("X-CCR-Original-Recip"))
    folded = [lines[start], *(line for line in lines[start + 1 :] if line.startswith(" "))]
    assert len(folded) > 10 and max(len(line) for line in folded) <= 78  # 998 is the limit
    parsed = email.message_from_bytes(block + b"\r\n", policy=email.policy.default)
    assert parsed["X-CCR-Original-Recipients"] == ", ".join(officers)


def test_maildir_copies_are_named_by_queue_id_so_a_new_database_cannot_skip_one(
    gateway_rt, tmp_path: Path
) -> None:
    from gateway.mail.transports import MaildirTransport

    send(gateway_rt, OTHER, [HOUSING], raw_message(OTHER, HOUSING))
    [stored] = delivered(gateway_rt, HOUSING)
    with gateway_rt.uow() as session:
        [queue_id] = session.scalars(select(MailMessage.queue_id)).all()
    folder = Path(gateway_rt.settings.downstream.removeprefix("maildir:")) / HOUSING / "new"
    [name] = [path.name for path in folder.iterdir()]
    assert name.startswith(f"ccr-{queue_id}-")
    # Copy ids start again in a new database (a restored backup, a move to PostgreSQL): copy
    # 1 of another message must still be written, not taken for one already delivered.
    maildir = MaildirTransport(tmp_path / "shared-maildir")
    maildir.send(OTHER, HOUSING, b"Subject: first\r\n\r\nx\r\n", "0001aa-1")
    maildir.send(OTHER, HOUSING, b"Subject: second\r\n\r\nx\r\n", "0002bb-1")
    maildir.send(OTHER, HOUSING, b"Subject: second\r\n\r\nx\r\n", "0002bb-1")  # a re-run
    arrived = tmp_path / "shared-maildir" / HOUSING / "new"
    written = sorted(path.read_bytes() for path in arrived.iterdir())
    assert [m.split(b"\r\n")[0] for m in written] == [b"Subject: first", b"Subject: second"]
    assert stored.endswith(b"Where is my bin?\r\n")


# --- the loop guard ------------------------------------------------------------------------------


def test_a_message_coming_back_to_the_mailbox_it_was_routed_to_is_not_routed_again(
    gateway_rt, restrict
) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT)
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))
    [redirected] = delivered(gateway_rt, SPOC)
    # A mail flow rule sends the SPOC's copy round through the gateway once more.
    send(gateway_rt, CUSTOMER, [SPOC], redirected)
    assert len(delivered(gateway_rt, SPOC)) == 2
    assert "loop_guard" in _rules_of_last_contact(gateway_rt)


def _rules_of_last_contact(rt: Runtime) -> set[str]:
    with rt.uow() as session:
        event = session.scalars(select(ContactEvent).order_by(ContactEvent.id.desc())).first()
        return {hit["rule"] for hit in event.reasons}


def test_a_routed_copy_sent_on_to_other_mailboxes_is_routed_again(gateway_rt, restrict) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT)
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))
    [redirected] = delivered(gateway_rt, SPOC)
    # The customer got hold of the routed copy (a subject access reply, say) and sends it,
    # genuine header and all, to housing: the header was for the SPOC's mailbox only.
    send(gateway_rt, CUSTOMER, [HOUSING], redirected)
    assert delivered(gateway_rt, HOUSING) == []
    assert len(delivered(gateway_rt, SPOC)) == 2


def test_new_text_under_a_genuine_header_and_message_id_is_routed_again(
    gateway_rt, restrict
) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT)
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))
    [redirected] = delivered(gateway_rt, SPOC)
    # The same headers (decision header and Message-ID) over a new body, to the same
    # mailbox the header names: the text is not what was routed, so it is routed afresh.
    head, _, _ = redirected.partition(b"\r\n\r\n")
    replayed = head + b"\r\n\r\nSomething new the header never covered.\r\n"
    send(gateway_rt, CUSTOMER, [SPOC], replayed)
    assert len(delivered(gateway_rt, SPOC)) == 2
    assert "loop_guard" not in _rules_of_last_contact(gateway_rt)


def test_a_genuine_decision_header_copied_onto_a_new_message_is_ignored(
    gateway_rt, restrict
) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT)
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))
    [redirected] = delivered(gateway_rt, SPOC)
    genuine = f"X-CCR-Decision: {headers_of(redirected)['X-CCR-Decision']}\r\n"
    # The header reaches the customer somehow (a forward with full headers) and they put it
    # on their next message: that message has its own Message-ID, so it is routed as usual.
    later = raw_message(CUSTOMER, HOUSING, subject="Again", extra=genuine)
    send(gateway_rt, CUSTOMER, [HOUSING], later)
    assert delivered(gateway_rt, HOUSING) == []
    assert len(delivered(gateway_rt, SPOC)) == 2


def test_a_decision_header_older_than_a_week_is_ignored(gateway_rt, restrict) -> None:
    from gateway.mail.message import LOOP_GUARD_SECONDS, body_digest, decision_signature

    restrict(email_measure=EmailMeasure.REDIRECT)
    message_id = "<kept-for-later@example.org>"
    issued = int(time.time()) - LOOP_GUARD_SECONDS - 60
    body = body_digest(b"\r\n\r\nHello\r\n")
    signature = decision_signature(gateway_rt.secret, "q1", issued, message_id, HOUSING, body)
    stale = (
        f"Message-ID: {message_id}\r\n"
        f"X-CCR-Decision: deliver; by=ccr-gateway; id=q1; t={issued}; sig={signature}\r\n"
    )
    data = f"From: {CUSTOMER}\r\nTo: {HOUSING}\r\nSubject: Old\r\n{stale}\r\nHello\r\n"
    send(gateway_rt, CUSTOMER, [HOUSING], data.encode())
    assert delivered(gateway_rt, HOUSING) == []
    assert len(delivered(gateway_rt, SPOC)) == 1


def test_a_forged_decision_header_does_not_get_a_customer_past_the_gateway(
    gateway_rt, restrict
) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT)
    forged = "X-CCR-Decision: deliver; by=ccr-gateway; id=abc; sig=00000000000000000000\r\n"
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING, extra=forged))
    assert delivered(gateway_rt, HOUSING) == []
    assert len(delivered(gateway_rt, SPOC)) == 1


# --- refusals at the protocol level ------------------------------------------------------------


def test_mail_for_other_domains_is_refused_never_relayed(gateway_rt) -> None:
    code, text = send(gateway_rt, OTHER, ["someone@elsewhere.example.com"], b"x")
    assert (code, f"{code} {text}") == (550, replies.RELAY_DENIED)


def test_addresses_that_are_not_utf8_are_refused_at_mail_and_rcpt(gateway_rt) -> None:
    port = int(gateway_rt.settings.smtp_listen.rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        replies_to = raw.makefile("rb")

        def say(line: bytes) -> bytes:
            raw.sendall(line + b"\r\n")
            reply = replies_to.readline()
            while reply[3:4] == b"-":
                reply = replies_to.readline()
            return reply.strip()

        replies_to.readline()  # 220
        say(b"EHLO client.test")
        assert say(b"MAIL FROM:<j\xffo@example.org>") == replies.BAD_SENDER_ADDRESS.encode()
        assert say(b"MAIL FROM:<jo@example.org>") == b"250 OK"
        assert say(b"RCPT TO:<h\xffousing@council.example.org>") == (
            replies.BAD_RECIPIENT_ADDRESS.encode()
        )
        assert say(b"RCPT TO:<housing@council.example.org>") == b"250 OK"
        assert say(b"DATA").startswith(b"354")
        assert say(raw_message(OTHER, HOUSING) + b".").startswith(b"250 2.0.0")
    assert len(delivered(gateway_rt, HOUSING)) == 1


def test_addresses_with_a_nul_are_refused_at_mail_and_rcpt_not_after_data(gateway_rt) -> None:
    """A NUL cannot be stored or passed on downstream: refused when the address is given,
    so the sender learns at once, rather than a 250 followed by a 451 or a dead letter."""
    port = int(gateway_rt.settings.smtp_listen.rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        replies_to = raw.makefile("rb")

        def say(line: bytes) -> bytes:
            raw.sendall(line + b"\r\n")
            reply = replies_to.readline()
            while reply[3:4] == b"-":
                reply = replies_to.readline()
            return reply.strip()

        replies_to.readline()  # 220
        say(b"EHLO client.test")
        assert say(b"MAIL FROM:<jo\x00@example.org>") == replies.BAD_SENDER_ADDRESS.encode()
        assert say(b"MAIL FROM:<jo@example.org>") == b"250 OK"
        assert say(b"RCPT TO:<housing\x00@council.example.org>") == (
            replies.BAD_RECIPIENT_ADDRESS.encode()
        )
        # After the brackets it is a parameter no extension defines: a syntax error.
        assert say(b"RCPT TO:<housing@council.example.org>\x00").startswith(b"501 ")
        assert say(b"RCPT TO:<housing@council.example.org>") == b"250 OK"
        assert say(b"DATA").startswith(b"354")
        assert say(raw_message(OTHER, HOUSING) + b".").startswith(b"250 2.0.0")
    assert len(delivered(gateway_rt, HOUSING)) == 1


def test_a_message_the_database_cannot_take_costs_only_its_own_250(
    gateway_rt: Runtime, tmp_path: Path
) -> None:
    """Defence behind the refusals above: a value the driver cannot encode, in a batch with
    others, gets its sender 451 while the others are stored."""
    from gateway.mail.intake import MailIntake

    intake = MailIntake(gateway_rt, Spool(tmp_path / "side-spool"))
    writer = intake._writer
    try:
        good = intake.prepare(OTHER, [HOUSING], raw_message(OTHER, HOUSING))
        bad_recipient = "h\udcffousing@council.example.org"  # what aiosmtpd makes of \xff
        bad = intake.prepare(OTHER, [bad_recipient], raw_message(OTHER, TAX))
        assert not isinstance(good, IntakeResult) and not isinstance(bad, IntakeResult)
        futures = [Future(), Future()]
        stored = writer._write(list(zip([good, bad], futures, strict=True)))
        replies_given = [f.result(timeout=0).reply if f.done() else None for f in futures]
    finally:
        intake.close()
    assert len(stored) == 1
    assert replies_given[0].startswith("250 2.0.0")
    assert replies_given[1] is None  # the writer's loop answers it 451 (_answer_the_rest)
    assert not (tmp_path / "side-spool" / "messages" / bad.queue_id).exists()


def test_a_failure_nobody_foresaw_gets_451_and_logs_no_personal_data(caplog) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from gateway.smtp.handler import GatewayHandler
    from gateway.smtp.protocol import BoundPortController

    class BrokenIntake:  # stands in for a bug deep in intake: the error quotes the sender
        def prepare(self, envelope_from: str, *_: object) -> None:
            raise RuntimeError(f"cannot handle {envelope_from}")

    executor = ThreadPoolExecutor(1)
    handler = GatewayHandler(BrokenIntake(), ["council.example.org"], 5, executor)  # type: ignore[arg-type]
    controller = BoundPortController(handler, hostname="127.0.0.1", port=0, server_hostname="gw")
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", controller.port, local_hostname="client.test") as client:
            client.ehlo()
            client.mail(CUSTOMER)
            client.rcpt(HOUSING)
            code, text = client.data(raw_message(CUSTOMER, HOUSING))
            assert f"{code} {text.decode()}" == replies.TEMPORARY_FAILURE
            assert client.noop()[0] == 250  # the session goes on
    finally:
        controller.stop()
        executor.shutdown()
    assert "RuntimeError" in caplog.text and CUSTOMER not in caplog.text


def test_too_many_recipients_get_452(gateway_rt) -> None:
    recipients = [f"officer{n}@council.example.org" for n in range(6)]
    code, text = send(gateway_rt, OTHER, recipients, raw_message(OTHER, HOUSING))
    assert f"{code} {text}" == replies.TOO_MANY_RECIPIENTS


def test_oversize_message_gets_552_and_is_not_stored(gateway_rt) -> None:
    big = raw_message(OTHER, HOUSING, body=("y" * 998 + "\r\n") * 250)  # ~250 KB
    code, _ = send(gateway_rt, OTHER, [HOUSING], big)
    assert code == 552
    assert delivered(gateway_rt, HOUSING) == []
    with gateway_rt.uow() as session:
        assert session.scalars(select(MailDelivery)).all() == []


# --- awkward but acceptable input ------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"Subject: no From header at all\r\n\r\nHello\r\n",
        b"From: " + CUSTOMER.encode() + b"\r\nSubject: caf\xe9 in Latin-1\r\n\r\nBody \xff\xfe\r\n",
        b"From: " + CUSTOMER.encode() + b"\r\nSubject: nul\r\n\r\nA NUL byte \x00 inside\r\n",
        b"From: " + CUSTOMER.encode() + b"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed;"
        b' boundary="never-closed"\r\n\r\n--never-closed\r\nContent-Type: text/plain;'
        b" charset=bogus-charset\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64\r\n",
        b"From: "
        + CUSTOMER.encode()
        + b"\r\nX-Long: "
        + b"a" * 900
        + b"\r\n"
        + b"\r\n".join(b"X-Many-" + str(n).encode() + b": v" for n in range(2000))
        + b"\r\n\r\nbody\r\n",
    ],
    ids=["missing-from", "8bit-latin1-headers", "nul-byte", "broken-mime", "enormous-header"],
)
def test_malformed_messages_are_routed_not_crashed_on(gateway_rt, restrict, data: bytes) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT)
    code, _ = send(gateway_rt, CUSTOMER, [HOUSING], data)
    assert code == 250
    [copy] = delivered(gateway_rt, SPOC)  # the envelope sender is the restricted customer
    assert copy.endswith(data)


# --- claims held by a process that died --------------------------------------------------------


def _claim_as(rt: Runtime, delivery_id: int, claimed_by: str) -> None:
    """Put a delivery back as if a process were sending it right now."""
    with rt.uow() as session:
        delivery = session.get(MailDelivery, delivery_id)
        delivery.status = DeliveryStatus.SENDING
        delivery.claimed_by = claimed_by
        delivery.claimed_until = utcnow() + dt.timedelta(hours=1)


def _status(rt: Runtime, delivery_id: int) -> DeliveryStatus:
    with rt.session_factory() as session:
        return session.get(MailDelivery, delivery_id).status


def test_a_copy_claimed_by_a_dead_process_is_delivered_at_the_next_sweep(gateway_rt) -> None:
    gate = threading.Event()
    for _ in range(gateway_rt.jobs.workers):  # holds every worker: the deliveries stay queued
        gateway_rt.jobs.enqueue(gate.wait, 30)
    for n in range(3):
        message = raw_message(OTHER, HOUSING, subject=f"bins {n}")
        assert send(gateway_rt, OTHER, [HOUSING], message)[0] == 250
    with gateway_rt.session_factory() as session:
        dead_claim, live_claim, past_self = session.scalars(
            select(MailDelivery.id).order_by(MailDelivery.id)
        ).all()
    host = socket.gethostname()
    exited = subprocess.Popen(["true"])
    exited.wait()
    _claim_as(gateway_rt, dead_claim, f"{host}:{exited.pid}:0000")
    _claim_as(gateway_rt, live_claim, f"{host}:{os.getppid()}:0000")  # alive: left to lapse
    _claim_as(gateway_rt, past_self, f"{host}:{os.getpid()}:not-this-run")
    gate.set()
    assert delivered(gateway_rt, HOUSING) == []  # the queued jobs leave claimed copies alone

    gateway_rt.jobs.enqueue(sweep_due_deliveries)

    assert len(delivered(gateway_rt, HOUSING)) == 2
    assert _status(gateway_rt, dead_claim) is DeliveryStatus.DELIVERED
    assert _status(gateway_rt, past_self) is DeliveryStatus.DELIVERED
    assert _status(gateway_rt, live_claim) is DeliveryStatus.SENDING


def test_the_sweep_sets_aside_old_spool_files_no_message_needs_and_keeps_the_rest(
    gateway_rt,
) -> None:
    gate = threading.Event()
    for _ in range(gateway_rt.jobs.workers):  # the message stays undelivered, its file kept
        gateway_rt.jobs.enqueue(gate.wait, 30)
    try:
        assert send(gateway_rt, OTHER, [HOUSING], raw_message(OTHER, HOUSING))[0] == 250
        spool = Path(gateway_rt.settings.spool_dir)
        messages = spool / "messages"
        [needed] = list(messages.iterdir())
        left_over = messages / "0000-left-by-a-crash"
        fresh = messages / "0001-being-committed-now"
        half_written = spool / "tmp" / "0002-never-acknowledged"
        for path in (left_over, fresh, half_written):
            path.write_bytes(b"Subject: not stored\r\n\r\n")
        two_hours_ago = time.time() - 7200
        for path in (left_over, needed, half_written):
            os.utime(path, (two_hours_ago, two_hours_ago))

        sweep_due_deliveries()

        # Set aside, not deleted: the database may be a restored backup.
        assert not left_over.exists()
        assert (spool / "orphans" / left_over.name).read_bytes().startswith(b"Subject")
        assert not half_written.exists()
        assert fresh.exists()  # may belong to a batch whose commit is under way
        assert needed.exists()  # its message is not delivered yet
    finally:
        gate.set()
    assert len(delivered(gateway_rt, HOUSING)) == 1


def test_a_file_left_after_its_delivery_was_recorded_is_set_aside_by_the_sweep(
    gateway_rt,
) -> None:
    assert send(gateway_rt, OTHER, [HOUSING], raw_message(OTHER, HOUSING))[0] == 250
    assert gateway_rt.jobs.join(timeout=10)
    [_copy] = delivered(gateway_rt, HOUSING)
    spool = Path(gateway_rt.settings.spool_dir)
    with gateway_rt.session_factory() as session:
        queue_id, removed = session.execute(
            select(MailMessage.queue_id, MailMessage.spool_removed)
        ).one()
    assert removed and not (spool / "messages" / queue_id).exists()
    # As if the process died between recording the delivery and removing the file.
    crashed = spool / "messages" / queue_id
    crashed.write_bytes(b"Subject: delivered already\r\n\r\n")
    an_hour_and_more = time.time() - 3700
    os.utime(crashed, (an_hour_and_more, an_hour_and_more))

    sweep_due_deliveries()

    assert not crashed.exists()
    assert (spool / "orphans" / queue_id).exists()
    assert len(delivered(gateway_rt, HOUSING)) == 1  # and nothing is sent again


# --- pipelining --------------------------------------------------------------------------------


def test_pipelined_commands_get_their_replies_in_order_and_the_message_arrives(gateway_rt) -> None:
    port = int(gateway_rt.settings.smtp_listen.rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        replies_in = conn.makefile("rb")

        def reply() -> bytes:
            lines = [replies_in.readline()]
            while lines[-1][3:4] == b"-":
                lines.append(replies_in.readline())
            return b"".join(lines)

        assert reply().startswith(b"220")
        conn.sendall(b"EHLO client.example.org\r\n")
        assert b"250-PIPELINING" in reply()
        conn.sendall(
            f"MAIL FROM:<{OTHER}>\r\nRCPT TO:<{HOUSING}>\r\nRCPT TO:<x@elsewhere.example.org>\r\n"
            f"RCPT TO:<{TAX}>\r\nDATA\r\n".encode()
        )
        answers = [reply()[:3] for _ in range(5)]
        assert answers == [b"250", b"250", b"550", b"250", b"354"]
        conn.sendall(raw_message(OTHER, HOUSING) + b".\r\nQUIT\r\n")
        assert reply().startswith(b"250")
        assert reply().startswith(b"221")
    assert len(delivered(gateway_rt, HOUSING)) == 1
    assert len(delivered(gateway_rt, TAX)) == 1


# --- senders that go away ----------------------------------------------------------------------


@contextlib.contextmanager
def database_writes_held(rt: Runtime) -> Iterator[None]:
    """Hold the database's write lock, as a long transaction elsewhere would."""
    engine = rt.engine
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.begin()
            connection.execute(text("LOCK TABLE mail_messages IN EXCLUSIVE MODE"))
        try:
            yield
        finally:
            connection.rollback()


def _send_and_hang_up(port: int, data: bytes) -> None:
    """Send a whole message, then close our side without waiting for the answer."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    envelope = f"MAIL FROM:<{OTHER}>\r\nRCPT TO:<{HOUSING}>\r\nDATA\r\n"
    conn.sendall(b"EHLO client.example.org\r\n" + envelope.encode())
    time.sleep(0.3)  # the 354 has come back; the body follows
    conn.sendall(data + b".\r\n")
    time.sleep(0.3)  # the message is decided and waits for the writer
    conn.shutdown(socket.SHUT_WR)
    conn.close()


def test_a_sender_hanging_up_before_its_answer_does_not_stop_the_gateway(gateway_rt) -> None:
    port = int(gateway_rt.settings.smtp_listen.rpartition(":")[2])
    first = raw_message(OTHER, HOUSING, subject="waits for the database")
    with database_writes_held(gateway_rt):
        waiting = threading.Thread(target=send, args=(gateway_rt, OTHER, [HOUSING], first))
        waiting.start()
        time.sleep(0.5)  # its batch is being written, blocked on the lock
        _send_and_hang_up(port, raw_message(OTHER, HOUSING, subject="hangs up"))
        time.sleep(0.5)
    waiting.join(timeout=60)

    code, reply = send(gateway_rt, OTHER, [HOUSING], raw_message(OTHER, HOUSING, subject="later"))
    assert code == 250, reply
    subjects = {headers_of(m)["Subject"] for m in delivered(gateway_rt, HOUSING)}
    assert {"waits for the database", "later"} <= subjects


def test_a_mailbox_named_twice_gets_one_copy(gateway_rt) -> None:
    upper = HOUSING.upper()
    code, reply = send(gateway_rt, OTHER, [HOUSING, upper], raw_message(OTHER, HOUSING))
    assert code == 250, reply
    assert len(delivered(gateway_rt, HOUSING)) == 1


def test_a_sender_whose_identity_another_process_is_creating_is_still_linked(
    gateway_rt: Runtime,
) -> None:
    """PostgreSQL stores a batch in one statement, which cannot see an identity another
    process commits while the statement waits on it; the contact must still be linked."""
    if gateway_rt.engine.dialect.name != "postgresql":
        pytest.skip("the one-statement batch is PostgreSQL's")
    newcomer = "first.time@example.org"
    with gateway_rt.engine.connect() as other_process:
        other_id = other_process.execute(
            text(
                "INSERT INTO identities (kind, value, created_at) "
                "VALUES ('email', :value, now()) RETURNING id"
            ),
            {"value": newcomer},
        ).scalar_one()
        outcome: list[tuple[int, str]] = []
        sending = threading.Thread(
            target=lambda: outcome.append(
                send(gateway_rt, newcomer, [HOUSING], raw_message(newcomer, HOUSING))
            )
        )
        sending.start()
        # Commit only once the gateway's insert is waiting on our uncommitted row.
        wait_until(
            lambda: _waiting_on_a_lock(gateway_rt), 30, "the gateway's insert to wait on our row"
        )
        other_process.commit()
        sending.join(timeout=30)
    assert outcome and outcome[0][0] == 250
    with gateway_rt.uow() as session:
        event = session.scalars(select(ContactEvent).where(ContactEvent.to_value == HOUSING)).one()
    assert event.identity_id == other_id
    assert event.from_value == newcomer


def _waiting_on_a_lock(rt: Runtime) -> bool:
    with rt.engine.connect() as watcher:
        return bool(
            watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar_one()
        )


def test_both_ways_of_storing_a_batch_store_the_same_rows(
    gateway_rt: Runtime, restrict: Callable[..., str], tmp_path: Path
) -> None:
    """PostgreSQL's one-statement batch and the general path (SQLite's, and any batch with an
    alert) must leave the same messages, deliveries and contacts behind."""
    if gateway_rt.engine.dialect.name != "postgresql":
        pytest.skip("the one-statement batch is PostgreSQL's")
    from gateway.mail.intake import MailIntake, _insert_in_one_statement, _insert_messages
    from gateway.mail.spool import Spool
    from gateway.store.repository import ensure_identities

    restrict(email_measure=EmailMeasure.REDIRECT)
    intake = MailIntake(gateway_rt, Spool(tmp_path / "side-spool"))
    try:

        def prepared(sender: str, recipients: list[str]):
            found = intake.prepare(sender, recipients, raw_message(sender, recipients[0]))
            assert not isinstance(found, IntakeResult)
            return found

        cases = [(CUSTOMER, [HOUSING, TAX]), (OTHER, [HOUSING]), ("", [HOUSING])]
        general = [prepared(sender, to) for sender, to in cases]
        one_statement = [prepared(sender, to) for sender, to in cases]
        with gateway_rt.uow() as session:
            people = [p.person for p in general if p.person]
            general_ids = _insert_messages(session, general, ensure_identities(session, people))
        with gateway_rt.uow() as session:
            one_statement_ids = _insert_in_one_statement(session, one_statement)
    finally:
        intake.close()
    assert _stored(gateway_rt, general_ids) == _stored(gateway_rt, one_statement_ids)
    assert [p.event_ids != [] for p in one_statement] == [True, True, True]


def _stored(rt: Runtime, message_ids: list[int]) -> list[tuple]:
    """Every row a message left, without ids, queue ids and times."""
    skip = {"id", "message_id", "queue_id", "source_key", "received_at", "occurred_at"}
    skip |= {"created_at", "next_attempt_at"}
    found = []
    with rt.uow() as session:
        for message_id in message_ids:
            message = session.get(MailMessage, message_id)
            assert message is not None
            deliveries = session.scalars(
                select(MailDelivery).where(MailDelivery.message_id == message_id)
            ).all()
            events = session.scalars(
                select(ContactEvent)
                .where(ContactEvent.source_key.startswith(f"{message.queue_id}:"))
                .order_by(ContactEvent.to_value)
            ).all()
            found.append(
                tuple(
                    tuple(
                        (column, getattr(row, column))
                        for column in row.__table__.columns.keys()  # noqa: SIM118
                        if column not in skip
                    )
                    for row in [message, *deliveries, *events]
                )
            )
    return found
