"""SMTP peers and clients for ``bench/smtp_throughput.py``.

- ``Sink``: Postfix's ``smtp-sink`` (discards every message, counts them with ``-c``);
- ``run_smtp_source``: Postfix's ``smtp-source`` load generator, timed;
- ``RelayHandler`` / ``serve_relay``: a bare aiosmtpd relay that forwards each message to
  the downstream with aiosmtplib and answers 250 only after the downstream's 250;
- ``PrivatePostfix``: a throw-away Postfix instance (own config and queue directories)
  relaying everything to the downstream;
- ``run_latency_pass``: an asyncio SMTP client on raw streams that times each message from
  writing the final ``.`` of DATA to reading the reply.

The relay runs in its own process so that it can be pinned to a core of its own::

    .venv/bin/python bench/smtp_peers.py relay --listen 127.0.0.1:2600 --downstream 127.0.0.1:2700

Every process here is started in a session of its own and stopped by its process group id.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiosmtplib
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

LOOPBACK = "127.0.0.1"
SINK_HOSTNAME = "sink.example.org"
RELAY_HOSTNAME = "relay.example.org"
CLIENT_HOSTNAME = "client.example.org"
POSTFIX_HOSTNAME = "postfix-bench.example.org"
SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
POSTFIX = "/usr/sbin/postfix"
QUEUE_SUBDIRS = ("maildrop", "incoming", "active", "deferred", "hold")
PROSE = (
    "Thank you for your letter of last week about the repairs to the kitchen window and the "
    "damp in the back bedroom. I have attached the photographs you asked for and would be "
    "grateful for a date when someone can call."
)

Envelope2 = tuple[str, str]  # (sender, recipient) of one message


# --- processes ----------------------------------------------------------------------------


def pinned_to(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child (and so all its children) to one CPU."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def start_process(
    argv: Sequence[str],
    *,
    cpu: int | None,
    log: Path | None = None,
    env: dict[str, str] | None = None,
    stdout: int | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a child in a session of its own (Ctrl-C reaches only us; we stop it ourselves)."""
    log_file = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - child keeps it
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else log_file,
            stderr=log_file,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=pinned_to(cpu),
        )
    finally:
        if log:
            log_file.close()  # type: ignore[union-attr]


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the child's process group (it leads its own session), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def free_port() -> int:
    """An unused high loopback port (from the kernel's ephemeral range)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def answers_220(port: int, timeout: float = 2.0) -> bool:
    """True if something on the port greets with 220 (then we QUIT politely)."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as conn:
            greeting = conn.makefile("rb").readline()
            with contextlib.suppress(OSError):
                conn.sendall(b"QUIT\r\n")
            return greeting.startswith(b"220")
    except OSError:
        return False


