"""How fast does a big Asterisk call log import, in how much memory, and what does it flag?

Generates an Asterisk cdr_csv ``Master.csv`` (no header row, cdr_csv's quoting) of fictional
calls, creates a private PostgreSQL database with a register loaded by ``bench/decide.py``'s
functions, and imports the file through the real code path (``gateway.calls.import_file``,
as ``ccr calls import`` and the drop folder run it) in a child process bootstrapped like a
``ccr worker``: the jobs an import queues (contact volume evaluation of each batch) go to
Redis for other workers, as in production, and are not run in it. It prints rows per second,
the child's CPU time, its peak resident memory (VmHWM, since ru_maxrss carries over the
parent's across fork and exec), the flag counts by kind (checked against the database), and
a same-run baseline: reading the same file with the bare ``csv`` module (no parsing of
cells, no database), with the importer's speed as a ratio of it.

The calls: 5,000 distinct callers, 200 of them restricted (``decide.plan_register`` gives
each restriction a random phone measure: windows, barred or none, daily call and call-length
limits, 5% in shadow mode, 10% scoped to one service); 4% of calls from restricted callers,
1% withheld, 10% outbound; weekdays 08:00-18:00 UK time over four ISO weeks of November
2026, written in end-time order as Asterisk writes them. The 01632 960, 07700 900 and
020 7946 0 drama ranges hold fewer than 5,000 numbers, so the remaining unrestricted callers
come from Ofcom's other drama ranges (0113 496 0xxx, 0114 496 0xxx, 0115 496 0xxx).

Run from the project root (PostgreSQL on 127.0.0.1:5432 with trust auth, Redis on
127.0.0.1:6379, whose database 11 it empties before and after)::

    .venv/bin/python bench/calls_import.py               # 1,000,000 rows, a few minutes
    .venv/bin/python bench/calls_import.py --rows 50000  # a quick run

It asserts nothing. The database (``ccr_callbench_<pid>``) and the file are removed at the
end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import logging
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import decide  # bench/decide.py: register plan, loader and PostgreSQL housekeeping
import psycopg

from gateway.store.db import upgrade_database
from routing.enums import IdentityKind

TARGET_ROWS_PER_SECOND = 20_000
TARGET_PEAK_RSS_MB = 300
DEFAULT_ROWS = 1_000_000
# The importer runs as in a `ccr worker`: the jobs it queues (contact volume evaluation of
# each batch) go to Redis for other workers, as in production, and are not run here.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
DISTINCT_CALLERS = 5_000
RESTRICTED_CALLERS = 200
RESTRICTED_CALL_SHARE = 0.04
WITHHELD_SHARE = 0.01
OUTBOUND_SHARE = 0.10
FIRST_DAY = dt.date(2026, 11, 2)  # a Monday: four ISO weeks to Sunday 29 November
DAYS = 28
LONDON = ZoneInfo("Europe/London")
EXTRA_DRAMA_RANGES = ("01134960", "01144960", "01154960")  # + 3 digits each
EXTENSIONS = [str(n) for n in range(2100, 2160)]


# --- the register and the callers -------------------------------------------------------------


def plan(rng: random.Random) -> tuple[decide.RegisterPlan, list[str], list[str]]:
    """The register (200 restrictions) and the callers: restricted first, then unrestricted."""
    register = decide.plan_register(RESTRICTED_CALLERS * 10, rng)
    restricted = [_national(n) for n in register.pool(IdentityKind.PHONE, True)]
    assert len(restricted) == RESTRICTED_CALLERS
    known = [_national(n) for n in register.pool(IdentityKind.PHONE, False)]
    spare = [
        _national(n)
        for n in decide.phone_numbers()
        if _national(n) not in set(restricted) | set(known)
    ]
    extra = [f"{prefix}{n:03d}" for prefix in EXTRA_DRAMA_RANGES for n in range(1000)]
    unrestricted = (known + spare + extra)[: DISTINCT_CALLERS - RESTRICTED_CALLERS]
    assert len(unrestricted) == DISTINCT_CALLERS - RESTRICTED_CALLERS
    return register, restricted, unrestricted


def _national(e164: str) -> str:
    """+447700900123 -> 07700900123: how a UK trunk usually presents the caller."""
    return "0" + e164.removeprefix("+44")


# --- the file ---------------------------------------------------------------------------------


def write_master_csv(
    path: Path, rows: int, restricted: list[str], unrestricted: list[str], rng: random.Random
) -> None:
    """An Asterisk Master.csv with ``rows`` calls, in end-time order."""
    lines = council_lines()
    calls = []
    for n in range(rows):
        start = _start_time(rng)
        talk = int(rng.expovariate(1 / 240))
        calls.append((start + dt.timedelta(seconds=talk + 5), start, talk, n))
    calls.sort()
    with path.open("w", encoding="utf-8", newline="") as handle:
        for _end, start, talk, n in calls:
            handle.write(_cdr_line(start, talk, n, restricted, unrestricted, lines, rng))


def council_lines() -> list[str]:
    return [_national(line) for line in decide.LINES]


def _start_time(rng: random.Random) -> dt.datetime:
    while True:
        day = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS))
        if day.weekday() < 5:
            break
    seconds = rng.randrange(8 * 3600, 18 * 3600)
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)


def _cdr_line(
    start: dt.datetime,
    talk: int,
    n: int,
    restricted: list[str],
    unrestricted: list[str],
    lines: list[str],
    rng: random.Random,
) -> str:
    """One cdr_csv record: strings quoted, duration and billsec bare, as Asterisk writes."""
    roll = rng.random()
    person = rng.choice(restricted if roll < RESTRICTED_CALL_SHARE else unrestricted)
    extension = rng.choice(EXTENSIONS)
    if rng.random() < OUTBOUND_SHARE:
        src, dst, context = extension, person, "from-internal"
        clid = f'"Officer {extension}" <{extension}>'
    elif rng.random() < WITHHELD_SHARE:
        src, dst, context, clid = "", rng.choice(lines), "from-pstn", '"Anonymous" <anonymous>'
    else:
        src, dst, context, clid = person, rng.choice(lines), "from-pstn", f'"{person}" <{person}>'
    answer = start + dt.timedelta(seconds=5)
    end = answer + dt.timedelta(seconds=talk)
    epoch = int(start.replace(tzinfo=LONDON).timestamp())
    cells = [
        "",
        src,
        dst,
        context,
        clid,
        f"PJSIP/trunk-{n:08x}",
        f"PJSIP/{extension}-{n:08x}",
        "Dial",
        f"PJSIP/{extension},30,tT",
        f"{start:%Y-%m-%d %H:%M:%S}",
        f"{answer:%Y-%m-%d %H:%M:%S}",
        f"{end:%Y-%m-%d %H:%M:%S}",
    ]
    quoted = ",".join('"' + cell.replace('"', '""') + '"' for cell in cells)
    return f'{quoted},{talk + 5},{talk},"ANSWERED","DOCUMENTATION","{epoch}.{n}",""\n'


# --- measuring --------------------------------------------------------------------------------


def baseline_rows_per_second(path: Path) -> tuple[int, float]:
    """Rows/s of a bare csv.reader pass over the file (reading and splitting only)."""
    start = time.perf_counter()
    rows = 0
    with path.open(encoding="utf-8", newline="") as handle:
        for _record in csv.reader(handle):
            rows += 1
    return rows, rows / (time.perf_counter() - start)


def import_in_child(database_url: str, redis_url: str, path: Path) -> dict:
    """Run the real import in a fresh process; its figures come back as JSON."""
    result = subprocess.run(
        [sys.executable, __file__, "--child", database_url, redis_url, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"the import failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def child(database_url: str, redis_url: str, path: str) -> None:
    """The child: bootstrap like a `ccr worker`, import, print figures as JSON."""
    from gateway.bootstrap import bootstrap
    from gateway.calls import import_file
    from gateway.settings import Settings

    settings = Settings(database_url=database_url, redis_url=redis_url, log_level="WARNING")
    rt = bootstrap(settings)
    rt.register.snapshot()  # loaded before timing, as in a running worker
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    start = time.perf_counter()
    report = import_file(rt, path, "asterisk", source="cli")
    seconds = time.perf_counter() - start
    rt.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures = {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_before,
        "peak_mib": peak_rss_mib(),
        "jobs_queued": rt.jobs.queue.count if hasattr(rt.jobs, "queue") else 0,
    }
    print(json.dumps({**figures, **report.as_dict()}))


def peak_rss_mib() -> float:
    """This process's peak resident memory since it started (VmHWM).

    Not ru_maxrss: Linux carries that over from the parent across fork and exec, and the
    parent held the generated calls in memory when it started this process.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def empty_redis(redis_url: str) -> None:
    from redis import Redis

    client = Redis.from_url(redis_url)
    client.flushdb()
    client.close()


