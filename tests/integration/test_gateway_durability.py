"""What a 250 from the gateway promises (DESIGN.md, "Mail routing semantics"): the message
is durably stored and will be delivered, or visibly dead-lettered, whatever happens next.

Real processes and real SMTP over loopback, nothing mocked: `ccr gateway` and `ccr worker`
subprocesses killed with SIGKILL and restarted, a recording downstream SMTP server that is
down and then up, a private redis-server stopped mid-stream, a spool and a database that
cannot be written. Each test runs on SQLite and on PostgreSQL (the `database_url` fixture);
on SQLite the gateway processes and the test read and write the same database file.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import Row, func, select, text

from gateway.bootstrap import bootstrap
from gateway.mail import replies
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.smtp.server import SmtpGateway
from gateway.store.db import make_engine
from gateway.store.tables import MailDelivery, MailMessage
from routing.enums import DeliveryStatus
from routing.models import ContactEvent
from tests.integration.smtp_helpers import (
    CcrProcess,
    GatewayProcess,
    NumberedSender,
    RecordingDownstream,
    ccr_env,
    header_counts,
    iter_spool_files,
    maildir_messages,
    run_ccr,
    seq_counts,
)
from tests.polling import wait_until

DOMAIN = "council.example.org"
SENDER = "resident@example.org"  # nobody restricts this sender: every copy is `deliver`
HOUSING = f"housing@{DOMAIN}"
PLANNING = f"planning@{DOMAIN}"
SEQ_IN_MESSAGE_ID = re.compile(r"<(\d+)\.")
GATEWAY_WAIT = 120  # seconds; generous, the CI machine has 2 cores


# --- fixtures -------------------------------------------------------------------------------


class Launcher:
    """Starts `ccr` processes for one test, each with its own log, and stops them all."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self._logs.mkdir(parents=True, exist_ok=True)
        self._started: list[CcrProcess] = []

    def gateway(self, env: dict[str, str]) -> GatewayProcess:
        """`ccr gateway` on a loopback port of its own, returned once it greets with 220."""
        gateway = GatewayProcess(env, self._log("gateway"), timeout=GATEWAY_WAIT)
        self._started.append(gateway)
        return gateway

    def worker(self, env: dict[str, str]) -> CcrProcess:
        worker = CcrProcess(["worker"], env, self._log("worker"))
        self._started.append(worker)
        return worker

    def stop_all(self) -> None:
        for process in reversed(self._started):
            process.stop()

    def _log(self, role: str) -> Path:
        return self._logs / f"{role}-{len(self._started) + 1}.log"


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path / "logs")
    try:
        yield launcher
    finally:
        launcher.stop_all()


class MailStore:
    """The gateway's mail tables as the test sees them (another process writes them)."""

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)

    def deliveries(self) -> list[Row]:
        query = select(
            MailDelivery.id,
            MailDelivery.target,
            MailDelivery.status,
            MailDelivery.attempts,
            MailDelivery.last_error,
            MailDelivery.claimed_until,
        ).order_by(MailDelivery.id)
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def undelivered(self) -> int:
        return sum(d.status != DeliveryStatus.DELIVERED for d in self.deliveries())

    def count(self, model: type) -> int:
        with self.engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(model)) or 0

    def stored_seqs(self) -> Counter[int]:
        """How many stored messages carry each numbered Message-ID (see numbered_message)."""
        with self.engine.connect() as connection:
            ids = connection.scalars(select(MailMessage.header_message_id)).all()
        return Counter(int(m.group(1)) for i in ids if i and (m := SEQ_IN_MESSAGE_ID.match(i)))


@pytest.fixture
def store(database_url: str) -> Iterator[MailStore]:
    mail_store = MailStore(database_url)
    yield mail_store
    mail_store.engine.dispose()  # before the fixture empties the PostgreSQL database


def gateway_env(database_url: str, tmp_path: Path, downstream: str, **settings: str) -> dict:
    """A `ccr gateway` environment: this test's database and spool, quick sweeps and retries."""
    return ccr_env(
        database_url,
        downstream=downstream,
        spool_dir=str(tmp_path / "spool"),
        accepted_domains=DOMAIN,
        delivery_sweep_seconds="1",
        delivery_retry_seconds="0.5",
        **settings,
    )


