"""What does contact volume cost: evaluating every rule for one new contact, and a full rescan?

Creates a private PostgreSQL database (``ccr_volbench_<pid>``, through ``bench/decide.py``'s
helpers), migrates it and loads with COPY a year of fictional contact events: by default
10,000,000 events ending now, for 200,000 people. Each person is a lone email address, a
lone phone number, or a customer with one of each linked (phone numbers from Ofcom's drama
ranges, which hold 17,000 between them). Activity is skewed as at a council: 90% of people
contact rarely, 9% weekly, 1% several times a day. Calls last about four minutes, 8% are
outbound, 0.5% of emails are statutory requests, and each person's emails reuse a few
texts (so the same-content rule has work to do). The indexes are built after the load,
then the table is vacuumed and analysed, as a long-running installation's would be.

Then it measures, with the default thresholds (config/ccr.toml):

- evaluating every rule for one new contact: ``gateway.services.volume.evaluate`` on one new event,
  in its own unit of work, as the job the gateway and the call importer queue runs; for
  ``--samples`` new contacts from people drawn by activity (busy people contact more), p50
  and p99. Same-run baseline: one indexed point SELECT in its own unit of work, and the
  ratio. Also how many contacts the evaluation read (the person's last 28 days);
- ``gateway.services.volume.rescan``, which rebuilds every open alert from the recorded events, over
  the default look-back (volume.rescan_days, 90 days) and over the whole year.

Run from the project root (PostgreSQL on 127.0.0.1:5432, trust auth)::

    .venv/bin/python bench/volume.py                                     # full size, long
    .venv/bin/python bench/volume.py --events 200000 --people 20000      # a quick run

It prints figures and the target next to its figure; it asserts nothing. The database is
dropped at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import decide  # bench/decide.py: PostgreSQL housekeeping
import psycopg
from sqlalchemy import select

from gateway.bootstrap import bootstrap
from gateway.runtime import Runtime
from gateway.services import volume
from gateway.settings import Settings
from gateway.store.db import upgrade_database
from routing.models import ContactEvent, Identity

TARGET_P99_MS = 5.0
DEFAULT_EVENTS = 10_000_000
DEFAULT_PEOPLE = 200_000
DEFAULT_SAMPLES = 2_000
WARM_UP = 200
SEED = 20261124
YEAR = dt.timedelta(days=365)
CUSTOMER_SHARE = 0.04  # people who are customers with an email and a phone linked
LONE_PHONE_SHARE = 0.04
# (share of people, relative activity): rare, weekly, several times a day
ACTIVITY = ((0.90, 1.0), (0.09, 12.0), (0.01, 80.0))
CALL_SHARE_OF_CUSTOMERS = 0.5
OUTBOUND_SHARE = 0.08
STATUTORY_SHARE = 0.005
TEXTS_PER_PERSON = 25  # distinct email texts a person draws from
HASH_POOL = 100_000
MAILBOXES = [f"service{n}@council.example.org" for n in range(50)]
LINES = [f"+44163296{n:04d}" for n in range(100, 120)]  # 01632 960100-119
# Ofcom drama ranges: E.164 prefixes, each followed by 3 digits (1,000 numbers each).
DRAMA_RANGES = (
    "+441134960", "+441144960", "+441154960", "+441164960", "+441174960", "+441184960",
    "+441214960", "+441314960", "+441414960", "+441514960", "+441614960", "+441914980",
    "+442079460", "+442896496", "+442920180", "+441632961", "+447700900",
)  # fmt: skip


# --- the people ----------------------------------------------------------------------------------


@dataclass
class People:
    """Who contacts the council: identity rows, customers, and each person's activity."""

    customer_rows: list[tuple[object, ...]] = field(default_factory=list)
    identity_rows: list[tuple[object, ...]] = field(default_factory=list)
    # per person: (email identity id or None, phone identity id or None, customer id or None)
    persons: list[tuple[int | None, int | None, int | None]] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)

    def add_identity(self, kind: str, value: str, customer: int | None, at: dt.datetime) -> int:
        row_id = len(self.identity_rows) + 1
        self.identity_rows.append((row_id, kind, value, customer, at if customer else None, at))
        return row_id


def phone_numbers() -> list[str]:
    return [f"{prefix}{n:03d}" for prefix in DRAMA_RANGES for n in range(1000)]