def flag_counts_in_database(conninfo: str) -> tuple[int, Counter[str], Counter[str]]:
    with psycopg.connect(conninfo) as conn:
        events = conn.execute("SELECT count(*) FROM contact_events").fetchone()[0]
        by_kind = Counter(dict(conn.execute("SELECT kind, count(*) FROM flags GROUP BY kind")))
        by_mode = Counter(dict(conn.execute("SELECT mode, count(*) FROM flags GROUP BY mode")))
    return events, by_kind, by_mode


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="calls in the file")
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help="Redis database for the jobs an import queues (emptied before and after)",
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("DATABASE_URL", "REDIS_URL", "FILE"), help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    logging.getLogger("alembic").setLevel(logging.WARNING)
    rng = random.Random(decide.SEED)
    register, restricted, unrestricted = plan(rng)
    print(f"ccr-gateway call-log import benchmark ({args.rows:,} Asterisk rows)")
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
        f"Python {platform.python_version()}; {decide.postgres_version()}"
    )
    print(
        f"register: {register.restrictions} restrictions; callers: {DISTINCT_CALLERS:,} distinct, "
        f"{RESTRICTED_CALLERS} restricted ({RESTRICTED_CALL_SHARE:.0%} of calls), "
        f"{WITHHELD_SHARE:.0%} withheld, {OUTBOUND_SHARE:.0%} outbound"
    )
    with (
        tempfile.TemporaryDirectory(prefix="ccr-callbench-") as folder,
        decide.private_databases() as dbs,
    ):
        path = Path(folder) / "Master.csv"
        started = time.perf_counter()
        write_master_csv(path, args.rows, restricted, unrestricted, rng)
        print(
            f"file: {path.stat().st_size / 2**20:,.0f} MiB written in "
            f"{time.perf_counter() - started:.1f} s"
        )
        name = f"ccr_callbench_{os.getpid()}"
        decide.create_database(name)
        dbs.append(name)
        upgrade_database(decide.sqlalchemy_url(name))
        decide.populate(decide.conninfo(name), register)

        rows, baseline = baseline_rows_per_second(path)
        empty_redis(args.redis_url)
        try:
            figures = import_in_child(decide.sqlalchemy_url(name), args.redis_url, path)
        finally:
            empty_redis(args.redis_url)
        events, by_kind, by_mode = flag_counts_in_database(decide.conninfo(name))
    report(args.rows, rows, baseline, figures, events, by_kind, by_mode)
    return 0