# --- kill -9 mid-stream ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_gateway_killed_mid_stream_delivers_every_acknowledged_message_exactly_once(
    database_url: str, tmp_path: Path, launch: Launcher, store: MailStore
) -> None:
    mail = tmp_path / "mail"
    env = gateway_env(database_url, tmp_path, f"maildir:{mail}")  # in-process jobs
    gateway = launch.gateway(env)
    sender = NumberedSender(gateway.port, SENDER, [HOUSING], range(1, 201), run="crash").start()
    wait_until(
        lambda: sender.outcomes.count_acknowledged() >= 80,
        120,
        "80 messages acknowledged",
        interval=0.001,
    )
    gateway.kill()
    sent = sender.join(timeout=120)
    acknowledged = sent.acknowledged_seqs()  # a 250 the client never read does not count
    assert 80 <= len(acknowledged) < 200, "the gateway was not killed part-way"
    assert not sent.refused

    # Right after the crash: everything acknowledged is stored; stored is acknowledged or
    # was in flight (its 250 lost with the connection). Nothing is stored twice.
    stored = store.stored_seqs()
    assert acknowledged <= set(stored), f"acknowledged, not stored: {acknowledged - set(stored)}"
    assert set(stored) <= acknowledged | sent.unanswered
    assert max(stored.values()) == 1

    # Same database, same spool. The new process takes back the claims of the killed one
    # (claims name the host and process, not the port) at its first sweep rather than
    # waiting for them to lapse.
    launch.gateway(env)

    def all_delivered() -> Counter[int] | None:
        counts = seq_counts(maildir_messages(mail, HOUSING))
        done = acknowledged <= set(counts) and store.undelivered() == 0
        return counts if done else None

    def never_delivered() -> str:
        missing = acknowledged - set(seq_counts(maildir_messages(mail, HOUSING)))
        return f"acknowledged, never delivered: {sorted(missing)}"

    delivered = wait_until(
        all_delivered,
        120,
        "every acknowledged message delivered",
        detail=never_delivered,
        interval=0.25,
    )
    assert {seq: n for seq, n in delivered.items() if n > 1} == {}, "delivered twice"
    assert set(delivered) == set(stored), "delivered something never stored, or lost some"


# --- downstream down, then up ---------------------------------------------------------------


def test_mail_for_a_downstream_that_is_down_is_retried_and_arrives_once_it_is_up(
    database_url: str, tmp_path: Path, launch: Launcher, store: MailStore
) -> None:
    with RecordingDownstream() as downstream:  # its port is held, nothing listens there yet
        env = gateway_env(database_url, tmp_path, downstream.url)
        gateway = launch.gateway(env)

        sent = NumberedSender(gateway.port, SENDER, [HOUSING], range(1, 21), run="down").send_all()
        assert sorted(sent.acknowledged) == list(range(1, 21))

        def all_retrying() -> list[Row] | None:
            rows = store.deliveries()
            ok = len(rows) == 20 and all(r.status == "pending" and r.attempts >= 1 for r in rows)
            return rows if ok else None

        waiting = wait_until(
            all_retrying, 60, "20 deliveries pending after an attempt", detail=store.deliveries
        )
        assert all(row.last_error for row in waiting)
        assert downstream.received == []

        downstream.start()
        wait_until(
            lambda: store.undelivered() == 0, 120, "every copy delivered", detail=store.deliveries
        )
        wait_until(lambda: not list(iter_spool_files(tmp_path / "spool")), 30, "an empty spool")
        arrived = downstream.received
    message_ids = Counter(mail.header("Message-ID") for mail in arrived)
    assert message_ids == Counter(f"<{seq}.down@example.org>" for seq in range(1, 21))
    assert {mail.rcpt_tos for mail in arrived} == {(HOUSING,)}
    assert {mail.mail_from for mail in arrived} == {SENDER}


# --- a permanent failure: dead letter, then retry -------------------------------------------


