"""How long does the first retention run take, and how much does it slow the gateway?

``gateway.services.retention.apply_retention`` deletes what has outlived its period, in
batches of 5,000 per transaction: contact events older than ``contact_retention_months``
(12) of people no restriction holds and their call flags, records of finished mail older
than ``mail_record_days`` (90), alerts closed more than ``closed_alert_months`` (24) ago,
and identities nothing refers to any more. The first run after the upgrade that brought
retention meets every record since the installation began.

The script creates a private PostgreSQL database (``ccr_retbench_<pid>``), migrates it and
loads with COPY (``bench/volume.py``'s loader: indexes built after the load, then VACUUM
ANALYZE):

- the register ``bench/smtp_throughput.py``'s gateway runs with (``bench/decide.py``'s
  ``plan_register`` and ``populate``): 100,000 identities, 10,000 customers under an active
  restriction, 20,000 customers without one, 40,000 addresses linked to nobody;
- ``--events`` contact events (10,000,000) over two years (``bench/volume.py``'s
  generator: skewed activity, calls and emails): the older year from every registered
  person and from one-off correspondents who never wrote again; the last year from the
  registered people. Half of all events are older than 12 months and of people no
  restriction holds (they must go); restricted customers' old contacts must stay;
- call flags on restricted customers' calls, one mail record (with its delivered or dead
  copy) per 20 events over the two years, and one closed alert per 1,000 events.

Then it measures:

1. ``apply_retention`` over the whole backlog, alone, in a child process as a worker
   would run it: seconds, records deleted by kind, records per second; then it counts what
   is left against what should be (worked out while generating the rows, not by the code
   under test).
2. The gateway's 2 KB SMTP throughput (smtp-source -> ``ccr gateway`` -> smtp-sink, 10
   sessions, as ``bench/smtp_throughput.py``'s (p) case, with the same pinning) twice in one
   run on the same database: on its own, and while a second retention run works through
   the same backlog (deleted rows loaded again) in another process. It prints the ratio
   with/without against the issue's target (at least 0.8), how much of the SMTP pass the
   retention run covered, and what the database backends were waiting on in each pass.

Run from the project root (PostgreSQL on 127.0.0.1:5432 with trust auth; Debian's
``postfix`` installed for smtp-source and smtp-sink, the system instance not running)::

    .venv/bin/python bench/retention.py            # 10,000,000 events, 10,000 messages
    .venv/bin/python bench/retention.py --quick    # 500,000 events, 2,000 messages

It prints figures and the target next to its figure; it asserts nothing. Its processes,
its temporary directory and its database are removed at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import itertools
import json
import logging
import os
import platform
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import decide  # bench/decide.py: the register and PostgreSQL housekeeping
import psycopg
import smtp_throughput  # bench/smtp_throughput.py: pinning, the gateway, smtp-source runs
import volume  # bench/volume.py: contact events and their COPY loader
from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from gateway.bootstrap import bootstrap
from gateway.services.retention import RETENTION_ACTION, apply_retention
from gateway.settings import Settings
from gateway.store.db import upgrade_database
from routing.models import AuditEntry

peers = smtp_throughput.peers

DEFAULT_EVENTS = 10_000_000
QUICK_EVENTS = 500_000
DEFAULT_MESSAGES = 10_000
QUICK_MESSAGES = 2_000
WARM_UP = 200
QUICK_WARM_UP = 50
SIZE = 2_048
TARGET_RATIO = 0.8
SEED = 20261207
REGISTER_IDENTITIES = 100_000  # as bench/smtp_throughput.py's gateway register
FORMERS_PER_EVENT = 1 / 50  # one-off correspondents of the older year
MAIL_PER_EVENT = 1 / 20
ALERTS_PER_EVENT = 1 / 1_000
FLAG_SHARE = 0.3  # of restricted customers' calls
CONTACT_MONTHS = 12  # the default contact_retention_months
MAIL_DAYS = 90  # the default mail_record_days
ALERT_MONTHS = 24  # the default closed_alert_months
# Nothing is generated this close to a period's end, so that the minutes between loading
# and a retention run cannot move a record from one side to the other.
MARGIN = dt.timedelta(days=1)
RETENTION_APP = "ccr-retention-bench"  # application_name of the retention run's connections
LEAD_SECONDS = 2.0  # the retention run is under way this long before the SMTP pass starts
SAMPLE_SECONDS = 0.1
# On a machine others share, the CPU may never fall quiet: give up sooner than
# bench/smtp_throughput.py does, and say so.
QUIET_TIMEOUT = 60.0
EVENT_FIELD = {name.strip(): n for n, name in enumerate(volume.EVENT_COLUMNS.split(","))}
SERIAL_TABLES = (
    "customers", "identities", "services", "service_addresses", "restrictions",
    "contact_events", "flags", "mail_messages", "mail_deliveries", "alerts",
)  # fmt: skip
IDENTITY_COLUMNS = "identities (id, kind, value, customer_id, linked_at, created_at)"
FLAG_COLUMNS = "flags (id, contact_event_id, restriction_id, kind, mode, detail, created_at)"
MESSAGE_COLUMNS = (
    "mail_messages (id, queue_id, received_at, envelope_from, size, header_message_id, "
    "spool_removed)"
)
DELIVERY_COLUMNS = (
    "mail_deliveries (id, message_id, target, original_recipients, decision, restriction_ref, "
    "flags, notice, status, attempts, next_attempt_at, claimed_until, claimed_by, last_error, "
    "delivered_at, created_at)"
)
ALERT_COLUMNS = (
    "alerts (id, rule, person_key, customer_id, identity_id, status, urgent, summary, "
    "evidence, value, opened_at, closed_at, closed_reason)"
)

Person = tuple[int | None, int | None, int | None]  # (email id, phone id, customer id)
Row = tuple[object, ...]


# --- what is loaded, and what retention should make of it -----------------------------


@dataclass(frozen=True)
class Periods:
    """The run's now and the edges of each period, as naive UTC (as the columns store it)."""

    now: dt.datetime
    contact_cutoff: dt.datetime
    mail_cutoff: dt.datetime
    alert_cutoff: dt.datetime
    start: dt.datetime  # two years ago: the oldest contact

    @classmethod
    def ending(cls, now: dt.datetime) -> Periods:
        now = now.replace(tzinfo=None, microsecond=0)
        return cls(
            now=now,
            contact_cutoff=now - relativedelta(months=CONTACT_MONTHS),
            mail_cutoff=now - dt.timedelta(days=MAIL_DAYS),
            alert_cutoff=now - relativedelta(months=ALERT_MONTHS),
            start=now - relativedelta(months=2 * CONTACT_MONTHS),
        )


