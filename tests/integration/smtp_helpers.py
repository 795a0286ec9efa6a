"""Helpers for tests that talk real SMTP over loopback: a recording downstream server, a
`ccr` process launcher that waits for the gateway's 220 banner, and a client that sends
numbered messages and remembers exactly which ones were acknowledged with 250.

Everything here is a real server, process or socket; nothing is mocked. No name lookups
happen anywhere (the machines have no DNS): every server and client is given its host name.
Every server binds port 0 and reports the port the system gave it: a port chosen first and
bound later can be taken by another process in between.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from gateway.jobs.queue import InProcessQueue
from gateway.runtime import Runtime
from gateway.smtp.server import SmtpGateway
from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
CCR = str(Path(sys.executable).with_name("ccr"))
LOOPBACK = "127.0.0.1"
CLIENT_HOSTNAME = "client.example.org"  # our EHLO name: smtplib would otherwise ask DNS
DOWNSTREAM_HOSTNAME = "downstream.test"  # the recording server's name: aiosmtpd likewise
SEQ_HEADER = "X-Test-Seq"
QUEUED = re.compile(r"queued as (\S+)")


def with_bound_port(rt: Runtime, smtp: SmtpGateway) -> Runtime:
    """rt as its clients see it once its gateway has started: smtp_listen names the port the
    gateway got, where the settings asked for port 0. The helpers that send mail find the
    gateway there. Everything else is rt's own, and rt is the one to close."""
    host = rt.settings.smtp_listen.rpartition(":")[0]
    bound = rt.settings.model_copy(update={"smtp_listen": f"{host}:{smtp.port}"})
    return dataclasses.replace(rt, settings=bound)


# --- the recording downstream ---------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One transaction as the downstream server saw it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def headers(self) -> Message:
        return email.message_from_bytes(self.data)

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else str(value).strip()


class RecordingHandler:
    """An aiosmtpd handler that keeps every message, and refuses the recipients it is told to.

    `refuse(address, reply)` makes RCPT TO that address answer `reply` (for example a 550)
    until `accept_everyone()`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[ReceivedMail] = []
        self._refusals: dict[str, str] = {}

    def refuse(self, address: str, reply: str = "550 5.1.1 No such mailbox here") -> None:
        with self._lock:
            self._refusals[address.lower()] = reply

    def accept_everyone(self) -> None:
        with self._lock:
            self._refusals.clear()

    @property
    def received(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._received)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        with self._lock:
            refusal = self._refusals.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = ReceivedMail(
            envelope.mail_from or "", tuple(envelope.rcpt_tos), bytes(envelope.content or b"")
        )
        with self._lock:
            self._received.append(mail)
        return "250 2.0.0 Recorded"


class RecordingDownstream:
    """A downstream SMTP server (aiosmtpd on its own thread) that records what it receives.

    Its port is taken when the object is made and held until close(), so a gateway can be
    pointed at it before it listens ("downstream down"): connections are refused until
    `start()` opens it on that port; `stop()` closes it and `start()` again reopens it on
    the same port, which no other process can take meanwhile. What was received survives
    restarts. Use it as a context manager to be sure it is stopped and the port let go.
    """

    def __init__(self) -> None:
        self._port_held = hold_loopback_port()
        self.port: int = self._port_held.getsockname()[1]
        self.handler = RecordingHandler()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """The value for CCR_DOWNSTREAM."""
        return f"smtp://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> RecordingDownstream:
        assert self._controller is None, "the downstream is already running"
        # A controller's event loop is closed when it stops, so each start needs a new one.
        controller = _HeldPortController(
            self.handler, hostname=LOOPBACK, port=self.port, server_hostname=DOWNSTREAM_HOSTNAME
        )
        try:
            controller.start()
        except BaseException:
            _close_loop_of_failed(controller)
            raise
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def close(self) -> None:
        """Stop, and let the port go."""
        self.stop()
        self._port_held.close()

    def refuse(self, address: str, reply: str = "550 5.1.1 No such mailbox here") -> None:
        """Answer RCPT TO this address with `reply` (a permanent failure by default)."""
        self.handler.refuse(address, reply)

    def accept_everyone(self) -> None:
        self.handler.accept_everyone()

    @property
    def received(self) -> list[ReceivedMail]:
        return self.handler.received

    def __enter__(self) -> RecordingDownstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hold_loopback_port() -> socket.socket:
    """A socket bound to a loopback port of the system's choosing, not listening.

    Connections to the port are refused while it is held. With SO_REUSEPORT, only sockets
    of this user that set SO_REUSEPORT too can bind the port as well (_HeldPortController's
    do), so a server can listen there, stop and listen again with no other process taking
    the port in between.
    """
    held = socket.socket()
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    held.bind((LOOPBACK, 0))
    return held


class _HeldPortController(Controller):
    """aiosmtpd's threaded Controller listening on a port held by hold_loopback_port()."""

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self.loop.create_server(
            self._factory_invoker,
            host=self.hostname,
            port=self.port,
            ssl=self.ssl_context,
            reuse_port=True,
        )


