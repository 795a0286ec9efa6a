"""Delivery's SMTP client sends each envelope exactly as smtplib would.

The transport writes plain addresses into MAIL and RCPT itself (smtplib's own quoting
parses each address, which is costly); a real downstream must see the same commands,
options and message as from smtplib.SMTP.sendmail, plain address or not.
"""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from gateway.delivery import PermanentFailure, SmtpTransport
from tests.integration.smtp_helpers import DOWNSTREAM_HOSTNAME, LOOPBACK, free_port

MESSAGE = b"From: jo@example.org\r\nSubject: bins\r\n\r\n.a line starting with a dot\r\nend\r\n"


class EnvelopeRecorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.envelopes: list[tuple[str, tuple[str, ...], tuple[str, ...], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.envelopes.append(
                (
                    envelope.mail_from,
                    tuple(envelope.mail_options),
                    tuple(envelope.rcpt_tos),
                    envelope.original_content,
                )
            )
        return "250 OK"


@contextmanager
def recording_downstream(*, smtputf8: bool = True) -> Iterator[tuple[int, EnvelopeRecorder]]:
    """A real SMTP server on loopback that records every envelope (port, recorder)."""
    recorder = EnvelopeRecorder()
    controller = Controller(
        recorder,
        hostname=LOOPBACK,
        port=free_port(),
        server_hostname=DOWNSTREAM_HOSTNAME,
        enable_SMTPUTF8=smtputf8,
    )
    controller.start()
    try:
        yield controller.port, recorder
    finally:
        controller.stop()


@pytest.fixture
def downstream() -> Iterator[tuple[int, EnvelopeRecorder]]:
    with recording_downstream() as found:
        yield found


def send_one(port: int, sender: str, target: str) -> None:
    transport = SmtpTransport(LOOPBACK, port, "gateway.example.org", starttls=False)
    try:
        transport.send(sender, target, MESSAGE, delivery_id=1)
    finally:
        transport.close()


@pytest.mark.parametrize(
    ("sender", "target"),
    [
        ("jo@example.org", "housing@council.example.org"),
        ("", "jo@example.org"),  # a notice of refusal goes out with the null sender
        ('"jo smith"@example.org', "spoc@council.example.org"),
        ("jo@example.org", "o'neil+housing@council.example.org"),
        ("jo@[192.0.2.1]", "housing@council.example.org"),
    ],
)
def test_the_downstream_sees_what_smtplib_would_have_sent(
    downstream: tuple[int, EnvelopeRecorder], sender: str, target: str
) -> None:
    port, recorder = downstream
    send_one(port, sender, target)
    with smtplib.SMTP(LOOPBACK, port, local_hostname="gateway.example.org") as plain:
        plain.sendmail(sender, [target], MESSAGE)
    ours, smtplibs = recorder.envelopes
    assert ours == smtplibs
    assert ours[2] == (target,)
    assert any(option.startswith("SIZE=") for option in ours[1])  # options still go


def test_an_internationalised_address_goes_on_with_smtputf8(
    downstream: tuple[int, EnvelopeRecorder],
) -> None:
    port, recorder = downstream
    send_one(port, "jö@example.org", "housing@council.example.org")
    [(sender, options, _, _)] = recorder.envelopes
    assert sender == "jö@example.org"
    assert "SMTPUTF8" in options


def test_a_downstream_without_smtputf8_refuses_such_a_copy_for_good() -> None:
    with recording_downstream(smtputf8=False) as (port, recorder):
        with pytest.raises(PermanentFailure, match="internationalised"):
            send_one(port, "jö@example.org", "housing@council.example.org")
        send_one(port, "jo@example.org", "housing@council.example.org")
    assert [envelope[0] for envelope in recorder.envelopes] == ["jo@example.org"]