@dataclass
class Population:
    """The register's people, the one-off correspondents, and who a restriction holds."""

    plan: Any  # decide.RegisterPlan
    registered: volume.People  # persons and activity weights of the register
    former_rows: list[Row]
    restriction_of: dict[int, int]  # customer id -> restriction id

    @property
    def identity_rows(self) -> list[Row]:
        return [*self.plan.identity_rows, *self.former_rows]

    def older_year(self) -> volume.People:
        """Everyone contacts in the older year; the one-off correspondents only then."""
        formers: list[Person] = [(row[0], None, None) for row in self.former_rows]  # type: ignore[misc]
        return volume.People(
            persons=[*self.registered.persons, *formers],
            weights=[*self.registered.weights, *(1.0 for _ in formers)],
        )

    def held_share(self, people: volume.People) -> float:
        """The share of `people`'s contacts that restricted customers make."""
        held = sum(
            w for (_, _, c), w in zip(people.persons, people.weights, strict=True) if self.held(c)
        )
        return held / sum(people.weights)

    def held(self, customer: object) -> bool:
        return customer in self.restriction_of


@dataclass
class Expected:
    """Counts kept while generating the rows: what retention must delete, what must stay."""

    events: int = 0
    expired_events: int = 0
    held_old_events: int = 0  # older than 12 months, of restricted customers: kept
    flags: int = 0
    mail: int = 0
    expired_mail: int = 0
    alerts: int = 0
    expired_alerts: int = 0
    identities: int = 0
    loose_identities: set[int] = field(default_factory=set)  # linked to no customer
    named: set[int] = field(default_factory=set)  # identities a kept contact or alert names
    last_ids: dict[str, int] = field(default_factory=dict)  # table -> highest id loaded

    @property
    def expired_identities(self) -> int:
        return len(self.loose_identities - self.named)


def plan_population(events: int, periods: Periods, rng: random.Random) -> Population:
    plan = decide.plan_register(REGISTER_IDENTITIES, rng)
    registered = _registered_people(plan, rng)
    first = len(plan.identity_rows) + 1
    created = periods.start - dt.timedelta(days=30)
    former_rows: list[Row] = [
        (first + n, "email", f"former{n}@example.org", None, None, created)
        for n in range(max(1, int(events * FORMERS_PER_EVENT)))
    ]
    restriction_of = {row[3]: row[0] for row in plan.restriction_rows}
    return Population(plan, registered, former_rows, restriction_of)


def _registered_people(plan: Any, rng: random.Random) -> volume.People:
    """One person per customer (their email and phone) and per address linked to nobody."""
    by_customer: dict[int, dict[str, int]] = {}
    persons: list[Person] = []
    for row_id, kind, _value, customer, _linked, _created in plan.identity_rows:
        if customer is None:
            persons.append((row_id, None, None) if kind == "email" else (None, row_id, None))
        else:
            by_customer.setdefault(customer, {}).setdefault(kind, row_id)
    for customer, ids in by_customer.items():
        persons.append((ids.get("email"), ids.get("phone"), customer))
    return volume.People(persons=persons, weights=[volume.activity_weight(rng) for _ in persons])


# --- generating the rows ---------------------------------------------------------------