def wait_for_220(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> bool:
    """Wait until the port greets with 220; False on timeout or if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        if answers_220(port):
            return True
        time.sleep(0.1)
    return False


# --- smtp-sink ----------------------------------------------------------------------------


class Sink:
    """``smtp-sink`` on a private port: accepts and discards; counts messages with ``-c``.

    ``-c`` makes it print ``\\rsess=N quit=N mesg=N`` whenever a "." arrives; a thread reads
    that and keeps the latest count with the moment it changed.
    """

    COUNTER = re.compile(rb"mesg=(\d+)")

    def __init__(self, port: int, cpu: int | None, log: Path) -> None:
        self.port = port
        self.argv = [
            SMTP_SINK,
            "-c",  # running counters on stdout
            "-u",
            "nobody",  # it refuses to run as root without dropping privileges
            "-h",
            SINK_HOSTNAME,
            "-m",
            "1000",  # concurrent connections (default 256)
            f"{LOOPBACK}:{port}",
            "1024",  # listen backlog
        ]
        self._count = 0
        self._changed_at = time.perf_counter()
        self._condition = threading.Condition()
        self.process = start_process(self.argv, cpu=cpu, log=log, stdout=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read_counter, daemon=True)
        self._reader.start()

    def _read_counter(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        tail = b""
        while chunk := os.read(stream.fileno(), 65536):
            found = self.COUNTER.findall(tail + chunk)
            tail = chunk[-64:]
            if found:
                with self._condition:
                    count = int(found[-1])
                    if count != self._count:
                        self._count = count
                        self._changed_at = time.perf_counter()
                        self._condition.notify_all()

    @property
    def messages(self) -> int:
        with self._condition:
            return self._count

    def wait_for(self, target: int, timeout: float) -> float | None:
        """Wait until ``target`` messages have arrived; the perf_counter time the last one did."""
        with self._condition:
            if self._condition.wait_for(lambda: self._count >= target, timeout):
                return self._changed_at
            return None

    def wait_until_quiet(self, quiet: float, timeout: float) -> int:
        """Wait until no message has arrived for ``quiet`` seconds; return the count."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self._condition:
                if time.perf_counter() - self._changed_at >= quiet:
                    return self._count
            time.sleep(0.05)
        return self.messages

    def stop(self) -> None:
        stop_process(self.process)


# --- smtp-source --------------------------------------------------------------------------


@dataclass
class SourceRun:
    """One smtp-source run: wall seconds from start to exit, and whether it succeeded."""

    messages: int
    started: float  # perf_counter at spawn
    seconds: float
    returncode: int
    stderr: str

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def smtp_source_argv(
    port: int, messages: int, size: int, sender: str, recipient: str, sessions: int
) -> list[str]:
    return [
        SMTP_SOURCE,
        "-s",
        str(sessions),  # concurrent sessions
        "-m",
        str(messages),  # messages in all, shared by the sessions
        "-l",
        str(size),  # payload bytes after smtp-source's own headers
        "-d",  # keep each session open for its next message, as a real MTA would
        "-M",
        CLIENT_HOSTNAME,  # HELO name, instead of looking up this machine's name
        "-f",
        sender,
        "-t",
        recipient,
        f"{LOOPBACK}:{port}",
    ]


def run_smtp_source(
    port: int,
    messages: int,
    size: int,
    sender: str,
    recipient: str,
    *,
    sessions: int,
    cpu: int | None,
    timeout: float,
) -> SourceRun:
    """Run smtp-source to completion, timed from spawn to exit (connects included)."""
    argv = smtp_source_argv(port, messages, size, sender, recipient, sessions)
    start = time.perf_counter()
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=pinned_to(cpu),
    )
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process(process)
        process.communicate()
        seconds = time.perf_counter() - start
        return SourceRun(messages, start, seconds, -1, f"timed out after {timeout:.0f} s")
    except BaseException:  # Ctrl-C or SIGTERM: leave no smtp-source behind
        stop_process(process)
        process.communicate()
        raise
    seconds = time.perf_counter() - start
    stderr_text = stderr.decode(errors="replace").strip()
    return SourceRun(messages, start, seconds, process.returncode, stderr_text)


# --- (b) the bare aiosmtpd relay ----------------------------------------------------------


class RelayHandler:
    """Forward each message downstream, then answer; 250 only after the downstream's 250.

    Downstream connections are pooled: a DATA takes an idle connection (or opens one), sends
    with aiosmtplib (one EHLO per connection, MAIL/RCPT pipelined when offered), and puts it
    back. So at most one connection per concurrent transaction (10 for 10 sessions), each
    reused for many messages.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._idle: list[aiosmtplib.SMTP] = []

    async def _take(self) -> aiosmtplib.SMTP:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            local_hostname=RELAY_HOSTNAME,  # no getfqdn(): there is no DNS here
            start_tls=False,
            timeout=60,
        )
        await client.connect()
        return client

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        for attempt in (1, 2):  # an idle connection may have been dropped: one fresh retry
            client = await self._take()
            try:
                errors, _ = await client.sendmail(
                    envelope.mail_from or "", envelope.rcpt_tos, content
                )
            except aiosmtplib.SMTPServerDisconnected:
                client.close()
                if attempt == 2:
                    return "451 4.4.2 Downstream disconnected"
                continue
            except aiosmtplib.SMTPException as exc:
                client.close()
                return f"451 4.4.0 Downstream refused: {str(exc).splitlines()[0][:200]}"
            self._idle.append(client)
            if errors:
                return "451 4.4.0 Downstream refused some recipients"
            return "250 2.0.0 Relayed"
        return "451 4.4.0 Downstream unavailable"


def serve_relay(listen_port: int, downstream_port: int) -> None:
    """Run the relay in this process until SIGTERM or SIGINT."""
    controller = Controller(
        RelayHandler(LOOPBACK, downstream_port),
        hostname=LOOPBACK,
        port=listen_port,
        server_hostname=RELAY_HOSTNAME,  # no getfqdn() per connection: there is no DNS here
        ready_timeout=30,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    controller.start()
    try:
        stop.wait()
    finally:
        controller.stop()


@dataclass
class Relay:
    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_process(self.process)


def start_relay(listen_port: int, downstream_port: int, cpu: int | None, log: Path) -> Relay:
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "relay",
        "--listen",
        f"{LOOPBACK}:{listen_port}",
        "--downstream",
        f"{LOOPBACK}:{downstream_port}",
    ]
    return Relay(listen_port, start_process(argv, cpu=cpu, log=log))


# --- (c) a private Postfix instance -------------------------------------------------------

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
{listen} inet   n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
# Private benchmark instance: relays everything it accepts to {relayhost}.
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = {hostname}
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains =
relayhost = {relayhost}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
maillog_file = {root}/maillog
maillog_file_prefixes = /tmp
syslog_name = postfix-bench
biff = no
append_dot_mydomain = no
readme_directory = no
"""