def report(
    rows: int,
    baseline_rows: int,
    baseline: float,
    figures: dict,
    events: int,
    by_kind: Counter[str],
    by_mode: Counter[str],
) -> None:
    rate = figures["rows_read"] / figures["seconds"]
    print()
    print(
        f"import: {figures['rows_read']:,} rows read, {figures['rows_imported']:,} imported, "
        f"{figures['rows_duplicate']:,} duplicates, {figures['rows_bad']:,} bad, in "
        f"{figures['seconds']:.1f} s"
    )
    print(
        f"  rows/s: {rate:,.0f} (target {TARGET_ROWS_PER_SECOND:,}: "
        f"{_verdict(rate >= TARGET_ROWS_PER_SECOND)})"
    )
    print(
        f"  CPU time of the importing process: {figures['cpu_seconds']:.1f} s, "
        f"{figures['rows_read'] / figures['cpu_seconds']:,.0f} rows per CPU-second "
        "(PostgreSQL's own work not included)"
    )
    print(
        f"  peak RSS of the importing process: {figures['peak_mib']:.0f} MiB (target < "
        f"{TARGET_PEAK_RSS_MB}: {_verdict(figures['peak_mib'] < TARGET_PEAK_RSS_MB)})"
    )
    print(
        f"  baseline, bare csv.reader over the same file: {baseline:,.0f} rows/s "
        f"({baseline_rows:,} rows); import / baseline = {rate / baseline:.3f}"
    )
    print(
        f"  jobs the import queued for other workers (contact volume evaluation): "
        f"{figures['jobs_queued']:,}"
    )
    print(f"contact events in the database: {events:,}")
    print(
        "flags by kind (the import's report; database counts agree: "
        f"{_verdict(dict(by_kind) == figures['flags'])}):"
    )
    for kind, count in sorted(figures["flags"].items()):
        print(f"  {kind:<16} {count:>8,}")
    print(
        f"  {'total':<16} {sum(figures['flags'].values()):>8,}  "
        f"(enforce {by_mode.get('enforce', 0):,}, shadow {by_mode.get('shadow', 0):,})"
    )
    for note in figures["notes"]:
        print(f"note: {note}")


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; the benchmark database and file were removed", file=sys.stderr)
        sys.exit(130)