@dataclass(frozen=True)
class EventPlan:
    """How many contacts each year gets, so that half of all of them must go."""

    older: int
    recent: int

    @classmethod
    def for_total(cls, events: int, population: Population) -> EventPlan:
        held = population.held_share(population.older_year())
        older = min(events, round(events / 2 / (1 - held)))
        return cls(older, events - older)


def older_events(population: Population, plan: EventPlan, periods: Periods) -> Iterator[Row]:
    """The older year's contacts, always the same rows (a fixed seed), so that a reload
    puts back exactly what a retention run deleted."""
    span = periods.contact_cutoff - MARGIN - periods.start
    rng = random.Random(SEED + 1)
    return volume.generate_events(
        population.older_year(), plan.older, periods.start, rng, span=span
    )


def recent_events(population: Population, plan: EventPlan, periods: Periods) -> Iterator[Row]:
    start = periods.contact_cutoff + MARGIN
    span = periods.now - MARGIN - start
    rng = random.Random(SEED + 2)
    return volume.generate_events(
        population.registered, plan.recent, start, rng, first_id=plan.older + 1, span=span
    )


class EventTally:
    """Passes event rows through to COPY, counting what must go and what must stay, and
    making call flags on restricted customers' calls."""

    def __init__(self, population: Population, expected: Expected, rng: random.Random) -> None:
        self.population = population
        self.expected = expected
        self.rng = rng
        self.flags: list[Row] = []

    def older(self, rows: Iterable[Row]) -> Iterator[Row]:
        for row in rows:
            if self.population.held(row[EVENT_FIELD["customer_id"]]):
                self.expected.held_old_events += 1
                self._kept(row)
            else:
                self.expected.expired_events += 1
            self.expected.events += 1
            yield row

    def recent(self, rows: Iterable[Row]) -> Iterator[Row]:
        for row in rows:
            self._kept(row)
            self.expected.events += 1
            yield row

    def _kept(self, row: Row) -> None:
        self.expected.named.add(row[EVENT_FIELD["identity_id"]])  # type: ignore[arg-type]
        customer = row[EVENT_FIELD["customer_id"]]
        if (
            row[EVENT_FIELD["channel"]] == "phone"
            and self.population.held(customer)
            and self.rng.random() < FLAG_SHARE
        ):
            self.flags.append(
                (
                    len(self.flags) + 1,
                    row[EVENT_FIELD["id"]],
                    self.population.restriction_of[customer],  # type: ignore[index]
                    "outside_window",
                    "enforce",
                    "Benchmark flag (fictional).",
                    row[EVENT_FIELD["occurred_at"]],
                )
            )


def expired_only(rows: Iterable[Row], population: Population) -> Iterator[Row]:
    return (row for row in rows if not population.held(row[EVENT_FIELD["customer_id"]]))


@dataclass(frozen=True)
class MailRecord:
    id: int
    received_at: dt.datetime
    dead: bool


def mail_records(count: int, periods: Periods) -> Iterator[MailRecord]:
    """Mail over the two years, one delivered or dead copy each; the same every time."""
    rng = random.Random(SEED + 3)
    older_span = periods.mail_cutoff - MARGIN - periods.start
    recent_start = periods.mail_cutoff + MARGIN
    recent_span = periods.now - MARGIN - recent_start
    older = round(count * older_span / (older_span + recent_span))
    for n in range(count):
        if n < older:
            at = periods.start + older_span * ((n + rng.random()) / older)
        else:
            at = recent_start + recent_span * ((n - older + rng.random()) / (count - older))
        yield MailRecord(n + 1, at.replace(microsecond=0), rng.random() < 0.05)


def message_row(record: MailRecord) -> Row:
    return (
        record.id, f"bench-{record.id}", record.received_at, "resident@example.org", SIZE,
        None, True,
    )  # fmt: skip


def delivery_row(record: MailRecord) -> Row:
    done = record.received_at + dt.timedelta(seconds=2)
    return (
        record.id, record.id, "service0@council.example.org",
        '["service0@council.example.org"]', "deliver", None, "[]", None,
        "dead" if record.dead else "delivered", 5 if record.dead else 1, done, None, None,
        "550 mailbox unavailable" if record.dead else None, None if record.dead else done,
        record.received_at,
    )  # fmt: skip


def plan_alerts(
    population: Population, count: int, periods: Periods, expected: Expected
) -> list[Row]:
    """Closed alerts: half closed more than 24 months ago about people no restriction holds
    (they must go), a tenth as old about restricted customers, the rest closed since."""
    rng = random.Random(SEED + 4)
    people = population.older_year().persons
    held = [p for p in people if population.held(p[2])]
    free = [p for p in people if not population.held(p[2])]
    rows = []
    for n in range(1, count + 1):
        roll = rng.random()
        if roll < 0.5:
            person, closed = rng.choice(free), _before(periods.alert_cutoff, 180, rng)
        elif roll < 0.6:
            person, closed = rng.choice(held), _before(periods.alert_cutoff, 180, rng)
        else:
            person = rng.choice(population.registered.persons)
            closed = _before(periods.now, (periods.now - periods.alert_cutoff).days - 2, rng)
        rows.append(_alert_row(n, person, closed))
        if roll < 0.5:
            expected.expired_alerts += 1
        elif person[2] is None:
            expected.named.add(person[0] or person[1])  # type: ignore[arg-type]
    expected.alerts = count
    return rows


