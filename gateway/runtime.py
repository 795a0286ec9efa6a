"""The Runtime every process gets (settings, database, register, policy, jobs) and the
locator a job uses to find the one it runs under. `gateway.bootstrap` builds it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.jobs.queue import JobQueue, current_owner
from gateway.settings import Settings
from gateway.store.db import unit_of_work
from gateway.store.register_cache import RegisterCache
from routing.engine import Contact, Decision, RoutingPolicy, decide


@dataclass
class Runtime:
    """Everything a process needs, built once."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    register: RegisterCache
    policy: RoutingPolicy
    jobs: JobQueue = field(repr=False)
    secret: bytes = field(default=b"", repr=False)
    # What the composition root adds for the runtime to close last (the delivery
    # transports), so that nothing here imports the edges that use it.
    closers: list[Callable[[], None]] = field(default_factory=list, repr=False)
    # What follows recording contacts (contact volume's evaluation), wired by the
    # composition root so that the edges recording contacts need not import the use case.
    contacts_recorded: Callable[[Sequence[int]], None] = field(
        default=lambda _event_ids: None, repr=False
    )

    @contextmanager
    def uow(self) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on error."""
        with unit_of_work(self.session_factory) as session:
            yield session

    def decide(self, contact: Contact) -> Decision:
        """Ask the routing core about one contact, against the current register."""
        return decide(contact, self.register.snapshot(), self.policy)

    @property
    def timezone(self) -> ZoneInfo:
        return self.policy.timezone

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """The council's calendar date now (or at `now`)."""
        return (now or dt.datetime.now(dt.UTC)).astimezone(self.policy.timezone).date()

    def close(self) -> None:
        self.register.close()
        self.jobs.close()
        for close in self.closers:
            close()
        self.engine.dispose()


_current: Runtime | None = None


def set_current(rt: Runtime) -> None:
    """Make `rt` the process's own runtime (the composition root does this once)."""
    global _current
    _current = rt


def runtime() -> Runtime:
    """The runtime a job runs under: its in-process queue's owner, else the process's own."""
    found = current_owner.get() or _current
    if found is None:
        raise RuntimeError("no runtime: start the process through gateway.bootstrap")
    return found