def test_a_copy_refused_for_good_is_a_dead_letter_and_arrives_when_retried(
    database_url: str, tmp_path: Path, launch: Launcher, store: MailStore
) -> None:
    with RecordingDownstream() as downstream:
        downstream.refuse(PLANNING, "550 5.1.1 <planning@council.example.org>: no such user")
        downstream.start()
        env = gateway_env(database_url, tmp_path, downstream.url)
        gateway = launch.gateway(env)
        sent = NumberedSender(gateway.port, SENDER, [HOUSING, PLANNING], [1], run="dead").send_all()
        assert list(sent.acknowledged) == [1]

        def dead_letter() -> Row | None:
            return next((d for d in store.deliveries() if d.status == "dead"), None)

        dead = wait_until(dead_letter, 60, "a dead letter", detail=store.deliveries)
        assert dead.target == PLANNING
        assert "550" in dead.last_error
        wait_until(lambda: len(downstream.received) == 1, 60, "the copy for HOUSING")

        listed = run_ccr(env, "mail", "dead-letters")
        assert listed.returncode == 0, listed.stderr
        (line,) = listed.stdout.splitlines()
        assert line.split("\t")[:1] == [str(dead.id)]
        assert PLANNING in line

        downstream.accept_everyone()
        retried = run_ccr(env, "mail", "retry", str(dead.id))
        assert retried.returncode == 0, retried.stderr
        assert f"dead letter {dead.id} queued" in retried.stdout
        wait_until(lambda: len(downstream.received) >= 2, 60, "the retried copy")
        wait_until(
            lambda: store.undelivered() == 0, 60, "every copy delivered", detail=store.deliveries
        )
        arrived = downstream.received
    assert sorted(mail.rcpt_tos for mail in arrived) == [(HOUSING,), (PLANNING,)]
    assert header_counts(mail.data for mail in arrived)["1"] == 2
    assert run_ccr(env, "mail", "dead-letters").stdout == ""


def test_retrying_a_dead_letter_that_does_not_exist_fails_with_one_line(
    database_url: str, tmp_path: Path
) -> None:
    env = gateway_env(database_url, tmp_path, f"maildir:{tmp_path / 'mail'}")
    result = run_ccr(env, "mail", "retry", "999999")
    assert result.returncode != 0
    assert result.stderr.startswith("ccr: error: ")
    assert "999999" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- Redis stopped and started mid-stream ---------------------------------------------------


class PrivateRedis:
    """A redis-server of this test's own (never the shared one on 6379), on a Unix socket in
    the test's folder: redis-server cannot be asked for TCP port 0 (that turns TCP off), and
    a free port chosen first could be taken by another process before each (re)start."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket = self.workdir / "redis.sock"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def start(self) -> None:
        log = self.workdir / "redis.log"
        with log.open("ab") as output:
            self._process = subprocess.Popen(
                [
                    *("redis-server", "--port", "0", "--unixsocket", str(self.socket)),
                    *("--unixsocketperm", "700"),
                    *("--save", "", "--appendonly", "no", "--daemonize", "no"),
                    *("--dir", str(self.workdir)),
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._answers, 30, "the private redis-server to answer", detail=log.read_text)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=30)
            self._process = None

    def workers(self) -> int:
        """How many rq workers have registered (a worker is ready once it has)."""
        with Redis.from_url(self.url, socket_timeout=5) as client:
            return Worker.count(connection=client)

    def _answers(self) -> bool:
        try:
            with Redis.from_url(self.url, socket_timeout=2) as client:
                return bool(client.ping())
        except RedisError:
            return False


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (Debian package redis-server)")
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_redis_stopped_and_started_mid_stream_loses_nothing(
    database_url: str,
    tmp_path: Path,
    launch: Launcher,
    store: MailStore,
    private_redis: PrivateRedis,
) -> None:
    with RecordingDownstream() as downstream:
        downstream.start()
        env = gateway_env(database_url, tmp_path, downstream.url, redis_url=private_redis.url)
        gateway = launch.gateway(env)
        worker = launch.worker(env)
        wait_until(lambda: private_redis.workers() >= 1, 60, "an rq worker", detail=worker.log_text)

        sender = NumberedSender(
            gateway.port,
            SENDER,
            [HOUSING],
            range(1, 61),
            run="redis",
            pause=0.02,
            reconnect_seconds=30,
        ).start()
        wait_until(lambda: sender.outcomes.count_acknowledged() >= 15, 60, "15 acknowledged")
        private_redis.stop()
        before_outage = sender.outcomes.acknowledged_seqs()
        # The gateway still answers 250 while Redis is away: stored, only the enqueue fails.
        wait_until(
            lambda: sender.outcomes.count_acknowledged() >= len(before_outage) + 15,
            120,
            "15 more acknowledged while Redis is away",
        )
        during_outage = sender.outcomes.acknowledged_seqs() - before_outage
        assert set(store.stored_seqs()) >= during_outage
        assert "could not queue delivery" in gateway.log_text()
        private_redis.start()  # same socket, and empty: jobs queued before the outage are gone

        sent = sender.join(timeout=120)
        assert not sent.refused and not sent.unanswered and not sent.unsent
        acknowledged = sent.acknowledged_seqs()

        def all_arrived() -> bool:
            # rq 3.0's worker quits ("found an unhandled exception, quitting") when Redis goes
            # away while it watches a job; production's supervisor (docker-compose
            # `restart: unless-stopped`) starts it again, and so does this test.
            nonlocal worker
            if not worker.running:
                worker = launch.worker(env)
            arrived = {int(m.header("X-Test-Seq") or 0) for m in downstream.received}
            return acknowledged <= arrived and store.undelivered() == 0

        def never_delivered() -> str:
            arrived = seq_counts(mail.data for mail in downstream.received)
            return f"acknowledged, never delivered: {sorted(acknowledged - set(arrived))}"

        wait_until(
            all_arrived,
            60,
            "every acknowledged message delivered",
            detail=never_delivered,
            interval=0.25,
        )
        arrived = seq_counts(mail.data for mail in downstream.received)
    assert arrived == Counter(acknowledged), "lost, duplicated or unexpected messages"


# --- 451 while the store cannot be written --------------------------------------------------


class InProcessGateway:
    """The SMTP gateway inside the test process, on a port of its own (the test settings ask
    for port 0), spooling under tmp_path."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.spool = tmp_path / "spool"
        self.mail = tmp_path / "mail"
        self.rt: Runtime = bootstrap(
            settings.model_copy(
                update={
                    "spool_dir": str(self.spool),
                    "downstream": f"maildir:{self.mail}",
                    "accepted_domains": [DOMAIN],
                }
            )
        )
        self.smtp = SmtpGateway(self.rt)

    def send(self, seq: int, run: str) -> tuple[int, str]:
        """Send numbered message `seq` to HOUSING; the final answer as one reply line."""
        sender = NumberedSender(self.smtp.port, SENDER, [HOUSING], [seq], run=run)
        sent = sender.send_all()
        if seq in sent.acknowledged:
            return 250, sent.acknowledged[seq]
        assert seq in sent.refused, sent
        return sent.refused[seq]

    def delivered(self) -> Counter[int]:
        return seq_counts(maildir_messages(self.mail, HOUSING))