def plan_people(count: int, rng: random.Random, at: dt.datetime) -> People:
    people = People()
    numbers = iter(phone_numbers())
    customers = int(count * CUSTOMER_SHARE)
    lone_phones = int(count * LONE_PHONE_SHARE)
    if customers + lone_phones > len(phone_numbers()):
        raise SystemExit("too many phone people for the drama ranges: lower --people")
    for n in range(count):
        if n < customers:
            customer = len(people.customer_rows) + 1
            people.customer_rows.append((customer, f"C{customer:06d}", None, at))
            email = people.add_identity("email", f"person{n}@example.org", customer, at)
            phone = people.add_identity("phone", next(numbers), customer, at)
            people.persons.append((email, phone, customer))
        elif n < customers + lone_phones:
            people.persons.append(
                (None, people.add_identity("phone", next(numbers), None, at), None)
            )
        else:
            email = people.add_identity("email", f"person{n}@example.org", None, at)
            people.persons.append((email, None, None))
        people.weights.append(activity_weight(rng))
    return people


def activity_weight(rng: random.Random) -> float:
    """How often one person contacts, relative to the rarest (drawn from ACTIVITY)."""
    roll = rng.random()
    for share, weight in ACTIVITY:
        if roll < share:
            return weight
        roll -= share
    return ACTIVITY[-1][1]


# --- loading -------------------------------------------------------------------------------------

EVENT_COLUMNS = (
    "id, occurred_at, channel, direction, source, source_key, identity_id, customer_id, "
    "from_value, to_value, outcome, reasons, statutory, safeguarding, duration_seconds, "
    "content_hash, created_at"
)


def load(conninfo: str, people: People, events: int, start: dt.datetime, rng: random.Random):
    """COPY the register and a year of events (indexes dropped first, rebuilt after)."""
    with psycopg.connect(conninfo) as conn:
        copy_rows(conn, "customers (id, customer_ref, name, created_at)", people.customer_rows)
        copy_rows(
            conn,
            "identities (id, kind, value, customer_id, linked_at, created_at)",
            people.identity_rows,
        )
        conn.commit()
        copied, indexed = bulk_load_events(conn, generate_events(people, events, start, rng))
        started = time.perf_counter()
        conn.execute(f"SELECT setval('contact_events_id_seq', {events})")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        indexed += time.perf_counter() - started
    return copied, indexed


def bulk_load_events(
    conn: psycopg.Connection, rows: Iterable[tuple[object, ...]]
) -> tuple[float, float]:
    """COPY event rows in, with contact_events' secondary indexes and constraints dropped
    for the load and built again after it (far faster than keeping them up to date row by
    row); commits. Returns (seconds copying, seconds rebuilding)."""
    rebuild = drop_event_indexes(conn)
    conn.commit()
    started = time.perf_counter()
    with conn.cursor().copy(f"COPY contact_events ({EVENT_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    conn.commit()
    copied = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute("SET maintenance_work_mem = '512MB'")
    for statement in rebuild:
        conn.execute(statement)
    conn.commit()
    return copied, time.perf_counter() - started


def copy_rows(conn: psycopg.Connection, table: str, rows: Iterable[tuple[object, ...]]) -> None:
    with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def drop_event_indexes(conn: psycopg.Connection) -> list[str]:
    """Drop contact_events' secondary indexes and constraints; return what rebuilds them."""
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'contact_events'::regclass AND contype IN ('f', 'u')"
    ).fetchall()
    for name, _ in constraints:
        conn.execute(f'ALTER TABLE contact_events DROP CONSTRAINT "{name}"')
    indexes = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'contact_events' "
        "AND indexname <> 'contact_events_pkey'"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in indexes] + [
        f'ALTER TABLE contact_events ADD CONSTRAINT "{name}" {definition}'
        for name, definition in constraints
    ]


def generate_events(
    people: People,
    count: int,
    start: dt.datetime,
    rng: random.Random,
    *,
    first_id: int = 1,
    span: dt.timedelta = YEAR,
) -> Iterator[tuple[object, ...]]:
    """``count`` event rows in time order over ``span`` (a year) from ``start`` (naive UTC
    times), with ids counting up from ``first_id``."""
    hashes = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(HASH_POOL)]
    cumulative, total = [], 0.0
    for weight in people.weights:
        total += weight
        cumulative.append(total)
    step = span / count
    base = start.replace(tzinfo=None)
    chunk = 100_000
    for first in range(0, count, chunk):
        size = min(chunk, count - first)
        chosen = rng.choices(range(len(people.persons)), cum_weights=cumulative, k=size)
        for offset, person in enumerate(chosen):
            n = first + offset
            at = base + step * (n + rng.random())
            yield _event_row(first_id + n, at, person, people.persons[person], hashes, rng)


