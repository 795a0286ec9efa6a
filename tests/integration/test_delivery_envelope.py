"""Delivery's SMTP client sends each envelope exactly as smtplib would, and pipelines it.

The transport writes plain addresses into MAIL and RCPT itself (smtplib's own quoting
parses each address, which is costly); a real downstream must see the same commands,
options and message as from smtplib.SMTP.sendmail, plain address or not.
"""

from __future__ import annotations

import re
import smtplib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.mail.transports import (
    PermanentFailure,
    SmtpTransport,
    TemporaryFailure,
    _dot_stuffed,
)
from gateway.smtp.protocol import BoundPortController
from tests.integration.smtp_helpers import DOWNSTREAM_HOSTNAME, LOOPBACK

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
    controller = BoundPortController(
        recorder,
        hostname=LOOPBACK,
        port=0,
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
        transport.send(sender, target, MESSAGE, copy_key="q-1")
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


# --- pipelining (RFC 2920) ------------------------------------------------------------------


class PipeliningDownstream:
    """A minimal real SMTP server on loopback that offers PIPELINING and records, for each
    read from the socket, the command lines that arrived in it; replies are configurable."""

    def __init__(self, replies: dict[str, str] | None = None) -> None:
        self.replies = {"mail": "250 ok", "rcpt": "250 ok", "data": "354 go on", **(replies or {})}
        self.reads: list[list[str]] = []
        self.data_despite_refusal = False  # answer DATA with 354 even with no recipient
        self.hang_up_before_250 = False  # take the message, then close without a reply
        self.hang_up_after_250 = False  # close the connection after each message's 250
        self.connections = 0
        self.wire: list[bytes] = []  # message data as sent, dots doubled
        self.messages: list[bytes] = []  # as received, dots undone
        self._listener = socket.create_server((LOOPBACK, 0))
        self._closing = threading.Event()
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        self._listener.settimeout(0.05)  # a blocked accept() would not notice the close
        while not self._closing.is_set():  # one connection at a time
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.settimeout(None)
            with connection, suppress(OSError):
                self._session(connection)

    def _session(self, connection: socket.socket) -> None:
        connection.sendall(b"220 downstream.test ESMTP\r\n")
        pending, accepted = b"", False
        while chunk := connection.recv(65536):
            pending += chunk
            lines = []
            while b"\r\n" in pending:
                line, pending = pending.split(b"\r\n", 1)
                lines.append(line.decode())
            self.reads.append(lines)
            for line in lines:
                verb = line.split(" ", 1)[0].split(":", 1)[0].lower()
                mail_ok = self.replies["mail"].startswith("25")
                if verb == "ehlo":
                    reply = "250-downstream.test\r\n250-PIPELINING\r\n250 SIZE 10000000"
                elif verb in ("mail", "rcpt"):
                    reply = self.replies[verb]
                    accepted = reply.startswith("25") if verb == "rcpt" else accepted
                elif verb == "data" and ((accepted and mail_ok) or self.data_despite_refusal):
                    reply = self.replies["data"]
                    if reply.startswith("354"):
                        connection.sendall(f"{reply}\r\n".encode())
                        body, pending = self._read_data(connection, pending)
                        self.wire.append(body)
                        self.messages.append(re.sub(rb"(?m)^\.", b"", body))
                        if self.hang_up_before_250:
                            return
                        reply = "250 queued"
                elif verb == "data":
                    reply = "554 no valid recipients"
                elif verb == "quit":
                    connection.sendall(b"221 bye\r\n")
                    return
                else:  # rset, noop
                    reply, accepted = "250 ok", False
                connection.sendall(f"{reply}\r\n".encode())
                if reply.startswith("421"):
                    return  # the server is closing the connection
                if reply == "250 queued" and self.hang_up_after_250:
                    return  # an idle timeout, say: the client finds out on its next copy

    @staticmethod
    def _read_data(connection: socket.socket, pending: bytes) -> tuple[bytes, bytes]:
        while b"\r\n.\r\n" not in b"\r\n" + pending:
            pending += connection.recv(65536)
        body, rest = (b"\r\n" + pending).split(b"\r\n.\r\n", 1)
        return body[2:] + b"\r\n", rest


@contextmanager
def pipelining_downstream(replies: dict[str, str] | None = None) -> Iterator[PipeliningDownstream]:
    server = PipeliningDownstream(replies)
    try:
        yield server
    finally:
        server.close()


def test_a_pipelining_downstream_gets_the_envelope_in_one_write_and_the_message_intact() -> None:
    with pipelining_downstream() as server:
        send_one(server.port, "jo@example.org", "housing@council.example.org")
    envelope = next(read for read in server.reads if read and read[0].startswith("mail"))
    assert envelope == [
        f"mail from:<jo@example.org> size={len(MESSAGE)}",
        "rcpt to:<housing@council.example.org>",
        "data",
    ]
    # A leading dot is doubled on the wire and undone by the server: it arrives as written.
    assert b"\r\n..a line starting with a dot\r\n" in server.wire[0]
    assert server.messages == [MESSAGE]


@pytest.mark.parametrize(
    ("replies", "failure", "reason"),
    [
        ({"rcpt": "550 5.1.1 no such mailbox"}, PermanentFailure, "550 5.1.1 no such mailbox"),
        ({"rcpt": "452 4.2.2 mailbox full"}, TemporaryFailure, "452 4.2.2 mailbox full"),
        ({"mail": "451 4.3.0 try later"}, TemporaryFailure, "451 4.3.0 try later"),
        ({"data": "554 5.6.0 not today"}, PermanentFailure, "554 5.6.0 not today"),
    ],
)
def test_a_pipelined_refusal_is_reported_with_the_downstreams_words_and_nothing_is_sent(
    replies: dict[str, str], failure: type[Exception], reason: str
) -> None:
    with pipelining_downstream(replies) as server:
        transport = SmtpTransport(LOOPBACK, server.port, "gateway.example.org", starttls=False)
        try:
            with pytest.raises(failure, match=reason):
                transport.send("jo@example.org", "housing@council.example.org", MESSAGE, "q-1")
            # The connection is still in step: the next copy's replies are its own.
            server.replies.update({"mail": "250 ok", "rcpt": "250 ok", "data": "354 go on"})
            transport.send("jo@example.org", "spoc@council.example.org", MESSAGE, "q-2")
        finally:
            transport.close()
    assert len(server.messages) == 1


@pytest.mark.parametrize("step", ["mail", "rcpt"])
def test_a_server_closing_with_421_mid_pipeline_is_a_temporary_failure_in_its_words(
    step: str,
) -> None:
    with pipelining_downstream({step: "421 4.3.2 shutting down"}) as server:
        transport = SmtpTransport(LOOPBACK, server.port, "gateway.example.org", starttls=False)
        try:
            with pytest.raises(TemporaryFailure, match=r"421 4\.3\.2 shutting down"):
                transport.send("jo@example.org", "housing@council.example.org", MESSAGE, "q-1")
        finally:
            transport.close()
    assert server.messages == []


def test_a_server_that_says_354_after_refusing_the_recipient_gets_an_empty_end_mark() -> None:
    with pipelining_downstream({"rcpt": "550 5.1.1 no such mailbox"}) as server:
        server.data_despite_refusal = True
        transport = SmtpTransport(LOOPBACK, server.port, "gateway.example.org", starttls=False)
        try:
            with pytest.raises(PermanentFailure, match=r"550 5\.1\.1"):
                transport.send("jo@example.org", "housing@council.example.org", MESSAGE, "q-1")
            server.replies["rcpt"] = "250 ok"
            transport.send("jo@example.org", "spoc@council.example.org", MESSAGE, "q-2")
        finally:
            transport.close()
    # The end mark closed the empty DATA, so the next copy's replies were its own.
    assert len(server.messages) == 2
    assert server.messages[1] == MESSAGE


def test_a_connection_lost_after_the_message_went_is_not_answered_by_sending_it_again() -> None:
    # The downstream may have the message (its 250 was lost, or it is still working): a
    # second copy at once could deliver it twice, so the back-off tries again later.
    with pipelining_downstream() as server:
        server.hang_up_before_250 = True
        transport = SmtpTransport(LOOPBACK, server.port, "gateway.example.org", starttls=False)
        try:
            with pytest.raises(TemporaryFailure, match="closed the connection"):
                transport.send("jo@example.org", "housing@council.example.org", MESSAGE, "q-1")
        finally:
            transport.close()
    assert server.messages == [MESSAGE]


def test_a_reused_connection_gone_stale_is_replaced_and_the_copy_sent_once() -> None:
    with pipelining_downstream() as server:
        server.hang_up_after_250 = True
        transport = SmtpTransport(LOOPBACK, server.port, "gateway.example.org", starttls=False)
        try:
            transport.send("jo@example.org", "housing@council.example.org", MESSAGE, "q-1")
            transport.send("jo@example.org", "spoc@council.example.org", MESSAGE, "q-2")
        finally:
            transport.close()
    assert server.messages == [MESSAGE, MESSAGE]
    assert server.connections == 2


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"a", b"..", b"\r\n."])))
def test_dot_stuffing_is_smtplibs_for_any_payload(pieces: list[bytes]) -> None:
    payload = b"".join(pieces)
    expected = smtplib._quote_periods(payload)  # what smtplib.SMTP.data sends
    expected += b"" if expected.endswith(b"\r\n") else b"\r\n"
    assert _dot_stuffed(payload) == expected + b".\r\n"