def _before(moment: dt.datetime, days: int, rng: random.Random) -> dt.datetime:
    return (moment - MARGIN - dt.timedelta(days=rng.random() * days)).replace(microsecond=0)


def _alert_row(alert_id: int, person: Person, closed: dt.datetime) -> Row:
    email, phone, customer = person
    identity = None if customer else (email or phone)
    key = f"c:{customer}" if customer else f"i:{identity}"
    return (
        alert_id, "emails_7d", key, customer, identity, "dismissed", False,
        "Benchmark alert (fictional).", "{}", None, closed - dt.timedelta(days=3), closed,
        "benchmark",
    )  # fmt: skip


# --- loading ---------------------------------------------------------------------------


@dataclass
class Backlog:
    """Everything needed to load the data again: the population, the plans, the flags and
    alerts (small enough to keep), and the counts."""

    population: Population
    events: EventPlan
    periods: Periods
    mail_count: int
    flags: list[Row]
    alerts: list[Row]
    expected: Expected


def load(conninfo: str, events: int, periods: Periods, rng: random.Random) -> Backlog:
    """The register, then everything else by COPY; indexes built after, VACUUM ANALYZE."""
    population = plan_population(events, periods, rng)
    plan = EventPlan.for_total(events, population)
    expected = Expected()
    decide.populate(conninfo, population.plan)
    tally = EventTally(population, expected, random.Random(SEED + 5))
    with psycopg.connect(conninfo) as conn:
        volume.copy_rows(conn, IDENTITY_COLUMNS, population.former_rows)
        conn.commit()
        copied, indexed = volume.bulk_load_events(
            conn,
            itertools.chain(
                tally.older(older_events(population, plan, periods)),
                tally.recent(recent_events(population, plan, periods)),
            ),
        )
        progress(f"contact events: COPY {copied:.0f} s, indexes {indexed:.0f} s")
        volume.copy_rows(conn, FLAG_COLUMNS, tally.flags)
        mail_count = max(1, int(events * MAIL_PER_EVENT))
        _copy_mail(conn, mail_records(mail_count, periods))
        alerts = plan_alerts(population, max(1, int(events * ALERTS_PER_EVENT)), periods, expected)
        volume.copy_rows(conn, ALERT_COLUMNS, alerts)
        _advance_sequences(conn)
        conn.commit()
    vacuum(conninfo, analyze=True)
    backlog = Backlog(population, plan, periods, mail_count, tally.flags, alerts, expected)
    _count_the_rest(backlog)
    return backlog


def _copy_mail(conn: psycopg.Connection, records: Iterable[MailRecord]) -> None:
    """Messages first, then their copies (whose foreign key names the message)."""
    records = list(records)
    volume.copy_rows(conn, MESSAGE_COLUMNS, (message_row(r) for r in records))
    volume.copy_rows(conn, DELIVERY_COLUMNS, (delivery_row(r) for r in records))


def _count_the_rest(backlog: Backlog) -> None:
    expected, population, periods = backlog.expected, backlog.population, backlog.periods
    expected.flags = len(backlog.flags)
    expected.mail = backlog.mail_count
    expected.expired_mail = sum(
        1 for r in mail_records(backlog.mail_count, periods) if r.received_at < periods.mail_cutoff
    )
    identity_rows = population.identity_rows
    expected.identities = len(identity_rows)
    expected.loose_identities = {row[0] for row in identity_rows if row[3] is None}  # type: ignore[misc]
    expected.last_ids = {
        "identities": len(identity_rows),
        "flags": len(backlog.flags),
        "alerts": len(backlog.alerts),
    }


def _advance_sequences(conn: psycopg.Connection) -> None:
    """Rows were loaded with their ids: new rows (the gateway's) must start after them."""
    for table in SERIAL_TABLES:
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"GREATEST((SELECT max(id) FROM {table}), 1))"
        )


def reload(conninfo: str, backlog: Backlog) -> tuple[float, float]:
    """Put back, with their old ids, exactly the rows a retention run deleted: VACUUM first
    (as autovacuum would have by then), then COPY, indexes, VACUUM ANALYZE. Returns
    (seconds copying, seconds rebuilding and vacuuming)."""
    population, periods = backlog.population, backlog.periods
    vacuum(conninfo, analyze=False)
    with psycopg.connect(conninfo) as conn:
        present = {row[0] for row in conn.execute("SELECT id FROM identities")}
        volume.copy_rows(
            conn, IDENTITY_COLUMNS, (r for r in population.identity_rows if r[0] not in present)
        )
        conn.commit()
        rows = expired_only(older_events(population, backlog.events, periods), population)
        copied, indexed = volume.bulk_load_events(conn, rows)
        older_mail = (
            r for r in mail_records(backlog.mail_count, periods)
            if r.received_at < periods.mail_cutoff
        )  # fmt: skip
        _copy_mail(conn, older_mail)
        present = {row[0] for row in conn.execute("SELECT id FROM alerts")}
        volume.copy_rows(conn, ALERT_COLUMNS, (r for r in backlog.alerts if r[0] not in present))
        conn.commit()
    started = time.perf_counter()
    vacuum(conninfo, analyze=True)
    return copied, indexed + time.perf_counter() - started


