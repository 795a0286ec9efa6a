"""How fast is one routing decision, and does its cost grow with the register?

Measures ``Runtime.decide`` end to end from the raw sender string, as the gateway and the
call-log ingester use it: normalise the raw address or number, build the Contact, decide
against the in-memory register snapshot (including the cache's periodic version check).
Single thread, pinned to one core where the OS allows it.

For each register size (1,000 / 10,000 / 100,000 identities with 100 / 1,000 / 10,000
active restrictions) it creates a private PostgreSQL database, migrates it, bulk-loads
fictional customers (example.org addresses, Ofcom drama-range numbers) and reports:

- decisions per second and microseconds per decision for email, phone and a 50/50 mix
  (80% unrestricted senders, 20% restricted, fixed seed), median of the repetitions;
- where the time goes: address/number normalisation and ``rt.decide`` on its own;
- the first snapshot load time and the snapshot's memory (tracemalloc);
- same-run baselines as ratios: one indexed ``SELECT`` of an identity by (kind, value)
  per contact (the cost of querying the register instead of the snapshot), and a bare
  ``dict.get`` on the snapshot's table (the floor).

Repetitions are interleaved across the three registers, so the scaling ratio compares
figures taken side by side (run-to-run noise on these machines reaches 35%).

Run from the project root (PostgreSQL on 127.0.0.1:5432, trust auth)::

    .venv/bin/python bench/decide.py          # full run, a few minutes
    .venv/bin/python bench/decide.py --quick  # smaller run, under ~30 s

It prints figures and each target next to its figure; it asserts nothing. The databases
(``ccr_bench_<pid>_<size>``) are dropped at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import logging
import os
import platform
import random
import signal
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import FrameType

import psycopg
from sqlalchemy import bindparam, select

from gateway.bootstrap import bootstrap
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store.db import upgrade_database
from gateway.store.register_cache import load_snapshot
from routing.engine import Contact
from routing.enums import Channel, IdentityKind
from routing.identity import (
    NormalisedIdentity,
    _normalise_phone_cached,
    display_phone,
    normalise_email,
    normalise_phone,
)
from routing.models import Identity
from routing.snapshot import IdentityKey

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_SERVER = "postgres@127.0.0.1:5432"

SIZES = (1_000, 10_000, 100_000)  # identities; restrictions are a tenth of each
HEADLINE_SIZE = 100_000
TARGET_PER_SECOND = 5_000
TARGET_GROWTH = 1.5
SEED = 20261123
RESTRICTED_SHARE = 0.2
SHADOW_SHARE = 0.05
SCOPED_SHARE = 0.1

# A Tuesday in November (GMT), inside "Tue 10:00-12:00" and outside the other schedules.
CONTACT_AT = dt.datetime(2026, 11, 24, 11, 15, tzinfo=dt.UTC)
CREATED_AT = dt.datetime(2026, 5, 1, 9, 0)  # naive UTC, as UTCDateTime columns store it

# Council lines take the first numbers of the 01632 960 range; customers get the rest.
COUNCIL_LINE = "+441632960000"
SPOC_LINE = "+441632960001"
HOUSING_LINE = "+441632960002"
COUNCIL_TAX_LINE = "+441632960003"
RESERVED_LINES = 10
# Ofcom drama ranges (possible, not valid) and 020 7946 0xxx (valid, for drama too).
PHONE_RANGES = ("+441632960", "+447700900", "+442079460")

MAILBOXES = (
    "housing@council.example.org",
    "counciltax@council.example.org",
    "planning@council.example.org",
)
LINES = (COUNCIL_LINE, SPOC_LINE, HOUSING_LINE, COUNCIL_TAX_LINE)
SERVICES = (
    (1, "Housing", (("email", MAILBOXES[0]), ("phone", HOUSING_LINE))),
    (2, "Council Tax", (("email", MAILBOXES[1]), ("phone", COUNCIL_TAX_LINE))),
)
EMAIL_MEASURES = (("redirect", 45), ("copy", 20), ("file", 20), ("reject", 15))
PHONE_MEASURES = (("none", 30), ("windows", 50), ("barred", 20))
PHONE_WINDOWS = (
    "Tue 10:00-12:00; Thu 14:00-15:30",
    "Mon-Fri 09:00-10:00",
    "Wed 13:00-14:00; Fri 13:00-14:00",
)
STAGES = ("warning", "stage1", "stage2", "cease_and_desist")
CATEGORIES = ("A", "B", "C", "D")

RawContact = tuple[Channel, str, str]  # channel, raw sender as received, council address


@dataclass(frozen=True)
class RunMode:
    """How big a run: decisions per timed loop, repetitions, SQL lookups per repetition."""

    name: str
    decisions: int
    repetitions: int
    sql_lookups: int


FULL = RunMode("full", decisions=100_000, repetitions=5, sql_lookups=10_000)
QUICK = RunMode("quick", decisions=10_000, repetitions=3, sql_lookups=1_000)


# --- the register to load -----------------------------------------------------------------


@dataclass
class RegisterPlan:
    """The rows for one register size, and the identities the workload draws senders from."""

    identities: int
    restrictions: int
    customer_rows: list[tuple[object, ...]] = field(default_factory=list)
    identity_rows: list[tuple[object, ...]] = field(default_factory=list)
    restriction_rows: list[tuple[object, ...]] = field(default_factory=list)
    scope_rows: list[tuple[int, int]] = field(default_factory=list)
    pools: dict[tuple[IdentityKind, bool], list[str]] = field(default_factory=dict)

    def pool(self, kind: IdentityKind, restricted: bool) -> list[str]:
        return self.pools.setdefault((kind, restricted), [])

    def count(self, kind: IdentityKind) -> int:
        return sum(len(values) for (k, _), values in self.pools.items() if k is kind)


def phone_numbers() -> list[str]:
    """Every customer number available: the three ranges less the council's own lines."""
    numbers = [f"{prefix}{n:03d}" for prefix in PHONE_RANGES for n in range(1000)]
    return numbers[RESERVED_LINES:]