@dataclass
class PrivatePostfix:
    """A Postfix instance under ``root`` (config in ``root/etc``), stock queue settings.

    Only what a private instance needs differs from Debian's defaults: its own
    directories, no chroot, a loopback listener on ``port``, everything relayed to
    ``[127.0.0.1]:relay_port``, no DNS, a log file. The queue is fsync'd as usual.
    """

    root: Path
    port: int
    relay_port: int
    cpu: int | None
    started: bool = False
    config_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.config_dir = self.root / "etc"

    def configure(self) -> None:
        # Postfix daemons run as "postfix" and must traverse the path to the queue.
        for directory in (self.root, self.config_dir, self.root / "queue", self.root / "data"):
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o755)
        shutil.chown(self.root / "data", "postfix")
        listen = f"{LOOPBACK}:{self.port}"
        (self.config_dir / "master.cf").write_text(MASTER_CF.format(listen=listen))
        (self.config_dir / "main.cf").write_text(
            MAIN_CF.format(
                root=self.root,
                hostname=POSTFIX_HOSTNAME,
                relayhost=f"[{LOOPBACK}]:{self.relay_port}",
            )
        )

    def _postfix(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [POSTFIX, "-c", str(self.config_dir), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=pinned_to(self.cpu),
            check=False,
        )

    def check(self) -> str:
        """``postfix check``: raises if it fails, returns any warnings it printed."""
        result = self._postfix("check")
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0:
            raise RuntimeError(f"postfix check failed ({result.returncode}): {output}")
        return output

    def start(self) -> None:
        result = self._postfix("start")
        self.started = True  # even a failed start may have left a master to stop
        if result.returncode != 0:
            raise RuntimeError(f"postfix start failed: {(result.stdout + result.stderr).strip()}")

    def stop(self) -> None:
        if not self.started:
            return
        result = self._postfix("stop")
        if result.returncode != 0:
            self._postfix("abort")
        self._wait_for_master_exit(10.0)
        self.started = False

    def _wait_for_master_exit(self, timeout: float) -> None:
        pid_file = self.root / "queue" / "pid" / "master.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().split()[0])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                os.kill(pid, 0)  # raises once the master has gone
                time.sleep(0.1)

    def queued(self) -> int:
        """Messages still in the queue (any state)."""
        queue = self.root / "queue"
        return sum(len(files) for sub in QUEUE_SUBDIRS for _, _, files in os.walk(queue / sub))

    def log_tail(self, lines: int = 5) -> str:
        log = self.root / "maillog"
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


# --- the latency client -------------------------------------------------------------------


@dataclass
class LatencyRun:
    """One pass of the asyncio client: replies to the final dot, timed."""

    sent: int = 0
    accepted: int = 0
    refused: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_refusal: str = ""

    @property
    def per_second(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        """Nearest-rank percentile of the latencies, in seconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
        return ordered[rank - 1]


def message_body(size: int) -> bytes:
    """``size`` bytes of plain prose in 72-column CRLF lines (none starts with a dot)."""
    prose = PROSE.split()
    lines: list[str] = []
    line: list[str] = []
    total = 0
    index = 0
    while total < size:
        word = prose[index % len(prose)]
        index += 1
        if len(" ".join([*line, word])) > 72:
            text = " ".join(line)
            lines.append(text)
            total += len(text) + 2
            line = []
        line.append(word)
    body = "\r\n".join(lines).encode()[: size - 2].rstrip(b"\r")  # never a bare CR
    return body + b"\r\n"


def message_header(sender: str, recipient: str, number: int) -> bytes:
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    return (
        f"From: Resident <{sender}>\r\n"
        f"To: <{recipient}>\r\n"
        f"Subject: Repairs request {number}\r\n"
        f"Date: {date}\r\n"
        f"Message-ID: <{number}.{os.getpid()}@{CLIENT_HOSTNAME}>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n"
    ).encode()


async def _reply(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one (possibly multi-line) SMTP reply; its code and last line."""
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed by the server")
        if line[3:4] != b"-":
            return int(line[:3]), line


async def _command(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str
) -> tuple[int, bytes]:
    writer.write(line.encode() + b"\r\n")
    return await _reply(reader)


async def _client_session(
    port: int,
    jobs: Sequence[tuple[str, str, bytes]],
    body: bytes,
    result: LatencyRun,
) -> None:
    """One SMTP session sending its jobs one after another, no pipelining."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    # No user-space buffering: drain() returns only when the kernel has every byte, so the
    # clock starts when the final dot is handed to the socket, not while the body queues.
    writer.transport.set_write_buffer_limits(high=0)
    try:
        code, line = await _reply(reader)
        if code != 220:
            raise ConnectionError(f"greeting {line!r}")
        code, line = await _command(reader, writer, f"EHLO {CLIENT_HOSTNAME}")
        if code != 250:
            raise ConnectionError(f"EHLO refused: {line!r}")
        for sender, recipient, header in jobs:
            result.sent += 1
            refusal = await _transaction(reader, writer, sender, recipient, header, body, result)
            if refusal:
                result.refused += 1
                result.first_refusal = result.first_refusal or refusal
                await _command(reader, writer, "RSET")
        await _command(reader, writer, "QUIT")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _transaction(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    sender: str,
    recipient: str,
    header: bytes,
    body: bytes,
    result: LatencyRun,
) -> str:
    """One message; records the DATA-end latency; returns the refusal line or ''."""
    for line, expected in (
        (f"MAIL FROM:<{sender}>", (250,)),
        (f"RCPT TO:<{recipient}>", (250, 251)),
        ("DATA", (354,)),
    ):
        code, reply = await _command(reader, writer, line)
        if code not in expected:
            return reply.decode(errors="replace").strip()
    writer.write(header)
    writer.write(body)
    await writer.drain()
    start = time.perf_counter()
    writer.write(b".\r\n")  # the body ends with CRLF: this completes CRLF.CRLF
    code, reply = await _reply(reader)
    elapsed = time.perf_counter() - start
    if code != 250:
        return reply.decode(errors="replace").strip()
    result.accepted += 1
    result.latencies.append(elapsed)
    return ""


async def _latency_pass(
    port: int, envelopes: Sequence[Envelope2], size: int, sessions: int, per_session: int
) -> LatencyRun:
    body = message_body(size)
    result = LatencyRun()
    jobs: list[list[tuple[str, str, bytes]]] = []
    for session in range(sessions):
        session_jobs = []
        for n in range(per_session):
            number = session * per_session + n
            sender, recipient = envelopes[number % len(envelopes)]
            session_jobs.append((sender, recipient, message_header(sender, recipient, number)))
        jobs.append(session_jobs)
    start = time.perf_counter()
    await asyncio.gather(*(_client_session(port, js, body, result) for js in jobs))
    result.seconds = time.perf_counter() - start
    return result


def run_latency_pass(
    port: int, envelopes: Sequence[Envelope2], size: int, *, sessions: int, per_session: int
) -> LatencyRun:
    """``sessions`` concurrent sessions, ``per_session`` messages each, envelopes in turn."""
    return asyncio.run(_latency_pass(port, envelopes, size, sessions, per_session))


# --- command line (the relay process) -----------------------------------------------------


def _host_port(value: str) -> int:
    host, _, port = value.rpartition(":")
    if host not in ("", LOOPBACK):
        raise argparse.ArgumentTypeError("only 127.0.0.1 is supported")
    return int(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    relay = commands.add_parser("relay", help="run the bare aiosmtpd relay until SIGTERM")
    relay.add_argument("--listen", type=_host_port, required=True, metavar="127.0.0.1:PORT")
    relay.add_argument("--downstream", type=_host_port, required=True, metavar="127.0.0.1:PORT")
    args = parser.parse_args(argv)
    serve_relay(args.listen, args.downstream)
    return 0


if __name__ == "__main__":
    sys.exit(main())