def vacuum(conninfo: str, *, analyze: bool) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE" if analyze else "VACUUM")


# --- checking what is left -------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    what: str
    loaded: int
    should_go: int
    went: int | None  # from the run's audit entry (None: the audit does not count it)
    left: int

    @property
    def should_be_left(self) -> int:
        return self.loaded - self.should_go

    @property
    def ok(self) -> bool:
        return self.left == self.should_be_left and self.went in (None, self.should_go)


def check(conninfo: str, backlog: Backlog, audit: dict[str, int]) -> list[Check]:
    """Count what is left of the loaded rows (not the gateway's own) against what should be."""
    e, cutoff = backlog.expected, backlog.periods.contact_cutoff
    held = list(backlog.population.restriction_of)
    with psycopg.connect(conninfo) as conn:
        left = conn.execute(
            """
            SELECT (SELECT count(*) FROM contact_events WHERE source = 'bench'),
                   (SELECT count(*) FROM contact_events
                     WHERE source = 'bench' AND occurred_at < %(cutoff)s),
                   (SELECT count(*) FROM contact_events WHERE source = 'bench'
                     AND occurred_at < %(cutoff)s AND customer_id = ANY(%(held)s)),
                   (SELECT count(*) FROM flags WHERE id <= %(flags)s),
                   (SELECT count(*) FROM mail_messages WHERE queue_id LIKE 'bench-%%'),
                   (SELECT count(*) FROM mail_deliveries d JOIN mail_messages m
                       ON m.id = d.message_id WHERE m.queue_id LIKE 'bench-%%'),
                   (SELECT count(*) FROM alerts WHERE id <= %(alerts)s),
                   (SELECT count(*) FROM identities WHERE id <= %(identities)s)
            """,
            {"cutoff": cutoff, "held": held, **e.last_ids},
        ).fetchone()
    assert left is not None
    events, old, old_held, flags, mail, deliveries, alerts, identities = left
    old_loaded = e.expired_events + e.held_old_events
    return [
        Check("contact events", e.events, e.expired_events, audit.get("contacts"), events),
        Check("  older than 12 months", old_loaded, e.expired_events, None, old),
        Check("  those of restricted customers", e.held_old_events, 0, None, old_held),
        Check("call flags", e.flags, 0, None, flags),
        Check("mail records", e.mail, e.expired_mail, audit.get("mail_records"), mail),
        Check("  their copies (deliveries)", e.mail, e.expired_mail, None, deliveries),
        Check("closed alerts", e.alerts, e.expired_alerts, audit.get("closed_alerts"), alerts),
        Check(
            "identities", e.identities, e.expired_identities, audit.get("identities"), identities
        ),
    ]


def print_checks(checks: Sequence[Check]) -> None:
    print(
        f"  {'records':<32}{'loaded':>12}{'should go':>12}{'went':>12}{'left':>12}{'should be':>12}"
    )
    for c in checks:
        went = "-" if c.went is None else f"{c.went:,}"
        print(
            f"  {c.what:<32}{c.loaded:>12,}{c.should_go:>12,}{went:>12}{c.left:>12,}"
            f"{c.should_be_left:>12,}  {'ok' if c.ok else 'WRONG'}"
        )
    verdict = "exactly what should" if all(c.ok for c in checks) else "NOT what should (WRONG)"
    print(f"  what is left: {verdict}")


# --- the retention run, in a process of its own ----------------------------------------


@dataclass
class RetentionRun:
    seconds: float
    deleted: int
    counts: dict[str, int]
    ended: float  # time.time() when it finished

    @property
    def per_second(self) -> float:
        return self.deleted / self.seconds if self.seconds else 0.0

    def describe(self) -> str:
        kinds = ", ".join(f"{n:,} {kind.replace('_', ' ')}" for kind, n in self.counts.items())
        contacts = self.counts.get("contacts", 0)
        return (
            f"{self.seconds:.1f} s, {self.deleted:,} records deleted ({kinds}): "
            f"{self.per_second:,.0f} records/s, {contacts / self.seconds:,.0f} contacts/s"
        )


class RetentionChild:
    """``apply_retention`` in a child process of this script, as a worker runs it: its own
    connections (named, so that the wait sampler tells them apart), pinned to a CPU."""

    def __init__(self, database: str, cpu: int | None, log: Path) -> None:
        argv = [sys.executable, str(Path(__file__).resolve()), "--retention-child", database]
        self.process = peers.start_process(
            argv, cpu=cpu, log=log, stdout=subprocess.PIPE, cwd=smtp_throughput.PROJECT_ROOT
        )
        self.log = log

    def wait_started(self) -> None:
        """Until the child has its runtime and is deleting."""
        self._line()

    def result(self) -> RetentionRun:
        found = json.loads(self._line())
        self.process.wait()
        return RetentionRun(found["seconds"], found["deleted"], found["counts"], found["ended"])

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        peers.stop_process(self.process)

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        if not line:
            tail = self.log.read_text(errors="replace").strip()[-800:] if self.log.exists() else ""
            raise RuntimeError(f"the retention run stopped early: {tail or 'no output'}")
        return line