def _close_loop_of_failed(controller: Controller) -> None:
    # A controller that never started (port taken) still made an event loop: close it, or
    # its garbage collection warns (and warnings are errors in this test suite).
    thread = getattr(controller, "_thread", None)
    if thread is not None:
        with suppress(Exception):
            controller.stop(no_assert=True)
    loop: asyncio.AbstractEventLoop = controller.loop
    if not loop.is_closed() and not loop.is_running():
        loop.close()


# --- `ccr` processes ------------------------------------------------------------------------


def ccr_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a `ccr` process on this database: the test's own CCR_* variables
    removed, the repository's config file, quiet logs; `settings` are extra CCR_* values
    given by their setting name, e.g. ccr_env(url, downstream="maildir:/tmp/mail")."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CCR_")}
    return {
        **clean,
        "CCR_CONFIG": str(ROOT / "config" / "ccr.toml"),
        "CCR_DATABASE_URL": database_url,
        "CCR_LOG_LEVEL": "WARNING",
        "CCR_SECRET_KEY": "test-secret-key",
        # rq workers import jobs by name: the repository root must be importable.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **{f"CCR_{name.upper()}": value for name, value in settings.items()},
    }


def run_ccr(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run one `ccr` command to completion and capture what it printed."""
    return subprocess.run(
        [CCR, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


class CcrProcess:
    """A long-running `ccr` command (gateway, worker, serve) writing its output to a log file.

    `kill()` is kill -9 (a crash); `stop()` is SIGTERM, then kill -9 if it will not stop.
    Use it as a context manager, or call stop() in a finally block.
    """

    def __init__(self, args: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.args = list(args)
        self.log = log
        self._output = log.open("ab")
        self._log_start = self._output.tell()  # what earlier processes wrote to the same log
        self.process = subprocess.Popen(
            [CCR, *self.args], env=env, cwd=ROOT, stdout=self._output, stderr=self._output
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def _own_output(self) -> str:
        return self.log.read_bytes()[self._log_start :].decode(errors="replace")

    def announced_port(self, label: str, timeout: float) -> int:
        """The port in the line `LABEL: HOST:PORT` (or `LABEL: http://HOST:PORT/`) that the
        command prints once it listens: `ccr serve` prints "SMTP gateway" and "web UI and
        API". Asked to listen on port 0, it prints the port the system gave it."""
        line = re.compile(rf"^{re.escape(label)}: (?:http://)?\S+:(\d+)", re.MULTILINE)

        def port() -> int | None:
            found = line.search(self._own_output())
            if found is None:
                self.check_running()
            return int(found.group(1)) if found else None

        return wait_until(
            port, timeout, f"`ccr {' '.join(self.args)}` to print {label!r}", detail=self.log_text
        )

    def check_running(self) -> None:
        """Fail the test, showing the log, if the process has exited."""
        if not self.running:
            raise AssertionError(f"`ccr {' '.join(self.args)}` exited:\n{self.log_text()}")

    def kill(self) -> None:
        """kill -9: no clean-up of any kind, as in a crash or an OOM kill."""
        if self.running:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._output.close()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait; kill -9 if it has not stopped in time. Returns the exit code."""
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._output.close()
        return self.process.returncode

    def __enter__(self) -> CcrProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GatewayProcess(CcrProcess):
    """`ccr gateway` on a loopback port of the system's choosing (`port`), greeting with 220
    once made; stopped again if it does not within `timeout` seconds."""

    def __init__(self, env: dict[str, str], log: Path, timeout: float = 60) -> None:
        super().__init__(["gateway"], {**env, "CCR_SMTP_LISTEN": f"{LOOPBACK}:0"}, log)
        try:
            self.port = self.announced_port("SMTP gateway", timeout)
            wait_for_banner(self.port, timeout, self)
        except BaseException:
            self.stop()
            raise


def wait_for_banner(port: int, timeout: float, process: CcrProcess | None = None) -> str:
    """Wait until a server on loopback:port greets with 220; returns the greeting.

    Gives up early, with the process's log in the message, if `process` exits meanwhile.
    """

    def greeting() -> str | None:
        if process is not None:
            process.check_running()
        try:
            with socket.create_connection((LOOPBACK, port), timeout=5) as connection:
                line = connection.makefile("rb").readline().decode(errors="replace")
        except OSError:
            return None
        return line.strip() if line.startswith("220") else None

    return wait_until(
        greeting,
        timeout,
        f"a 220 banner on port {port}",
        detail=process.log_text if process else None,
        interval=0.1,
    )


# --- the numbered-message client ------------------------------------------------------------


def numbered_message(seq: int, sender: str, recipients: Iterable[str], run: str = "run") -> bytes:
    """A small message numbered `seq`: header X-Test-Seq and a Message-ID unique to seq and run."""
    return (
        f"From: Test Sender <{sender}>\r\n"
        f"To: {', '.join(recipients)}\r\n"
        f"Subject: Numbered message {seq}\r\n"
        f"Message-ID: <{seq}.{run}@example.org>\r\n"
        f"{SEQ_HEADER}: {seq}\r\n"
        "\r\n"
        f"This is message number {seq} of test run {run}.\r\n"
    ).encode()


@dataclass
class SendOutcomes:
    """What the server answered for each numbered message (thread-safe to read while sending).

    acknowledged: 250 to DATA was read (the value is the reply text, with the queue id);
    refused: a complete non-250 answer was read (code and text);
    unanswered: the connection broke before the final answer was read (not acknowledged,
    although the server may have stored it: a real sender retries these);
    unsent: never tried because the sender stopped.
    """

    acknowledged: dict[int, str] = field(default_factory=dict)
    refused: dict[int, tuple[int, str]] = field(default_factory=dict)
    unanswered: set[int] = field(default_factory=set)
    unsent: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_acknowledged(self) -> int:
        with self._lock:
            return len(self.acknowledged)

    def acknowledged_seqs(self) -> set[int]:
        with self._lock:
            return set(self.acknowledged)

    def queue_ids(self) -> dict[int, str]:
        """The gateway's queue id for each acknowledged message."""
        with self._lock:
            replies = dict(self.acknowledged)
        return {seq: m.group(1) for seq, text in replies.items() if (m := QUEUED.search(text))}


class NumberedSender:
    """Sends numbered messages over SMTP on a thread of its own, recording every answer.

    One session is reused; when it breaks the message in flight counts as unanswered and
    the sender reconnects (within `reconnect_seconds`) to go on, or stops if that is 0 (the
    rest are then unsent). `pause` seconds pass between messages; stop() ends it early.
    """

    def __init__(
        self,
        port: int,
        sender: str,
        recipients: Sequence[str],
        seqs: Iterable[int],
        *,
        run: str = "run",
        pause: float = 0.0,
        reconnect_seconds: float = 0.0,
    ) -> None:
        self.port, self.sender, self.recipients = port, sender, list(recipients)
        self.seqs, self.run, self.pause = list(seqs), run, pause
        self.reconnect_seconds = reconnect_seconds
        self.outcomes = SendOutcomes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send_all, name="numbered-sender", daemon=True)

    def start(self) -> NumberedSender:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> SendOutcomes:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the sender did not finish in time"
        return self.outcomes

    def send_all(self) -> SendOutcomes:
        """Send every message on the calling thread and return the outcomes."""
        self._send_all()
        return self.outcomes

    def _send_all(self) -> None:
        connection: smtplib.SMTP | None = None
        try:
            for index, seq in enumerate(self.seqs):
                if self._stop.is_set():
                    self._unsent(self.seqs[index:])
                    return
                connection = connection or self._connect()
                if connection is None:
                    self._unsent(self.seqs[index:])
                    return
                if not self._send_one(connection, seq):
                    _close_quietly(connection)
                    connection = None
                    if not self.reconnect_seconds:
                        self._unsent(self.seqs[index + 1 :])
                        return
                if self.pause:
                    time.sleep(self.pause)
        finally:
            if connection is not None:
                with suppress(smtplib.SMTPException, OSError):
                    connection.quit()
                _close_quietly(connection)

    def _connect(self) -> smtplib.SMTP | None:
        deadline = time.monotonic() + self.reconnect_seconds
        while not self._stop.is_set():
            try:
                connection = smtplib.SMTP(
                    LOOPBACK, self.port, local_hostname=CLIENT_HOSTNAME, timeout=120
                )
                connection.ehlo()
                return connection
            except (smtplib.SMTPException, OSError):
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.1)
        return None

    def _send_one(self, connection: smtplib.SMTP, seq: int) -> bool:
        """One transaction; False if the session broke (the message is then unanswered)."""
        data = numbered_message(seq, self.sender, self.recipients, self.run)
        try:
            reply = _transaction(connection, self.sender, self.recipients, data)
        except (smtplib.SMTPServerDisconnected, OSError):
            with self.outcomes._lock:
                self.outcomes.unanswered.add(seq)
            return False
        code, text = reply
        with self.outcomes._lock:
            if code == 250:
                self.outcomes.acknowledged[seq] = text
            else:
                self.outcomes.refused[seq] = (code, text)
        return True

    def _unsent(self, seqs: Iterable[int]) -> None:
        with self.outcomes._lock:
            self.outcomes.unsent.update(seqs)