@pytest.fixture
def in_process_gateway(settings: Settings, tmp_path: Path) -> Iterator[InProcessGateway]:
    gateway = InProcessGateway(settings, tmp_path)
    try:
        gateway.smtp.start()
        yield gateway
    finally:
        gateway.smtp.stop()
        gateway.rt.close()


def test_a_spool_that_cannot_be_written_gets_451_and_the_resent_message_arrives(
    in_process_gateway: InProcessGateway, store: MailStore
) -> None:
    gateway = in_process_gateway
    messages = gateway.spool / "messages"
    # Root ignores permissions, so a file where the spool's folder should be is what breaks it.
    shutil.rmtree(messages)
    messages.write_text("not a folder")
    try:
        code, reply = gateway.send(1, run="spool")
    finally:
        messages.unlink()
        messages.mkdir()
    assert f"{code} {reply}" == replies.TEMPORARY_FAILURE
    assert store.count(MailMessage) == 0
    assert store.count(MailDelivery) == 0

    code, reply = gateway.send(1, run="spool")  # the sender kept it and tries again
    assert code == 250, reply
    wait_until(
        lambda: gateway.delivered() == Counter({1: 1}),
        30,
        "message 1 delivered once",
        detail=gateway.delivered,
    )
    assert store.count(MailMessage) == 1


def test_a_database_that_cannot_be_written_gets_451_and_leaves_no_rows(
    in_process_gateway: InProcessGateway, store: MailStore
) -> None:
    gateway = in_process_gateway
    events_before = store.count(ContactEvent)
    with store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE mail_messages RENAME TO mail_messages_away"))
    try:
        code, reply = gateway.send(1, run="db")
    finally:
        with store.engine.begin() as connection:
            connection.execute(text("ALTER TABLE mail_messages_away RENAME TO mail_messages"))
    assert f"{code} {reply}" == replies.TEMPORARY_FAILURE
    assert store.count(MailMessage) == 0
    assert store.count(MailDelivery) == 0
    assert store.count(ContactEvent) == events_before
    # The message file was fsync'd before the insert failed. An orphan file like that, with
    # no row naming it, is acceptable: nothing delivers it, nothing says it was accepted.
    assert len(list(iter_spool_files(gateway.spool))) <= 1

    code, reply = gateway.send(1, run="db")  # the sender kept it and tries again
    assert code == 250, reply
    wait_until(
        lambda: gateway.delivered() == Counter({1: 1}),
        30,
        "message 1 delivered once",
        detail=gateway.delivered,
    )
    assert store.count(MailMessage) == 1
    wait_until(lambda: store.undelivered() == 0, 30, "every copy delivered")