def retention_child(database: str) -> int:
    """The child's side: say when the runtime is ready, run, print the figures as JSON."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        rt = bootstrap(
            Settings(
                database_url=f"{decide.sqlalchemy_url(database)}?application_name={RETENTION_APP}",
                spool_dir=f"{folder}/spool",
                secret_key="bench",
                log_level="WARNING",
            )
        )
        try:
            print("started", flush=True)
            started = time.perf_counter()
            deleted = apply_retention(rt, dt.datetime.now(dt.UTC))
            seconds = time.perf_counter() - started
            counts: dict[str, int] = {}
            if deleted:
                with rt.uow() as session:
                    counts = session.scalars(
                        select(AuditEntry.detail)
                        .where(AuditEntry.action == RETENTION_ACTION)
                        .order_by(AuditEntry.id.desc())
                        .limit(1)
                    ).one()
        finally:
            rt.close()
    figures = {"seconds": seconds, "deleted": deleted, "counts": counts, "ended": time.time()}
    print(json.dumps(figures), flush=True)
    return 0


def run_retention_alone(database: str, cpu: int | None, workdir: Path) -> RetentionRun:
    child = RetentionChild(database, cpu, workdir / "retention-alone.log")
    try:
        child.wait_started()
        return child.result()
    finally:
        child.stop()


# --- what the database backends wait on ------------------------------------------------


class WaitSampler:
    """Samples pg_stat_activity every SAMPLE_SECONDS: for each active backend of the
    database, whose it is (the retention run's or the gateway's) and what it waits on."""

    def __init__(self, conninfo: str, database: str) -> None:
        self.conninfo = conninfo
        self.database = database
        self.samples: collections.Counter[tuple[str, str]] = collections.Counter()
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wait-sampler", daemon=True)

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        query = (
            "SELECT application_name, wait_event_type, wait_event FROM pg_stat_activity "
            "WHERE datname = %s AND state = 'active' AND pid <> pg_backend_pid()"
        )
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self._stop.wait(SAMPLE_SECONDS):
                for app, kind, event in conn.execute(query, (self.database,)):
                    who = "retention" if app == RETENTION_APP else "gateway"
                    self.samples[(who, f"{kind}:{event}" if kind else "on CPU")] += 1
                self.rounds += 1

    def describe(self, who: str) -> str:
        mine = {state: n for (w, state), n in self.samples.items() if w == who}
        if not self.rounds or not mine:
            return "never active"
        busy = sum(mine.values()) / self.rounds
        top = sorted(mine.items(), key=lambda item: -item[1])[:5]
        spread = ", ".join(f"{state} {n / self.rounds:.2f}" for state, n in top)
        return f"{busy:.2f} active on average ({spread})"


# --- the gateway's throughput, without and with a retention run -------------------------


@dataclass
class SmtpPass:
    throughput: Any  # smtp_throughput.Throughput
    waits: WaitSampler
    cpu_busy: dict[int, float]  # CPU -> busy fraction over the pass
    retention: RetentionRun | None = None
    covered: float | None = None  # share of the pass the retention run was working


def start_gateway(
    stack: ExitStack, args: argparse.Namespace, placement: Any, workdir: Path, database: str
) -> tuple[Any, str]:
    """smtp-sink and ``ccr gateway`` on the benchmark database; (targets, "") or (None, why)."""
    sink = peers.Sink(peers.free_port(), placement.rig, workdir / "smtp-sink.log")
    stack.callback(smtp_throughput.quietly, sink.stop)
    smtp_throughput.require_220("smtp-sink", sink.port, sink.process)
    port = peers.free_port()
    url = decide.sqlalchemy_url(database)
    env = smtp_throughput.gateway_environment(workdir, port, sink.port, url)
    # The gateway's schedule would run retention itself at start; this benchmark decides
    # when retention runs, so the day's maintenance slots are taken before it starts.
    env["CCR_MAINTENANCE_INTERVAL_SECONDS"] = str(MAINTENANCE_SLOT)
    hold_maintenance(decide.conninfo(database))
    command = shlex.split(args.gateway_cmd)
    process, why_not = smtp_throughput.start_gateway(
        command, env, port, placement.sut, workdir / "gateway.log"
    )
    if process is None:
        return None, why_not
    stack.callback(smtp_throughput.quietly, peers.stop_process, process)
    return smtp_throughput.Targets(sink, {"p": port}, None, gateway_pid=process.pid), ""


MAINTENANCE_SLOT = 86_400


def hold_maintenance(conninfo: str) -> None:
    """Claim the maintenance task's slots from now to two days on, as another process would."""
    slot = int(time.time() // MAINTENANCE_SLOT)
    with psycopg.connect(conninfo) as conn:
        for n in range(3):
            conn.execute(
                "INSERT INTO scheduled_runs (task, slot, claimed_at, claimed_by) "
                "VALUES ('maintenance', %s, now() AT TIME ZONE 'UTC', 'bench/retention.py')",
                (str(slot + n),),
            )


def smtp_pass(
    targets: Any,
    placement: Any,
    sender: str,
    args: argparse.Namespace,
    database: str,
    retention: Callable[[], RetentionChild] | None = None,
) -> SmtpPass:
    """Warm up with this pass's sender, wait for a quiet CPU, then (with a retention run
    started and under way, if asked) time smtp-source through the gateway."""
    workload = smtp_throughput.Workload(sender, volume.MAILBOXES[0], [])
    smtp_throughput.source_run(targets, "p", args.warm_up, SIZE, workload, placement)
    smtp_throughput.wait_for_quiet_cpu(placement.sut, sender, QUIET_TIMEOUT)
    child = None
    if retention is not None:
        child = retention()
        child.wait_started()
        time.sleep(LEAD_SECONDS)
    cpus = range(os.cpu_count() or 1)
    before = [smtp_throughput.cpu_ticks(cpu) for cpu in cpus]
    with WaitSampler(decide.conninfo(database), database) as waits:
        started = time.time()
        result = smtp_throughput.source_run(targets, "p", args.messages, SIZE, workload, placement)
        ended = time.time()
    after = [smtp_throughput.cpu_ticks(cpu) for cpu in cpus]
    busy = {cpu: _busy(before[cpu], after[cpu]) for cpu in cpus}
    found = SmtpPass(result, waits, busy)
    if child is not None:
        found.retention = child.result()
        working = min(ended, found.retention.ended) - started
        found.covered = max(0.0, working) / (ended - started)
    return found


def _busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    total, idle = after[0] - before[0], after[1] - before[1]
    return 1 - idle / total if total else 0.0


# --- output ----------------------------------------------------------------------------


def progress(text: str) -> None:
    print(f"  ... {text}", file=sys.stderr, flush=True)


def print_header(args: argparse.Namespace, placement: Any, backlog_events: int) -> None:
    now = dt.datetime.now(dt.UTC)
    print(
        f"ccr-gateway retention benchmark ({args.events:,} events, {args.messages:,} messages "
        f"per SMTP pass; {now:%Y-%m-%d %H:%M} UTC)"
    )
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
        f"Python {platform.python_version()}; {decide.postgres_version()}"
    )
    print(
        f"backlog: {backlog_events:,} contact events over two years; retention periods as "
        f"the defaults ({CONTACT_MONTHS} months for contacts, {MAIL_DAYS} days for mail "
        f"records, {ALERT_MONTHS} months for closed alerts)"
    )
    print(f"placement: {describe_placement(placement)}")
    print()