def _event_row(
    event_id: int,
    at: dt.datetime,
    person: int,
    who: tuple[int | None, int | None, int | None],
    hashes: list[str],
    rng: random.Random,
) -> tuple[object, ...]:
    email, phone, customer = who
    calls = phone is not None and (email is None or rng.random() < CALL_SHARE_OF_CUSTOMERS)
    if calls:
        direction = "outbound" if rng.random() < OUTBOUND_SHARE else "inbound"
        seconds = int(rng.expovariate(1 / 240))
        return (
            event_id, at, "phone", direction, "bench", str(event_id), phone, customer,
            None, rng.choice(LINES), "allow", "[]", False, False, seconds, None, at,
        )  # fmt: skip
    text = hashes[(person * 31 + rng.randrange(TEXTS_PER_PERSON)) % HASH_POOL]
    statutory = rng.random() < STATUTORY_SHARE
    return (
        event_id, at, "email", "inbound", "bench", str(event_id), email, customer,
        None, rng.choice(MAILBOXES), "deliver", "[]", statutory, False, None, text, at,
    )  # fmt: skip


# --- measuring -----------------------------------------------------------------------------------


def new_contacts(
    rt: Runtime, people: People, samples: int, now: dt.datetime, rng: random.Random
) -> list[int]:
    """Record ``samples`` new inbound contacts a second apart from now, from people drawn by
    activity; returns their event ids in time order."""
    chosen = rng.choices(range(len(people.persons)), weights=people.weights, k=samples)
    rows = []
    for n, person in enumerate(chosen):
        email, phone, customer = people.persons[person]
        call = email is None or (phone is not None and rng.random() < 0.5)
        at = now + dt.timedelta(seconds=n)
        rows.append(
            {
                "occurred_at": at,
                "channel": "phone" if call else "email",
                "direction": "inbound",
                "source": "bench-new",
                "source_key": f"{at.isoformat()}:{n}",
                "identity_id": phone if call else email,
                "customer_id": customer,
                "to_value": rng.choice(LINES if call else MAILBOXES),
                "outcome": "allow" if call else "deliver",
                "reasons": [],
                "statutory": False,
                "safeguarding": False,
                "duration_seconds": int(rng.expovariate(1 / 240)) if call else None,
                "content_hash": None if call else hashlib.sha256(str(n).encode()).hexdigest(),
                "created_at": at,
            }
        )
    with rt.uow() as session:
        inserted = session.execute(ContactEvent.__table__.insert().returning(ContactEvent.id), rows)
        return sorted(inserted.scalars())


def time_evaluations(rt: Runtime, event_ids: Sequence[int], now: dt.datetime) -> list[float]:
    """Seconds for evaluating each event on its own (its own unit of work), in order."""
    timings = []
    for event_id in event_ids:
        started = time.perf_counter()
        volume.evaluate(rt, [event_id], now=now)
        timings.append(time.perf_counter() - started)
    return timings


def time_point_selects(rt: Runtime, identity_ids: Sequence[int]) -> list[float]:
    """The baseline: one indexed point SELECT, in its own unit of work, per sample."""
    timings = []
    for identity_id in identity_ids:
        started = time.perf_counter()
        with rt.uow() as session:
            session.execute(select(Identity.customer_id).where(Identity.id == identity_id)).first()
        timings.append(time.perf_counter() - started)
    return timings


def contacts_read(conninfo: str, event_ids: Sequence[int], lookback: dt.timedelta) -> list[int]:
    """How many counted contacts each evaluation read: the person's last ``lookback``, through
    the same three indexed paths as gateway.store.volume (customer, linked identities,
    identity)."""
    query = """
        SELECT (SELECT count(*) FROM (
                    SELECT e.id FROM contact_events e
                    WHERE e.customer_id = n.customer_id AND e.occurred_at > n.occurred_at - %(lb)s
                      AND e.occurred_at <= n.occurred_at
                      AND e.direction = 'inbound' AND NOT e.statutory
                    UNION
                    SELECT e.id FROM contact_events e
                    WHERE e.identity_id = n.identity_id AND e.occurred_at > n.occurred_at - %(lb)s
                      AND e.occurred_at <= n.occurred_at
                      AND e.direction = 'inbound' AND NOT e.statutory
                    UNION
                    SELECT e.id FROM identities i JOIN contact_events e ON e.identity_id = i.id
                    WHERE i.customer_id = n.customer_id AND e.occurred_at > n.occurred_at - %(lb)s
                      AND e.occurred_at <= n.occurred_at
                      AND e.direction = 'inbound' AND NOT e.statutory) AS read)
        FROM contact_events n WHERE n.id = ANY(%(ids)s)
    """
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(query, {"lb": lookback, "ids": list(event_ids)}).fetchall()
    return [row[0] for row in rows]


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --- the run -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--people", type=int, default=DEFAULT_PEOPLE)
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES)
    parser.add_argument(
        "--no-full-rescan", action="store_true", help="Skip the rescan of the whole year."
    )
    parser.add_argument(
        "--keep", action="store_true", help="Keep the database at the end (prints its name)."
    )
    parser.add_argument("--reuse", metavar="DATABASE", help="Measure a kept database again.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    rng = random.Random(SEED)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - YEAR
    print(f"ccr-gateway contact volume benchmark ({args.events:,} events, {args.people:,} people)")
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
        f"Python {platform.python_version()}; {decide.postgres_version()}"
    )
    people = plan_people(args.people, rng, start)
    customers = len(people.customer_rows)
    lone_phones = sum(1 for e, p, c in people.persons if e is None)
    print(
        f"people: {customers:,} customers with an email and a phone linked, {lone_phones:,} "
        f"lone phone numbers, {args.people - customers - lone_phones:,} lone email addresses; "
        f"activity {', '.join(f'{s:.0%} x{w:g}' for s, w in ACTIVITY)}"
    )
    with decide.private_databases() as dbs, tempfile.TemporaryDirectory() as folder:
        name = args.reuse or f"ccr_volbench_{os.getpid()}"
        if not args.reuse:
            decide.create_database(name)
            if not args.keep:
                dbs.append(name)
            upgrade_database(decide.sqlalchemy_url(name))
            copied, indexed = load(decide.conninfo(name), people, args.events, start, rng)
            print(
                f"load: {args.events:,} events by COPY in {copied:.0f} s "
                f"({args.events / copied:,.0f}/s); indexes, constraints and VACUUM ANALYZE "
                f"in {indexed:.0f} s; {_table_size(decide.conninfo(name))}",
                flush=True,
            )
        if args.keep:
            print(f"database kept: {name} (drop it when done)")
        rt = bootstrap(
            Settings(
                database_url=decide.sqlalchemy_url(name),
                spool_dir=f"{folder}/spool",
                secret_key="bench",
                log_level="WARNING",
            )
        )
        try:
            measure(rt, decide.conninfo(name), people, args, now, rng)
        finally:
            rt.close()
    return 0


