"""How long does the SPOC queue take with 10,000 queue items over the web benchmark's data?

Builds the data of ``bench/web.py`` (its private PostgreSQL database, customers, restrictions,
contact events, alerts and routed mail; its options size it), then adds ``--items`` SPOC queue
items (default 10,000) with plain SQL: each a ~2 KB message under one of the active
restrictions, received over the last 90 days, a quarter of them for the signed-in approver's
own SPOC mailbox; half read, a third on file, some with a reply due (late or not), so the
unread and overdue filters have rows to find.

Then it measures the server time of each page through the real Flask app (as bench/web.py
does, signed in as an approver), ``--requests`` requests per page after a warm-up: the
same-run baselines (``/healthz`` and the search form), the dashboard (which now counts the
approver's unread and overdue items), the queue as it opens (own items, waiting), every
SPOC's items, every SPOC's overdue items, a deep page of every item, and one item's page
(its message parsed to text, marked read and audited, as in production).

Run from the project root (PostgreSQL on 127.0.0.1:5432, trust auth)::

    .venv/bin/python bench/spoc_queue.py                      # web.py's full size, long
    .venv/bin/python bench/spoc_queue.py --events 500000 --customers 50000

It prints p50 and p99 per page and the target (p99 under 300 ms) as met or NOT met, and
asserts nothing. The database is dropped at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import random
import sys
import tempfile
from collections.abc import Callable

import decide  # bench/decide.py: PostgreSQL housekeeping
import psycopg
import web as web_bench  # bench/web.py: the data and the measuring

from gateway.runtime import Runtime

DEFAULT_ITEMS = 10_000

ITEMS_SQL = """
WITH r AS (
    SELECT row_number() OVER (ORDER BY id) AS rn, customer_id, reference, spoc_email
    FROM restrictions WHERE status = 'active'
), n AS (SELECT count(*) AS c FROM r),
g AS (
    SELECT i, (now() AT TIME ZONE 'utc') - (i %% 90) * interval '1 day' AS received
    FROM generate_series(1, %(items)s) AS i
)
INSERT INTO spoc_items (queue_id, received_at, customer_id, restriction_ref, spoc_email,
                        decision, sender, addressed_to, subject, message, size, due_on,
                        read_at, read_by, outcome, reply_due_on, outcome_at, outcome_by)
SELECT 'bench-' || g.i, g.received, r.customer_id, r.reference,
       CASE WHEN g.i %% 4 = 0 THEN %(me)s
            ELSE coalesce(r.spoc_email, 'spoc@council.example.org') END,
       (ARRAY['redirect', 'copy', 'file', 'reject'])[1 + g.i %% 4],
       'customer' || g.i || '@example.org', '["housing@council.example.org"]',
       'Bench message ' || g.i,
       convert_to('From: customer' || g.i || E'@example.org\\r\\nSubject: Bench message '
                  || g.i || E'\\r\\n\\r\\n' || repeat('Where is my bin? ', 120), 'UTF8'),
       2100, g.received::date + 5,
       CASE WHEN g.i %% 2 = 0 THEN g.received END,
       CASE WHEN g.i %% 2 = 0 THEN %(me)s END,
       CASE WHEN g.i %% 3 = 0 THEN 'on_file' WHEN g.i %% 7 = 0 THEN 'reply_due' END,
       CASE WHEN g.i %% 3 <> 0 AND g.i %% 7 = 0 THEN current_date + (g.i %% 20) - 10 END,
       CASE WHEN g.i %% 3 = 0 OR g.i %% 7 = 0 THEN g.received END,
       CASE WHEN g.i %% 3 = 0 OR g.i %% 7 = 0 THEN %(me)s END
FROM g, n JOIN r ON true
WHERE r.rn = (g.i %% n.c) + 1
"""


def add_items(conninfo: str, items: int) -> int:
    with psycopg.connect(conninfo) as conn:
        added = conn.execute(ITEMS_SQL, {"items": items, "me": web_bench.APPROVER}).rowcount
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE spoc_items")
    return added


def measure(rt: Runtime, requests: int, rng: random.Random) -> None:
    client = web_bench.signed_in_client(rt)
    with rt.engine.connect() as conn:
        ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM spoc_items")]
    pages: list[tuple[str, Callable[[], str]]] = [
        ("baseline: /healthz (SELECT 1)", lambda: "/healthz"),
        ("baseline: the search form (layout only)", lambda: "/customers"),
        ("dashboard (with the SPOC figures)", lambda: "/"),
        ("SPOC queue as it opens (own items, waiting)", lambda: "/spoc-queue"),
        ("SPOC queue, every SPOC's waiting items", lambda: "/spoc-queue?whose=all"),
        ("SPOC queue, every SPOC's overdue items", lambda: "/spoc-queue?whose=all&show=overdue"),
        ("SPOC queue, every item, page 40", lambda: "/spoc-queue?whose=all&show=all&from=2000"),
        ("one item's page", lambda: f"/spoc-queue/{rng.choice(ids)}"),
    ]
    timings = []
    for name, path in pages:
        web_bench.time_requests(client, [path() for _ in range(web_bench.WARM_UP)])
        seconds = web_bench.time_requests(client, [path() for _ in range(requests)])
        timings.append(web_bench.Timing(name, seconds))
    web_bench.report(timings, requests)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=web_bench.DEFAULT_CUSTOMERS)
    parser.add_argument("--restrictions", type=int, default=web_bench.DEFAULT_RESTRICTIONS)
    parser.add_argument("--events", type=int, default=web_bench.DEFAULT_EVENTS)
    parser.add_argument("--items", type=int, default=DEFAULT_ITEMS)
    parser.add_argument("--requests", type=int, default=web_bench.DEFAULT_REQUESTS)
    args = parser.parse_args(argv)
    args.keep = False
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    rng = random.Random(web_bench.SEED)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - web_bench.volume_bench.YEAR
    print(
        f"ccr-gateway SPOC queue benchmark ({args.items:,} queue items, {args.customers:,} "
        f"customers, {args.restrictions:,} restrictions, {args.events:,} contact events)"
    )
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
        f"Python {platform.python_version()}; {decide.postgres_version()}",
        flush=True,
    )
    people = web_bench.plan_customers(args.customers, rng, start)
    with decide.private_databases() as dbs, tempfile.TemporaryDirectory() as folder:
        name = f"ccr_spocbench_{os.getpid()}"
        web_bench.load(name, people, args, start, now, rng, dbs)
        print(f"load: {add_items(decide.conninfo(name), args.items):,} queue items", flush=True)
        rt = web_bench.bench_runtime(name, folder)
        try:
            measure(rt, args.requests, rng)
        finally:
            rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