def describe_placement(placement: Any) -> str:
    if placement.sut is None:
        return "not pinned (a single CPU, or no sched_setaffinity)"
    return (
        f"the gateway on CPU {placement.sut}; smtp-sink, smtp-source, this process and the "
        f"retention run's process on CPU {placement.rig}; PostgreSQL (where retention does "
        "its work) is a system service, not pinned"
    )


def print_load(backlog: Backlog, seconds: float) -> None:
    e, p = backlog.expected, backlog.population
    held = len(p.restriction_of)
    print(
        f"loaded in {seconds:.0f} s: {e.events:,} contact events ({backlog.events.older:,} "
        f"older than {CONTACT_MONTHS} months, of which {e.held_old_events:,} of the {held:,} "
        f"restricted customers; {backlog.events.recent:,} since), {e.flags:,} call flags, "
        f"{e.mail:,} mail records, {e.alerts:,} closed alerts, {e.identities:,} identities "
        f"({len(p.former_rows):,} of one-off correspondents of the older year)"
    )
    print(
        f"to go: {e.expired_events:,} contact events "
        f"({e.expired_events / e.events:.1%} of them), {e.expired_mail:,} mail records, "
        f"{e.expired_alerts:,} closed alerts, {e.expired_identities:,} identities"
    )
    print()