def send_message(port: int, sender: str, recipients: Sequence[str], data: bytes) -> tuple[int, str]:
    """One message in a session of its own; returns the final answer (code and text).

    The answer to MAIL, RCPT (if no recipient was accepted) or DATA, whichever was final.
    """
    with smtplib.SMTP(LOOPBACK, port, local_hostname=CLIENT_HOSTNAME, timeout=120) as connection:
        connection.ehlo()
        return _transaction(connection, sender, recipients, data)


def _transaction(
    connection: smtplib.SMTP, sender: str, recipients: Sequence[str], data: bytes
) -> tuple[int, str]:
    code, text = connection.mail(sender)
    if code != 250:
        connection.rset()
        return code, text.decode(errors="replace")
    accepted = 0
    last = (code, text)
    for recipient in recipients:
        last = connection.rcpt(recipient)
        accepted += last[0] in (250, 251)
    if not accepted:
        connection.rset()
        return last[0], last[1].decode(errors="replace")
    try:
        code, text = connection.data(data)
    except smtplib.SMTPDataError as refused:  # an answer other than 354 to DATA itself
        connection.rset()
        return refused.smtp_code, refused.smtp_error.decode(errors="replace")
    if code != 250:
        connection.rset()
    return code, text.decode(errors="replace")


def _close_quietly(connection: smtplib.SMTP) -> None:
    with suppress(OSError):
        connection.close()


