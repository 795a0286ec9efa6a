"""Delivery jobs: a stopping process gives back what it has not sent, and one copy that
cannot be sent at all becomes a dead letter without holding up the rest.

A real gateway takes the mail over SMTP; the downstream is a real SMTP server (aiosmtpd)
that this test slows down or a Maildir.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.bootstrap import bootstrap
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.smtp.protocol import BoundPortController
from gateway.smtp.server import SmtpGateway
from gateway.store.tables import MailDelivery
from routing.enums import DeliveryStatus
from tests.integration.smtp_helpers import DOWNSTREAM_HOSTNAME, LOOPBACK, send_message
from tests.polling import wait_until

SENDER = "pat.other@example.org"
HOUSING = "housing@council.example.org"


class SlowDownstream:
    """Takes each message in a tenth of a second and remembers its Message-ID."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[bytes] = []
        self.delay = 0.1

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        with self.lock:
            self.received.append(envelope.original_content)
        return "250 OK"


@pytest.fixture
def slow_downstream() -> Iterator[tuple[int, SlowDownstream]]:
    handler = SlowDownstream()
    controller = BoundPortController(
        handler, hostname=LOOPBACK, port=0, server_hostname=DOWNSTREAM_HOSTNAME
    )
    controller.start()
    try:
        yield controller.port, handler
    finally:
        controller.stop()


def gateway(settings: Settings, tmp_path: Path, downstream: str) -> tuple[Runtime, SmtpGateway]:
    rt = bootstrap(
        settings.model_copy(
            update={
                "spool_dir": str(tmp_path / "spool"),
                "downstream": downstream,
            }
        )
    )
    return rt, SmtpGateway(rt).start()


def statuses(rt: Runtime) -> dict[DeliveryStatus, int]:
    with rt.session_factory() as session:
        found = session.scalars(select(MailDelivery.status)).all()
    return {status: found.count(status) for status in set(found)}


def message(number: int) -> bytes:
    return f"From: {SENDER}\r\nSubject: bins {number}\r\n\r\nWhere is my bin?\r\n".encode()


def hold_workers(rt: Runtime) -> threading.Event:
    gate = threading.Event()
    for _ in range(rt.jobs.workers):  # type: ignore[attr-defined]
        rt.jobs.enqueue(gate.wait, 30)
    return gate


def test_a_stopping_process_records_what_it_sent_and_gives_back_the_rest(
    settings: Settings, tmp_path: Path, slow_downstream: tuple[int, SlowDownstream]
) -> None:
    port, downstream = slow_downstream
    rt, smtp = gateway(settings, tmp_path, f"smtp://{LOOPBACK}:{port}")
    gate = hold_workers(rt)
    try:
        for n in range(30):  # queued behind the held workers: merged into one job
            assert send_message(smtp.port, SENDER, [HOUSING], message(n))[0] == 250
        gate.set()
        wait_until(lambda: len(downstream.received) >= 3, 20, "3 messages downstream")
        rt.jobs.close()  # the process is stopping: the job winds up
        sent = len(downstream.received)
        found = statuses(rt)
        assert found.get(DeliveryStatus.DELIVERED) == sent  # every copy sent is recorded
        assert found.get(DeliveryStatus.PENDING) == 30 - sent  # the rest given back
        with rt.session_factory() as session:
            held = session.scalars(select(MailDelivery.claimed_by)).all()
        assert set(held) == {None}
    finally:
        gate.set()
        smtp.stop()
        rt.close()

    # The next process delivers the rest, and nothing twice.
    rt, smtp = gateway(settings, tmp_path, f"smtp://{LOOPBACK}:{port}")
    try:
        from gateway.mail.delivery import sweep_due_deliveries

        rt.jobs.enqueue(sweep_due_deliveries)
        wait_until(
            lambda: statuses(rt) == {DeliveryStatus.DELIVERED: 30},
            30,
            "all 30 copies delivered",
            detail=lambda: statuses(rt),
        )
        subjects = [m.split(b"Subject: ")[1].split(b"\r\n")[0] for m in downstream.received]
        assert sorted(subjects) == sorted(f"bins {n}".encode() for n in range(30))
    finally:
        smtp.stop()
        rt.close()


