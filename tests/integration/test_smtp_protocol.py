"""GatewaySMTP over real loopback sockets, with a handler that only records what arrives.

Normal mail goes through smtplib. The smuggling sequences, pipelining and the limits go
through a raw socket, because smtplib will not send a bare LF or CR.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.mail import replies
from gateway.smtp.protocol import GatewayController
from tests.polling import wait_until

HOSTNAME = "ccr.test"
SIZE_LIMIT = 200_000
SENDER = "resident@example.org"
HOUSING = "housing@council.example.org"
FINANCE = "finance@council.example.org"
SMUGGLED = (
    b"MAIL FROM:<ceo@council.example.org>\r\n"
    b"RCPT TO:<finance@council.example.org>\r\n"
    b"DATA\r\n"
    b"From: ceo@council.example.org\r\nSubject: pay this invoice\r\n\r\nsmuggled\r\n"
)


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class RecordingHandler:
    """Accepts every message and keeps it; the reply names it by its number."""

    messages: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return replies.queued(f"T{len(self.messages)}")


@dataclass
class Gateway:
    port: int
    handler: RecordingHandler


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    handler = RecordingHandler()
    controller = GatewayController(
        handler,
        hostname="127.0.0.1",
        port=0,  # the system chooses; controller.port says which
        server_hostname=HOSTNAME,  # no getfqdn(): there is no DNS here
        data_size_limit=SIZE_LIMIT,
        decode_data=False,
    )
    controller.start()
    try:
        yield Gateway(controller.port, handler)
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server context with a throwaway self-signed certificate for ccr.test."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-subj", f"/CN={HOSTNAME}", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(command, check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def tls_gateway(tls_context: ssl.SSLContext) -> Iterator[Gateway]:
    handler = RecordingHandler()
    controller = GatewayController(
        handler,
        hostname="127.0.0.1",
        port=0,
        server_hostname=HOSTNAME,
        tls_context=tls_context,
    )
    controller.start()
    try:
        yield Gateway(controller.port, handler)
    finally:
        controller.stop()


def trusting_client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the throwaway certificate is self-signed
    return context


class RawSession:
    """One SMTP connection driven octet by octet."""

    def __init__(self, port: int) -> None:
        self._socket = socket.create_connection(("127.0.0.1", port), timeout=5)
        self._replies = self._socket.makefile("rb")
        assert self.reply().startswith("220 ")

    def send(self, octets: bytes) -> None:
        self._socket.sendall(octets)

    def reply(self) -> str:
        """The next reply; for a multiline reply, its last line."""
        while True:
            line = self._replies.readline().decode("ascii").removesuffix("\r\n")
            if line[3:4] != "-":
                return line

    def command(self, line: str) -> str:
        self.send(line.encode("ascii") + b"\r\n")
        return self.reply()

    def start_data(self, recipient: str = HOUSING) -> None:
        assert self.command("EHLO client.test").startswith("250 ")
        assert self.command(f"MAIL FROM:<{SENDER}>") == replies.OK
        assert self.command(f"RCPT TO:<{recipient}>") == replies.OK
        assert self.command("DATA") == replies.START_MAIL_INPUT

    def is_closed_by_server(self) -> bool:
        return self._replies.read() == b""  # EOF, not a timeout

    def close(self) -> None:
        self._replies.close()
        self._socket.close()


@pytest.fixture
def session(gateway: Gateway) -> Iterator[RawSession]:
    raw = RawSession(gateway.port)
    yield raw
    raw.close()


def a_message(size: int) -> bytes:
    """A message of about `size` octets whose lines test dot-stuffing, with 8-bit octets."""
    head = b"From: <resident@example.org>\r\nTo: <housing@council.example.org>\r\n"
    head += b"Subject: repairs\r\n\r\n"
    body = [b".", b"..two dots", b".leading dot", b"caf\xc3\xa9 \xff raw octets", b""]
    line = 0
    while len(head) + sum(len(part) + 2 for part in body) < size:
        body.append(b"%05d " % line + b"x" * 72)
        line += 1
    return head + b"".join(part + b"\r\n" for part in body)


def dot_stuffed(message: bytes) -> bytes:
    """The message as a client sends it: a dot that starts a line is doubled."""
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


# --- normal mail --------------------------------------------------------------------------


def test_a_100_kb_message_arrives_byte_for_byte(gateway: Gateway) -> None:
    message = a_message(100_000)
    with smtplib.SMTP("127.0.0.1", gateway.port, local_hostname="client.test") as client:
        client.sendmail(SENDER, [HOUSING], message)
    assert gateway.handler.messages == [Received(SENDER, [HOUSING], message)]


def test_the_handler_reply_is_the_answer_to_data(gateway: Gateway) -> None:
    with smtplib.SMTP("127.0.0.1", gateway.port, local_hostname="client.test") as client:
        client.ehlo()
        client.mail(SENDER)
        client.rcpt(HOUSING)
        code, text = client.data(a_message(2_000))
    assert f"{code} {text.decode()}" == replies.queued("T1")


def test_an_empty_message_is_accepted(gateway: Gateway, session: RawSession) -> None:
    session.start_data()
    session.send(b".\r\n")
    assert session.reply() == replies.queued("T1")
    assert gateway.handler.messages[0].content == b""


def test_data_needs_a_recipient_and_no_argument(session: RawSession) -> None:
    assert session.command("EHLO client.test").startswith("250 ")
    assert session.command(f"MAIL FROM:<{SENDER}>") == replies.OK
    assert session.command("DATA") == replies.NEED_RCPT
    assert session.command(f"RCPT TO:<{HOUSING}>") == replies.OK
    assert session.command("DATA now") == replies.DATA_SYNTAX


def test_pipelined_transactions_are_read_to_the_octet(
    gateway: Gateway, session: RawSession
) -> None:
    assert session.command("EHLO client.test").startswith("250 ")
    session.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{HOUSING}>\r\nDATA\r\n".encode())
    assert [session.reply() for _ in range(3)] == [replies.OK, replies.OK, replies.START_MAIL_INPUT]
    # RFC 2920: the message may be followed by the next transaction's commands in one write.
    session.send(
        b"first\r\n..dot\r\n.\r\n"
        + f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{FINANCE}>\r\nDATA\r\n".encode()
    )
    expected = [replies.queued("T1"), replies.OK, replies.OK, replies.START_MAIL_INPUT]
    assert [session.reply() for _ in range(4)] == expected
    session.send(b"second\r\n.\r\nQUIT\r\n")
    assert session.reply() == replies.queued("T2")
    assert session.reply().startswith("221 ")
    assert gateway.handler.messages == [
        Received(SENDER, [HOUSING], b"first\r\n.dot\r\n"),
        Received(SENDER, [FINANCE], b"second\r\n"),
    ]


def test_a_whole_transaction_in_one_write(gateway: Gateway, session: RawSession) -> None:
    assert session.command("EHLO client.test").startswith("250 ")
    session.send(
        f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{HOUSING}>\r\nDATA\r\n".encode()
        + b"Subject: blast\r\n\r\nhello\r\n.\r\nQUIT\r\n"
    )
    answers = [session.reply() for _ in range(5)]
    assert answers[:4] == [replies.OK, replies.OK, replies.START_MAIL_INPUT, replies.queued("T1")]
    assert answers[4].startswith("221 ")
    assert gateway.handler.messages[0].content == b"Subject: blast\r\n\r\nhello\r\n"


def test_after_starttls_a_message_arrives_and_a_bare_lf_is_refused(tls_gateway: Gateway) -> None:
    # STARTTLS swaps the transport under the same StreamReader; both readers must follow it.
    message = a_message(100_000)
    with smtplib.SMTP("127.0.0.1", tls_gateway.port, local_hostname="client.test") as client:
        client.starttls(context=trusting_client_context())
        client.sendmail(SENDER, [HOUSING], message)
        assert client.sock is not None
        client.sock.sendall(b"NOOP\n")
        assert client.getreply() == (521, f"5.5.2 {HOSTNAME} Error: bare <LF> received".encode())
    assert tls_gateway.handler.messages == [Received(SENDER, [HOUSING], message)]


# --- limits -------------------------------------------------------------------------------


def test_an_oversize_message_gets_552_and_the_session_goes_on(
    gateway: Gateway, session: RawSession
) -> None:
    session.start_data()
    session.send(dot_stuffed(a_message(SIZE_LIMIT + 10_000)) + b".\r\n")
    assert session.reply() == replies.MESSAGE_TOO_BIG
    assert session.command(f"MAIL FROM:<{SENDER}>") == replies.OK
    assert session.command(f"RCPT TO:<{HOUSING}>") == replies.OK
    assert session.command("DATA") == replies.START_MAIL_INPUT
    session.send(b"small\r\n.\r\n")
    assert session.reply() == replies.queued("T1")
    assert [message.content for message in gateway.handler.messages] == [b"small\r\n"]


def test_a_message_at_the_size_limit_is_accepted(gateway: Gateway, session: RawSession) -> None:
    message = b"y" * 98 + b"\r\n"
    message *= SIZE_LIMIT // len(message)
    assert len(message) == SIZE_LIMIT
    session.start_data()
    session.send(message + b".\r\n")
    assert session.reply() == replies.queued("T1")
    assert gateway.handler.messages[0].content == message


def test_a_line_over_1001_octets_gets_500_after_the_data(
    gateway: Gateway, session: RawSession
) -> None:
    session.start_data()
    session.send(b"Subject: long\r\n\r\n" + b"z" * 1500 + b"\r\nmore\r\n.\r\n")
    assert session.reply() == replies.LINE_TOO_LONG
    assert session.command("NOOP") == replies.OK
    assert gateway.handler.messages == []


# --- SMTP smuggling -----------------------------------------------------------------------

SMUGGLING = {
    "LF.LF": (b"\n.\n", replies.bare_lf),
    "CR.CR": (b"\r.\r", replies.bare_cr),
    "CRLF.LF": (b"\r\n.\n", replies.bare_lf),
    "LF.CRLF": (b"\n.\r\n", replies.bare_lf),
    "CR.CRLF": (b"\r.\r\n", replies.bare_cr),
    "CRLF.CR": (b"\r\n.\r", replies.bare_cr),
    "bare LF in a line": (b"\r\nsplit\nline\r\n", replies.bare_lf),
}


@pytest.mark.parametrize(("sequence", "refusal"), SMUGGLING.values(), ids=SMUGGLING.keys())
def test_a_smuggled_message_is_refused_and_nothing_is_delivered(
    gateway: Gateway,
    session: RawSession,
    sequence: bytes,
    refusal: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session.start_data()
    session.send(b"Subject: real\r\n\r\nreal" + sequence + SMUGGLED + b".\r\nQUIT\r\n")
    assert session.reply() == refusal(HOSTNAME)
    assert session.is_closed_by_server()
    assert gateway.handler.messages == []
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("command", "refusal"),
    [
        (b"EHLO client.test\n", replies.bare_lf),
        (b"EHLO client.test\r\r\n", replies.bare_cr),
        (b"NOOP\rRSET\r\n", replies.bare_cr),
    ],
    ids=["LF", "CR CR LF", "CR between commands"],
)
def test_a_bare_newline_in_a_command_is_refused(
    session: RawSession, command: bytes, refusal: Any
) -> None:
    session.send(command)
    assert session.reply() == refusal(HOSTNAME)
    assert session.is_closed_by_server()


def test_commands_pipelined_behind_a_bare_lf_are_not_run(
    gateway: Gateway, session: RawSession
) -> None:
    session.send(
        b"EHLO client.test\r\n"
        + f"MAIL FROM:<{SENDER}>\nRCPT TO:<{HOUSING}>\r\nDATA\r\n".encode()
        + b"pipelined\r\n.\r\n"
    )
    assert session.reply().startswith("250 ")
    assert session.reply() == replies.bare_lf(HOSTNAME)
    assert session.is_closed_by_server()  # and no reply to RCPT, DATA or the message
    assert gateway.handler.messages == []


def test_a_session_that_starts_tls_is_counted_once_against_the_limit(
    tls_context: ssl.SSLContext,
) -> None:
    """STARTTLS makes the session anew on the same connection; counting it twice would refuse
    it under a limit of one, and never freeing the second count would refuse the next."""
    controller = GatewayController(
        RecordingHandler(),
        hostname="127.0.0.1",
        port=0,
        server_hostname=HOSTNAME,
        tls_context=tls_context,
        max_connections=1,
    )
    controller.start()
    try:
        for _ in range(2):  # the second finds the place the first left
            wait_until(lambda: _starts_tls_and_says_hello(controller.port), 10, "a TLS session")
    finally:
        controller.stop()


def _starts_tls_and_says_hello(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=10) as client:
            client.starttls(context=trusting_client_context())
            return client.ehlo()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False