def print_smtp(alone: SmtpPass, during: SmtpPass, messages: int) -> None:
    print(
        f"Gateway 2 KB throughput: smtp-source -s {smtp_throughput.SESSIONS} -d, {messages:,} "
        "messages per pass after a warm-up, each pass its own unrestricted sender"
    )
    print(f"  {'pass':<34}{'accepted/s':>12}{'delivered/s':>13}   CPU busy over the pass")
    for label, found in (("on its own", alone), ("while retention runs", during)):
        t = found.throughput
        delivered = f"{t.delivered_rate:,.0f}" if t.delivered_rate else "timeout"
        busy = ", ".join(f"CPU {cpu} {share:.0%}" for cpu, share in found.cpu_busy.items())
        print(f"  {label:<34}{t.accepted_rate:>12,.0f}{delivered:>13}   {busy}")
        if t.error:
            print(f"    note: {t.error}")
    a, d = alone.throughput, during.throughput
    if a.accepted_rate and d.accepted_rate:
        ratio = d.accepted_rate / a.accepted_rate
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        delivered = (
            f"{d.delivered_rate / a.delivered_rate:.2f}"
            if a.delivered_rate and d.delivered_rate
            else "n/a"
        )
        print(
            f"  with/without: {ratio:.2f} accepted (target >= {TARGET_RATIO}: {verdict}), "
            f"{delivered} delivered"
        )
    if during.covered is not None:
        print(
            f"  the retention run was working through {during.covered:.0%} of the pass "
            f"(it had started {LEAD_SECONDS:g} s before)"
        )
    for label, found in (("on its own", alone), ("while retention runs", during)):
        print(f"  database backends, {label}: gateway {found.waits.describe('gateway')}")
        if found.retention is not None:
            print(f"    retention run {found.waits.describe('retention')}")
    print()


def print_quiet(placement: Any) -> None:
    quiet = smtp_throughput.QUIET
    gave_up = f"; gave up waiting before: {', '.join(quiet.gave_up)}" if quiet.gave_up else ""
    print(
        f"quiet start: each SMTP pass started once CPU {placement.sut} was under "
        f"{smtp_throughput.QUIET_BUSY:.0%} busy for {smtp_throughput.QUIET_WINDOW} s, or after "
        f"{QUIET_TIMEOUT:.0f} s (waited {quiet.seconds:.0f} s in all){gave_up}"
    )


# --- main ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_EVENTS:,} events and {QUICK_MESSAGES:,} messages (a few minutes)",
    )
    parser.add_argument("--events", type=int, help=f"contact events ({DEFAULT_EVENTS:,})")
    parser.add_argument("--messages", type=int, help=f"per SMTP pass ({DEFAULT_MESSAGES:,})")
    parser.add_argument(
        "--gateway-cmd",
        default=smtp_throughput.DEFAULT_GATEWAY_CMD,
        help=f"command that runs the gateway ({smtp_throughput.DEFAULT_GATEWAY_CMD})",
    )
    parser.add_argument("--retention-child", metavar="DATABASE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.events = args.events or (QUICK_EVENTS if args.quick else DEFAULT_EVENTS)
    args.messages = args.messages or (QUICK_MESSAGES if args.quick else DEFAULT_MESSAGES)
    args.warm_up = QUICK_WARM_UP if args.quick else WARM_UP
    return args


def run(stack: ExitStack, args: argparse.Namespace) -> None:
    logging.getLogger("alembic").setLevel(logging.WARNING)
    placement = smtp_throughput.choose_placement()
    workdir = smtp_throughput.make_workdir(stack)
    print_header(args, placement, args.events)
    database = f"ccr_retbench_{os.getpid()}"
    conninfo = decide.conninfo(database)
    decide.create_database(database)
    stack.callback(smtp_throughput.quietly, decide.drop_databases, [database])
    upgrade_database(decide.sqlalchemy_url(database))

    progress(f"loading {args.events:,} contact events into {database}")
    started = time.perf_counter()
    backlog = load(
        conninfo, args.events, Periods.ending(dt.datetime.now(dt.UTC)), random.Random(SEED)
    )
    print_load(backlog, time.perf_counter() - started)

    progress("the first retention run, alone")
    first = run_retention_alone(database, placement.rig, workdir)
    print(f"Retention run over the whole backlog, alone: {first.describe()}")
    print_checks(check(conninfo, backlog, first.counts))
    print()

    progress("loading the deleted rows again")
    copied, indexed = reload(conninfo, backlog)
    print(
        f"the deleted rows loaded again: COPY {copied:.0f} s, indexes and VACUUM ANALYZE "
        f"{indexed:.0f} s"
    )
    progress("starting the gateway")
    targets, why_not = start_gateway(stack, args, placement, workdir, database)
    if targets is None:
        print(f"(p) gateway: not available ({why_not}); no throughput figures")
        return
    progress("SMTP pass on its own")
    alone = smtp_pass(targets, placement, "alone@example.org", args, database)

    def start_retention() -> RetentionChild:
        child = RetentionChild(database, placement.rig, workdir / "retention-during.log")
        stack.callback(smtp_throughput.quietly, child.stop)
        return child

    progress("SMTP pass while a retention run works")
    during = smtp_pass(
        targets, placement, "during@example.org", args, database, retention=start_retention
    )
    print_smtp(alone, during, args.messages)
    second = during.retention
    assert second is not None
    print(f"Retention run over the same backlog, while the gateway took mail: {second.describe()}")
    print(f"  second run / first run, seconds: {second.seconds / first.seconds:.2f}")
    print_checks(check(conninfo, backlog, second.counts))
    print_quiet(placement)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.retention_child:
        return retention_child(args.retention_child)
    previous = signal.signal(signal.SIGTERM, smtp_throughput.stop_on_sigterm)
    stack = ExitStack()
    try:
        run(stack, args)
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