def test_a_copy_that_cannot_be_sent_is_a_dead_letter_and_the_others_arrive(
    settings: Settings, tmp_path: Path
) -> None:
    rt, smtp = gateway(settings, tmp_path, f"maildir:{tmp_path / 'mail'}")
    gate = hold_workers(rt)
    try:
        for n in range(3):
            assert send_message(smtp.port, SENDER, [HOUSING], message(n))[0] == 250
        with rt.uow() as session:
            first = session.scalar(select(MailDelivery.id).order_by(MailDelivery.id).limit(1))
            # A damaged row: a refusal notice to an address no header may carry.
            damaged = {
                "decision": "reject",
                "notice": "Your contact is managed; please email spoc@council.example.org.",
                "target": "jo@example.org\r\nBcc: all@example.org",
            }
            session.execute(update(MailDelivery).where(MailDelivery.id == first).values(damaged))
        gate.set()
        assert rt.jobs.join(timeout=30)  # type: ignore[attr-defined]
        assert statuses(rt) == {DeliveryStatus.DEAD: 1, DeliveryStatus.DELIVERED: 2}
        with rt.session_factory() as session:
            error = session.scalar(select(MailDelivery.last_error).where(MailDelivery.id == first))
        assert error == "cannot be sent: ValueError"
        assert len(list((tmp_path / "mail" / HOUSING / "new").iterdir())) == 2
    finally:
        gate.set()
        smtp.stop()
        rt.close()


def test_a_job_longer_than_its_claim_renews_it_so_no_other_process_sends_its_copies(
    settings: Settings,
    tmp_path: Path,
    slow_downstream: tuple[int, SlowDownstream],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gateway.mail import delivery

    # A claim of 2 s against 40 copies at a tenth of a second each: the job outlives its
    # first claim twice over, while another process keeps trying to take the copies.
    monkeypatch.setattr(delivery, "CLAIM_SECONDS", 2.0)
    port, downstream = slow_downstream
    rt, smtp = gateway(settings, tmp_path, f"smtp://{LOOPBACK}:{port}")
    gate = hold_workers(rt)
    taken_by_other: list[int] = []
    done = threading.Event()

    def other_process() -> None:
        with rt.session_factory() as session:
            message_ids = list(session.scalars(select(MailDelivery.message_id)))
        while not done.is_set():
            claimed = delivery.claim_due(rt, message_ids, "elsewhere:1:other")
            taken_by_other.extend(copy.id for copy in claimed)
            done.wait(0.1)

    try:
        for n in range(40):  # queued behind the held workers: merged into one job
            assert send_message(smtp.port, SENDER, [HOUSING], message(n))[0] == 250
        gate.set()
        wait_until(
            lambda: DeliveryStatus.PENDING not in statuses(rt),
            20,
            "every copy claimed",
            detail=lambda: statuses(rt),
        )
        competitor = threading.Thread(target=other_process)  # once the job holds them all
        competitor.start()
        wait_until(
            lambda: statuses(rt) == {DeliveryStatus.DELIVERED: 40},
            60,
            "all 40 copies delivered",
            detail=lambda: statuses(rt),
        )
        done.set()
        competitor.join()
        assert taken_by_other == []
        assert len(downstream.received) == 40
    finally:
        done.set()
        gate.set()
        smtp.stop()
        rt.close()


def test_an_rq_job_timeout_mid_send_gives_the_copy_back_rather_than_dead_lettering_it(
    settings: Settings, tmp_path: Path, slow_downstream: tuple[int, SlowDownstream]
) -> None:
    from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty

    from gateway.mail.delivery import deliver_messages

    port, downstream = slow_downstream
    downstream.delay = 5.0  # a downstream that takes its time over the end of DATA
    rt, smtp = gateway(settings, tmp_path, f"smtp://{LOOPBACK}:{port}")
    gate = hold_workers(rt)
    try:
        assert send_message(smtp.port, SENDER, [HOUSING], message(1))[0] == 250
        with rt.session_factory() as session:
            message_id = session.scalar(select(MailDelivery.message_id))
        # What an rq worker does to a job over its time limit: SIGALRM raises in the job.
        with pytest.raises(JobTimeoutException), UnixSignalDeathPenalty(1, JobTimeoutException):
            deliver_messages([message_id])
        with rt.session_factory() as session:
            copy = session.scalar(select(MailDelivery))
        assert (copy.status, copy.claimed_by) == (DeliveryStatus.PENDING, None)
    finally:
        gate.set()
        smtp.stop()
        rt.close()