def plan_register(identities: int, rng: random.Random) -> RegisterPlan:
    """Restricted customers with an email and (while numbers last) a phone; the rest unrestricted.

    A tenth as many restrictions as identities, two identities per restricted customer.
    Half the remaining identities belong to unrestricted customers, half to nobody yet.
    Phone numbers are shared half and half between restricted and unrestricted senders;
    where they run out, identities are emails instead.
    """
    plan = RegisterPlan(identities, identities // 10)
    numbers = iter(phone_numbers())
    restricted_phones = min(plan.restrictions, len(phone_numbers()) // 2)
    emails = iter(range(1, 10 * identities))
    for customer in range(1, plan.restrictions + 1):
        _add_customer(plan, customer)
        _add_identity(plan, IdentityKind.EMAIL, f"person{next(emails)}@example.org", customer)
        if customer <= restricted_phones:
            _add_identity(plan, IdentityKind.PHONE, next(numbers), customer)
        else:
            _add_identity(plan, IdentityKind.EMAIL, f"person{next(emails)}@example.org", customer)
        plan.restriction_rows.append(_restriction_row(plan, customer, rng))
    unrestricted = identities - 2 * plan.restrictions
    spare_numbers = list(numbers)[: unrestricted // 2]
    customer = plan.restrictions
    for n in range(unrestricted):
        owner = None
        if n < unrestricted // 2:
            if n % 2 == 0:
                customer += 1
                _add_customer(plan, customer)
            owner = customer
        if n % 2 == 1 and spare_numbers:
            _add_identity(plan, IdentityKind.PHONE, spare_numbers.pop(), owner, restricted=False)
        else:
            value = f"person{next(emails)}@example.org"
            _add_identity(plan, IdentityKind.EMAIL, value, owner, restricted=False)
    return plan


def _add_customer(plan: RegisterPlan, customer: int) -> None:
    plan.customer_rows.append((customer, f"C{customer:06d}", f"Customer {customer}", CREATED_AT))


def _add_identity(
    plan: RegisterPlan,
    kind: IdentityKind,
    value: str,
    customer: int | None,
    *,
    restricted: bool = True,
) -> None:
    row_id = len(plan.identity_rows) + 1
    linked_at = CREATED_AT if customer else None
    plan.identity_rows.append((row_id, kind.value, value, customer, linked_at, CREATED_AT))
    plan.pool(kind, restricted).append(value)


def _restriction_row(plan: RegisterPlan, customer: int, rng: random.Random) -> tuple[object, ...]:
    """One active restriction with a realistic spread of measures, dates and scope."""
    email_measure = _weighted(rng, EMAIL_MEASURES)
    phone_measure = _weighted(rng, PHONE_MEASURES)
    windows = rng.choice(PHONE_WINDOWS) if phone_measure == "windows" else None
    starts_on = dt.date(2026, 6, 1) + dt.timedelta(days=rng.randrange(150))
    ends_on = None if rng.random() < 0.5 else starts_on + dt.timedelta(days=365)
    scope_all = rng.random() >= SCOPED_SHARE
    if not scope_all:
        plan.scope_rows.append((customer, rng.choice(SERVICES)[0]))
    return (
        customer,  # id
        f"CCR-2026-{customer:05d}",
        1,  # revision
        customer,
        "active",
        "shadow" if rng.random() < SHADOW_SHARE else "enforce",
        rng.choice(STAGES),
        rng.choice(CATEGORIES),
        "Benchmark restriction (fictional).",
        email_measure,
        phone_measure,
        windows,
        rng.choice((None, None, 1, 2)),  # max_calls_per_day
        None,  # max_calls_per_week
        rng.choice((None, 15, 30)),  # max_call_minutes
        "Single Point of Contact",
        "spoc@council.example.org",
        SPOC_LINE if windows else None,
        scope_all,
        "[]",  # exempt_addresses (JSON)
        starts_on,
        ends_on,
        3,  # review_every_months
        starts_on + dt.timedelta(days=91),  # next_review_on
        CREATED_AT,  # approved_at
        False,  # legal_hold
        CREATED_AT,
        CREATED_AT,
    )


def _weighted(rng: random.Random, choices: Sequence[tuple[str, int]]) -> str:
    return rng.choices([value for value, _ in choices], [weight for _, weight in choices])[0]


RESTRICTION_COLUMNS = (
    "id, reference, revision, customer_id, status, mode, stage, category, reason, "
    "email_measure, phone_measure, phone_windows, max_calls_per_day, max_calls_per_week, "
    "max_call_minutes, spoc_name, spoc_email, spoc_phone, scope_all, exempt_addresses, "
    "starts_on, ends_on, review_every_months, next_review_on, approved_at, legal_hold, "
    "created_at, updated_at"
)


def populate(conninfo: str, plan: RegisterPlan) -> None:
    """Bulk-load the plan with COPY, set the register version to 1 and refresh statistics."""
    address_rows = [
        (row_id, service_id, kind, value)
        for row_id, (service_id, kind, value) in enumerate(
            ((sid, kind, value) for sid, _, addresses in SERVICES for kind, value in addresses),
            start=1,
        )
    ]
    tables: list[tuple[str, Sequence[tuple[object, ...]]]] = [
        ("customers (id, customer_ref, name, created_at)", plan.customer_rows),
        (
            "identities (id, kind, value, customer_id, linked_at, created_at)",
            plan.identity_rows,
        ),
        ("services (id, name, description)", [(sid, name, None) for sid, name, _ in SERVICES]),
        ("service_addresses (id, service_id, kind, value)", address_rows),
        (f"restrictions ({RESTRICTION_COLUMNS})", plan.restriction_rows),
        ("restriction_services (restriction_id, service_id)", plan.scope_rows),
    ]
    with psycopg.connect(conninfo) as conn:
        for table, rows in tables:
            with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        conn.execute("UPDATE register_version SET version = 1 WHERE id = 1")
        conn.commit()
        conn.execute("ANALYZE")


# --- the contacts to decide ---------------------------------------------------------------


def raw_email(value: str, rng: random.Random) -> str:
    """The address as it might arrive: bare, shouted, with a display name or a +tag."""
    local, _, domain = value.partition("@")
    return rng.choice(
        (
            value,
            f"{local.capitalize()}@{domain.capitalize()}",
            f'"{local.capitalize()}" <{value}>',
            f"{local}+ref{rng.randrange(100)}@{domain}",
        )
    )


def raw_phone(e164: str, rng: random.Random) -> str:
    """The number as a call log might carry it: national, spaced national, or E.164."""
    national = display_phone(e164)
    return rng.choice((national, national.replace(" ", ""), e164))


def build_workload(
    plan: RegisterPlan, channels: Sequence[Channel], count: int, rng: random.Random
) -> list[RawContact]:
    """``count`` contacts on the given channels (evenly), 20% of them from restricted senders."""
    contacts = []
    for _ in range(count):
        channel = rng.choice(channels)
        kind = IdentityKind(channel.value)
        restricted = rng.random() < RESTRICTED_SHARE
        value = rng.choice(plan.pool(kind, restricted))
        if channel is Channel.EMAIL:
            contacts.append((channel, raw_email(value, rng), rng.choice(MAILBOXES)))
        else:
            contacts.append((channel, raw_phone(value, rng), rng.choice(LINES)))
    return contacts


def normalise(channel: Channel, raw: str) -> NormalisedIdentity:
    """What the gateway does with a raw sender before it asks the engine."""
    if channel is Channel.EMAIL:
        return normalise_email(raw, fold_plus=True)
    return normalise_phone(raw)


def prepared_contacts(workload: Sequence[RawContact]) -> list[Contact]:
    return [Contact(ch, (normalise(ch, raw),), to, CONTACT_AT) for ch, raw, to in workload]


def identity_keys(workload: Sequence[RawContact]) -> list[IdentityKey]:
    identities = (normalise(channel, raw) for channel, raw, _ in workload)
    return [(identity.kind, identity.value or "") for identity in identities]


# --- timed loops (each returns seconds for the whole loop) --------------------------------


def time_end_to_end(rt: Runtime, workload: Sequence[RawContact]) -> float:
    """Raw sender string -> normalised identity -> Contact -> rt.decide, one at a time."""
    decide, email, at = rt.decide, Channel.EMAIL, CONTACT_AT
    fold_email, phone = normalise_email, normalise_phone
    start = time.perf_counter()
    for channel, raw, to in workload:
        sender = fold_email(raw, fold_plus=True) if channel is email else phone(raw)
        decide(Contact(channel, (sender,), to, at))
    return time.perf_counter() - start


def time_decide_only(rt: Runtime, contacts: Sequence[Contact]) -> float:
    decide = rt.decide
    start = time.perf_counter()
    for contact in contacts:
        decide(contact)
    return time.perf_counter() - start


def time_email_normalisation(raws: Sequence[str]) -> float:
    start = time.perf_counter()
    for raw in raws:
        normalise_email(raw, fold_plus=True)
    return time.perf_counter() - start


def time_phone_normalisation(raws: Sequence[str]) -> float:
    start = time.perf_counter()
    for raw in raws:
        normalise_phone(raw)
    return time.perf_counter() - start


def time_phone_parsing(raws: Sequence[str]) -> float:
    """normalise_phone without its cache: the cost for a number not seen recently."""
    parse = _normalise_phone_cached.__wrapped__
    start = time.perf_counter()
    for raw in raws:
        parse(raw, "GB")
    return time.perf_counter() - start


def time_dict_floor(rt: Runtime, keys: Sequence[IdentityKey]) -> float:
    get = rt.register.snapshot().by_identity.get
    start = time.perf_counter()
    for key in keys:
        get(key, ())
    return time.perf_counter() - start


def time_sql_lookups(rt: Runtime, keys: Sequence[IdentityKey]) -> float:
    """One indexed SELECT of the identity row per contact, on one held connection."""
    query = select(Identity.id, Identity.customer_id).where(
        Identity.kind == bindparam("kind"), Identity.value == bindparam("value")
    )
    with rt.engine.connect() as conn:
        conn.execute(query, {"kind": keys[0][0], "value": keys[0][1]}).first()  # warm up
        start = time.perf_counter()
        for kind, value in keys:
            conn.execute(query, {"kind": kind, "value": value}).first()
        return time.perf_counter() - start


# --- one register size ----------------------------------------------------------------------


@dataclass
class SizeRun:
    """One register size: its database, runtime, workloads and the timings collected."""

    plan: RegisterPlan
    database: str
    runtime: Runtime | None = None
    populate_s: float = 0.0
    load_s: float = 0.0
    snapshot_mib: float = 0.0
    links: int = 0
    tasks: dict[str, tuple[Callable[[], float], int]] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)
    restricted_share: dict[str, float] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.plan.identities

    def per_call_us(self, task: str) -> float:
        """Median microseconds per call of one task over the repetitions."""
        _, count = self.tasks[task]
        return statistics.median(self.seconds[task]) / count * 1e6

    def per_second(self, task: str) -> float:
        return 1e6 / self.per_call_us(task)


def prepare_size(size: int, mode: RunMode, databases: list[str]) -> SizeRun:
    """Create, migrate and populate the size's database; build its runtime and workloads."""
    rng = random.Random(SEED)
    run = SizeRun(plan_register(size, rng), f"ccr_bench_{os.getpid()}_{size}")
    create_database(run.database)
    databases.append(run.database)
    upgrade_database(sqlalchemy_url(run.database))
    start = time.perf_counter()
    populate(conninfo(run.database), run.plan)
    run.populate_s = time.perf_counter() - start

    rt = bootstrap(
        Settings(
            database_url=sqlalchemy_url(run.database),
            register_refresh_seconds=2.0,
            log_level="WARNING",
        )
    )
    run.runtime = rt
    start = time.perf_counter()
    snapshot = rt.register.snapshot()
    run.load_s = time.perf_counter() - start
    run.links = len(snapshot.by_identity)
    run.snapshot_mib = snapshot_memory_mib(rt)

    email = build_workload(run.plan, (Channel.EMAIL,), mode.decisions, rng)
    phone = build_workload(run.plan, (Channel.PHONE,), mode.decisions, rng)
    mixed = build_workload(run.plan, (Channel.EMAIL, Channel.PHONE), mode.decisions, rng)
    email_contacts, phone_contacts = prepared_contacts(email), prepared_contacts(phone)
    keys = identity_keys(mixed)
    email_raws = [raw for _, raw, _ in email]
    phone_raws = [raw for _, raw, _ in phone]
    n = mode.decisions
    run.tasks = {
        "email": (lambda: time_end_to_end(rt, email), n),
        "phone": (lambda: time_end_to_end(rt, phone), n),
        "combined": (lambda: time_end_to_end(rt, mixed), n),
        "decide_email": (lambda: time_decide_only(rt, email_contacts), n),
        "decide_phone": (lambda: time_decide_only(rt, phone_contacts), n),
        "norm_email": (lambda: time_email_normalisation(email_raws), n),
        "norm_phone": (lambda: time_phone_normalisation(phone_raws), n),
        "parse_phone": (lambda: time_phone_parsing(phone_raws[: n // 10]), n // 10),
        "dict": (lambda: time_dict_floor(rt, keys), n),
        "sql": (lambda: time_sql_lookups(rt, keys[: mode.sql_lookups]), mode.sql_lookups),
    }
    run.seconds = {task: [] for task in run.tasks}
    for name, workload in (("email", email), ("phone", phone), ("combined", mixed)):
        run.restricted_share[name] = restricted_share(rt, workload)
    return run


def snapshot_memory_mib(rt: Runtime) -> float:
    """Memory held by a freshly loaded snapshot (a second load, traced by tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        with rt.session_factory() as session:
            snapshot = load_snapshot(session, 1)
        gc.collect()
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del snapshot
    return held / 2**20


def restricted_share(rt: Runtime, workload: Sequence[RawContact]) -> float:
    """The share of contacts a restriction applied to (an untimed check of the workload)."""
    decided = (rt.decide(c) for c in prepared_contacts(workload))
    return sum(d.restricted for d in decided) / len(workload)


def measure(runs: Sequence[SizeRun], repetitions: int) -> None:
    """Interleave repetitions across sizes and tasks, so drift hits every figure alike.

    The collector stays on, as in the gateway, but everything alive before the first loop
    (the three registers and millions of prepared workload objects, which no gateway
    holds) is frozen out of it: otherwise a full collection of the harness's own heap,
    seconds long, lands in whichever loop happens to trigger it.
    """
    gc.collect()
    gc.freeze()
    for _ in range(repetitions):
        gc.collect()
        for run in runs:
            for task, (timed, _) in run.tasks.items():
                run.seconds[task].append(timed())


# --- PostgreSQL housekeeping --------------------------------------------------------------


def sqlalchemy_url(database: str) -> str:
    return f"postgresql+psycopg://{PG_SERVER}/{database}"


def conninfo(database: str) -> str:
    return f"postgresql://{PG_SERVER}/{database}"


def create_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_databases(names: Sequence[str]) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_version() -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        row = conn.execute("SELECT version()").fetchone()
    return str(row[0]).split(" on ")[0] if row else "unknown"


@contextmanager
def private_databases() -> Iterator[list[str]]:
    """Names of the databases created inside the block; all dropped when it ends, however."""
    created: list[str] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield created
    finally:
        drop_databases(created)
        signal.signal(signal.SIGTERM, previous)


# --- output -------------------------------------------------------------------------------


def pin_to_one_core() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (os.sched_setaffinity unavailable)"
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu} with os.sched_setaffinity"


def print_header(mode: RunMode, pinning: str) -> None:
    print(f"ccr-gateway decision benchmark ({mode.name} run)")
    print(
        "measured: rt.decide end to end from the raw sender string (normalise -> Contact -> "
        "decide on the register snapshot), one thread"
    )
    print(
        f"machine: {os.cpu_count()} cores, process {pinning}; Python "
        f"{platform.python_version()}; {postgres_version()}"
    )
    print(
        f"workload: {mode.decisions:,} decisions per loop, median of {mode.repetitions} "
        f"repetitions interleaved across sizes; {RESTRICTED_SHARE:.0%} restricted senders, "
        f"seed {SEED}; contacts at {CONTACT_AT:%a %Y-%m-%d %H:%M} UTC; combined = 50/50 mix"
    )
    print(
        f"phones: only {len(phone_numbers()):,} drama-range numbers exist (01632 960, "
        "07700 900, 020 7946 0), shared half and half between restricted and unrestricted "
        "senders; every other identity is an email"
    )
    print()


def print_register_table(runs: Sequence[SizeRun]) -> None:
    print("Registers")
    print(
        f"{'identities':>10} {'emails':>7} {'phones':>6} {'restrictions':>12} {'links':>6} "
        f"{'populate s':>10} {'1st snapshot s':>14} {'snapshot MiB':>12}"
    )
    for run in runs:
        plan = run.plan
        print(
            f"{run.size:>10,} {plan.count(IdentityKind.EMAIL):>7,} "
            f"{plan.count(IdentityKind.PHONE):>6,} {plan.restrictions:>12,} {run.links:>6,} "
            f"{run.populate_s:>10.2f} {run.load_s:>14.3f} {run.snapshot_mib:>12.1f}"
        )
    print()


def print_decision_table(runs: Sequence[SizeRun]) -> None:
    print(
        "Decisions end to end (x SQL = decisions/s over indexed-SELECT queries/s on the same "
        "register; restricted = share of decisions a restriction applied to)"
    )
    print(
        f"{'identities':>10} {'channel':<9} {'us/decision':>11} {'decisions/s':>11} "
        f"{'x SQL':>6} {'restricted':>10}"
    )
    for run in runs:
        for index, channel in enumerate(("email", "phone", "combined")):
            size = f"{run.size:,}" if index == 0 else ""
            print(
                f"{size:>10} {channel:<9} {run.per_call_us(channel):>11.1f} "
                f"{run.per_second(channel):>11,.0f} "
                f"{run.per_second(channel) / run.per_second('sql'):>6.1f} "
                f"{run.restricted_share[channel]:>10.1%}"
            )
    print()


def print_breakdown_table(runs: Sequence[SizeRun]) -> None:
    print("Where the time goes (us per call)")
    print(
        f"{'identities':>10} {'norm email':>10} {'norm phone':>10} {'uncached':>8} "
        f"{'decide email':>12} {'decide phone':>12} {'dict.get':>8} {'SQL SELECT':>10} "
        f"{'queries/s':>9}"
    )
    for run in runs:
        print(
            f"{run.size:>10,} {run.per_call_us('norm_email'):>10.2f} "
            f"{run.per_call_us('norm_phone'):>10.2f} {run.per_call_us('parse_phone'):>8.2f} "
            f"{run.per_call_us('decide_email'):>12.2f} "
            f"{run.per_call_us('decide_phone'):>12.2f} {run.per_call_us('dict'):>8.3f} "
            f"{run.per_call_us('sql'):>10.1f} {run.per_second('sql'):>9,.0f}"
        )
    print(
        "norm email = normalise_email(fold_plus=True), not cached; norm phone = "
        "normalise_phone, lru-cached (every number repeats), uncached = the same without "
        "the cache (a caller not seen recently); decide = rt.decide on a "
        "prepared Contact; SQL = one SELECT by (kind, value) per contact, prepared statement "
        "on a held connection (PostgreSQL works on the other core)"
    )
    print()


def print_targets(runs: Sequence[SizeRun]) -> None:
    by_size = {run.size: run for run in runs}
    print("Targets (ratios are within this run)")
    headline = by_size.get(HEADLINE_SIZE)
    if headline is not None:
        rate = headline.per_second("combined")
        print(
            f"  {TARGET_PER_SECOND:,}/s at {HEADLINE_SIZE:,} identities, "
            f"{headline.plan.restrictions:,} restrictions (combined): {rate:,.0f}/s = "
            f"{rate / TARGET_PER_SECOND:.1f}x target, {_verdict(rate >= TARGET_PER_SECOND)}"
        )
        for channel in ("email", "phone"):
            rate = headline.per_second(channel)
            print(
                f"    {channel}: {rate:,.0f}/s, {_verdict(rate >= TARGET_PER_SECOND)}; "
                f"{rate / headline.per_second('sql'):.1f}x one indexed SELECT per contact"
            )
    smallest, largest = runs[0], runs[-1]
    for channel in ("combined", "email", "phone"):
        growth = largest.per_call_us(channel) / smallest.per_call_us(channel)
        print(
            f"  {channel} cost at {largest.size:,} / at {smallest.size:,} identities "
            f"< {TARGET_GROWTH}: {growth:.2f}, {_verdict(growth < TARGET_GROWTH)}"
        )


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> RunMode:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller run, under ~30 s")
    return QUICK if parser.parse_args(argv).quick else FULL


def main(argv: Sequence[str] | None = None) -> int:
    mode = parse_args(argv)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    print_header(mode, pin_to_one_core())
    runs: list[SizeRun] = []
    with private_databases() as databases:
        try:
            for size in SIZES:
                runs.append(prepare_size(size, mode, databases))
            measure(runs, mode.repetitions)
        finally:
            for run in runs:
                if run.runtime is not None:
                    with suppress(Exception):
                        run.runtime.close()
    print_register_table(runs)
    print_decision_table(runs)
    print_breakdown_table(runs)
    print_targets(runs)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; the benchmark databases were dropped", file=sys.stderr)
        sys.exit(130)
