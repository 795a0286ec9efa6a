"""Delivery's SMTP client sends each envelope exactly as smtplib would.

The transport writes plain addresses into MAIL and RCPT itself (smtplib's own quoting
parses each address, which is costly); a real downstream must see the same commands,
options and message as from smtplib.SMTP.sendmail, plain address or not.
"""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Iterator
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


@pytest.fixture
def downstream() -> Iterator[tuple[int, EnvelopeRecorder]]:
    recorder = EnvelopeRecorder()
    controller = Controller(
        recorder, hostname=LOOPBACK, port=free_port(), server_hostname=DOWNSTREAM_HOSTNAME
    )
    controller.start()
    try:
        yield controller.port, recorder
    finally:
        controller.stop()


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
    transport = SmtpTransport(LOOPBACK, port, "gateway.example.org", starttls=False)
    try:
        transport.send(sender, target, MESSAGE, delivery_id=1)
    finally:
        transport.close()
    with smtplib.SMTP(LOOPBACK, port, local_hostname="gateway.example.org") as plain:
        plain.sendmail(sender, [target], MESSAGE)
    ours, smtplibs = recorder.envelopes
    assert ours == smtplibs
    assert ours[2] == (target,)
    assert any(option.startswith("SIZE=") for option in ours[1])  # options still go


def test_an_internationalised_address_goes_on_with_smtputf8() -> None:
    recorder = EnvelopeRecorder()
    controller = Controller(
        recorder,
        hostname=LOOPBACK,
        port=free_port(),
        server_hostname=DOWNSTREAM_HOSTNAME,
        enable_SMTPUTF8=True,
    )
    controller.start()
    transport = SmtpTransport(LOOPBACK, controller.port, "gateway.example.org", starttls=False)
    try:
        transport.send("jö@example.org", "housing@council.example.org", MESSAGE, delivery_id=1)
    finally:
        transport.close()
        controller.stop()
    [(sender, options, _, _)] = recorder.envelopes
    assert sender == "jö@example.org"
    assert "SMTPUTF8" in options


def test_a_downstream_without_smtputf8_refuses_such_a_copy_for_good() -> None:
    recorder = EnvelopeRecorder()
    controller = Controller(
        recorder,
        hostname=LOOPBACK,
        port=free_port(),
        server_hostname=DOWNSTREAM_HOSTNAME,
        enable_SMTPUTF8=False,
    )
    controller.start()
    transport = SmtpTransport(LOOPBACK, controller.port, "gateway.example.org", starttls=False)
    try:
        with pytest.raises(PermanentFailure, match="internationalised"):
            transport.send("jö@example.org", "housing@council.example.org", MESSAGE, 1)
        transport.send("jo@example.org", "housing@council.example.org", MESSAGE, 2)
    finally:
        transport.close()
        controller.stop()
    assert [envelope[0] for envelope in recorder.envelopes] == ["jo@example.org"]