def measure(
    rt: Runtime,
    conninfo: str,
    people: People,
    args: argparse.Namespace,
    now: dt.datetime,
    rng: random.Random,
) -> None:
    rules = rt.settings.volume.rule_set
    print(
        f"rules: the {len(rules.rules)} defaults; look-back {rules.lookback.days} days",
        flush=True,
    )
    ids = new_contacts(rt, people, WARM_UP + args.samples, now, rng)
    evaluation_now = now + dt.timedelta(seconds=len(ids))
    time_evaluations(rt, ids[:WARM_UP], evaluation_now)
    sample = ids[WARM_UP:]
    evaluations = time_evaluations(rt, sample, evaluation_now)
    with rt.uow() as session:
        identities = list(
            session.scalars(select(ContactEvent.identity_id).where(ContactEvent.id.in_(sample)))
        )
    baseline = time_point_selects(rt, identities)
    report_evaluation(evaluations, baseline)
    read = contacts_read(conninfo, sample, rules.lookback)
    print(
        f"  counted contacts read per evaluation (the person's last {rules.lookback.days} "
        f"days): p50 {percentile(read, 0.5):g}, p99 {percentile(read, 0.99):g}, max {max(read)}"
    )

    for days in (rt.settings.volume.rescan_days, *(() if args.no_full_rescan else (366,))):
        result = volume.rescan(rt, days=days, now=evaluation_now)
        print(
            f"rescan over {days} days: {result.seconds:.1f} s for {result.events:,} counted "
            f"contacts of {result.people:,} people ({result.events / result.seconds:,.0f} "
            f"contacts/s); {result.opened:,} alerts open ({result.removed:,} removed and "
            "rebuilt)",
            flush=True,
        )


def report_evaluation(evaluations: list[float], baseline: list[float]) -> None:
    p50, p99 = percentile(evaluations, 0.50) * 1e3, percentile(evaluations, 0.99) * 1e3
    b50, b99 = percentile(baseline, 0.50) * 1e3, percentile(baseline, 0.99) * 1e3
    verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
    print(
        f"evaluate one new contact (all rules, own unit of work), {len(evaluations):,} samples: "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, mean {statistics.mean(evaluations) * 1e3:.2f} ms "
        f"(target p99 < {TARGET_P99_MS:g} ms: {verdict})"
    )
    print(
        f"  baseline, one indexed point SELECT in its own unit of work: p50 {b50:.2f} ms, "
        f"p99 {b99:.2f} ms; evaluation / baseline: p50 {p50 / b50:.1f}x, p99 {p99 / b99:.1f}x",
        flush=True,
    )


def _table_size(conninfo: str) -> str:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT pg_size_pretty(pg_table_size('contact_events')), "
            "pg_size_pretty(pg_indexes_size('contact_events'))"
        ).fetchone()
    return f"contact_events {row[0]} + indexes {row[1]}" if row else ""


if __name__ == "__main__":
    sys.exit(main())
