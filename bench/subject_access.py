"""How long does a subject access export take for a person with a long history?

Creates a database (a temporary SQLite file by default, or a private PostgreSQL database
with ``--postgres``), migrates it, and loads one customer on the register with an email
address and a phone number, ``--events`` contact events of theirs (default 10,000) among
``--others`` events of other people, and an audit trail of views. Then it times
``gateway.services.subject_access.export_person`` writing the zip, against the same run's
baseline: one plain SELECT of the same person's contact rows (what any export must read).

Run from the project root::

    .venv/bin/python bench/subject_access.py               # SQLite, 10,000 events
    .venv/bin/python bench/subject_access.py --postgres    # PostgreSQL on 127.0.0.1:5432

It prints figures and the target next to its figure; it asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import decide  # bench/decide.py: PostgreSQL housekeeping
from sqlalchemy import insert, select, text

from gateway.bootstrap import bootstrap
from gateway.services.subject_access import export_person
from gateway.settings import Settings
from gateway.store.db import upgrade_database
from routing.enums import Channel, Direction, IdentityKind, Outcome
from routing.models import AuditEntry, ContactEvent, Customer, Identity

TARGET_SECONDS = 10.0
SEED = 20261207
REASON = [{"rule": "restricted_sender", "reason": "No restriction applies to this sender."}]


@contextmanager
def database(postgres: bool) -> Iterator[str]:
    if postgres:
        with decide.private_databases() as created:
            name = f"ccr_sarbench_{os.getpid()}"
            decide.create_database(name)
            created.append(name)
            yield decide.sqlalchemy_url(name)
        return
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


def load(rt, events: int, others: int) -> None:
    rng = random.Random(SEED)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=365)
    with rt.uow() as session:
        customer = Customer(customer_ref="C-BENCH", name="Jo Example")
        session.add(customer)
        session.flush()
        email = Identity(
            kind=IdentityKind.EMAIL, value="jo.example@example.org", customer_id=customer.id
        )
        phone = Identity(kind=IdentityKind.PHONE, value="+447700900101", customer_id=customer.id)
        session.add_all([email, phone])
        session.flush()
        ours, theirs = (customer.id, email.id), (None, None)
        session.execute(insert(ContactEvent), list(_events(rng, start, events, ours)))
        session.execute(insert(ContactEvent), list(_events(rng, start, others, theirs)))
        session.execute(
            insert(AuditEntry),
            [
                {
                    "at": start,
                    "actor": f"agent{n}@council.example.org",
                    "action": "customer.viewed",
                    "subject_type": "customer",
                    "subject_ref": str(customer.id),
                    "detail": {},
                }
                for n in range(200)
            ],
        )


def _events(rng: random.Random, start: dt.datetime, count: int, who: tuple) -> Iterator[dict]:
    customer_id, identity_id = who
    for n in range(count):
        yield {
            "occurred_at": start + dt.timedelta(seconds=rng.randrange(365 * 86400)),
            "channel": Channel.EMAIL,
            "direction": Direction.INBOUND,
            "source": "bench",
            "source_key": f"{'o' if customer_id else 't'}{n}",
            "identity_id": identity_id,
            "customer_id": customer_id,
            "from_value": "jo.example@example.org" if customer_id else f"p{n}@example.org",
            "to_value": "housing@council.example.org",
            "outcome": Outcome.DELIVER,
            "reasons": REASON,
        }


def plain_read_seconds(rt) -> float:
    began = time.perf_counter()
    with rt.engine.connect() as connection:
        connection.execute(
            select(ContactEvent.__table__).where(ContactEvent.customer_id.isnot(None))
        ).all()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--others", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with database(args.postgres) as url, tempfile.TemporaryDirectory() as folder:
        upgrade_database(url)
        rt = bootstrap(
            Settings(database_url=url, spool_dir=os.path.join(folder, "spool"), secret_key="bench")
        )
        try:
            load(rt, args.events, args.others)
            with rt.engine.begin() as connection:
                if not args.postgres:
                    connection.execute(text("ANALYZE"))
            baseline = plain_read_seconds(rt)
            began = time.perf_counter()
            summary = export_person(rt, "C-BENCH", Path(folder) / "jo.zip", actor="bench")
            took = time.perf_counter() - began
        finally:
            rt.close()
    database_name = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"subject access export, {database_name}: {summary.contacts:,} contacts "
        f"among {args.others:,} of other people, {summary.audit_entries} audit entries"
    )
    print(f"  export: {took:.2f} s (target under {TARGET_SECONDS:.0f} s)")
    print(
        f"  baseline, one plain SELECT of the same rows: {baseline:.3f} s; "
        f"ratio {took / baseline:.1f}"
    )


if __name__ == "__main__":
    main()