# --- Maildirs -------------------------------------------------------------------------------


def maildir_messages(root: Path, mailbox: str) -> list[bytes]:
    """Every message delivered into the Maildir of `mailbox` under `root` (its new/ folder)."""
    folder = root / mailbox.lower() / "new"
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        with suppress(FileNotFoundError):  # a reader may move it to cur/ meanwhile
            found.append(path.read_bytes())
    return found


def header_counts(messages: Iterable[bytes], name: str = SEQ_HEADER) -> Counter[str]:
    """How many messages carry each value of header `name` (a message without it counts
    under ""; one carrying it twice counts for both values)."""
    counts: Counter[str] = Counter()
    for data in messages:
        values = email.message_from_bytes(data).get_all(name) or [""]
        counts.update(str(v).strip() for v in values)
    return counts


def seq_counts(messages: Iterable[bytes]) -> Counter[int]:
    """How many copies of each numbered message arrived (see numbered_message)."""
    counts = header_counts(messages, SEQ_HEADER)
    assert "" not in counts, f"{counts['']} message(s) without {SEQ_HEADER}"
    return Counter({int(value): n for value, n in counts.items()})


def iter_spool_files(spool_dir: Path) -> Iterator[Path]:
    """The message files in a gateway spool (what is stored and not yet fully delivered)."""
    folder = spool_dir / "messages"
    if folder.is_dir():
        yield from sorted(p for p in folder.iterdir() if p.is_file())


# --- a gateway in the test's own process ----------------------------------------------------


def send(
    rt: Runtime, sender: str, recipients: list[str], body: str, subject: str = "My complaint"
) -> None:
    """Send one plain message through rt's running gateway (see with_bound_port)."""
    message = (
        f"From: {sender}\r\nTo: {', '.join(recipients)}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{abs(hash((sender, body, subject)))}@example.org>\r\n\r\n{body}\r\n"
    )
    port = int(rt.settings.smtp_listen.rpartition(":")[2])
    with smtplib.SMTP(LOOPBACK, port, local_hostname=CLIENT_HOSTNAME, timeout=30) as c:
        c.sendmail(sender, recipients, message.encode())


def settled(
    rt: Runtime,
    marker_from: str = "someone.else@example.org",
    marker_to: str = "counciltax@council.example.org",
) -> None:
    """Wait until every job queued for the mail sent so far has run.

    The gateway queues a batch's jobs after it has answered the batch's senders, before it
    takes the next batch: so once one more message is answered, everything before it is
    queued, and joining the queue waits for it.
    """
    send(rt, marker_from, [marker_to], "marker")
    assert isinstance(rt.jobs, InProcessQueue)
    assert rt.jobs.join(timeout=60)
