"""Runs periodic jobs on a schedule, in `ccr serve` and in every `ccr worker`.

Each period is a numbered slot; the process that records its claim on a slot in the
database enqueues the job, and every other process sees the claim and does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from gateway.store import repository

if TYPE_CHECKING:  # the runtime holds the job queue; a scheduler is handed one
    from gateway.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PeriodicTask:
    func: Callable[..., Any]
    every_seconds: int


class Scheduler:
    """Enqueue each periodic task once per its interval across all processes."""

    def __init__(
        self,
        rt: Runtime,
        tasks: dict[str, PeriodicTask],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rt = rt
        self._tasks = tasks
        self._clock = clock
        self._name = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[str]:
        """Enqueue whichever tasks this process wins for their current slots; returns job ids."""
        now = self._clock()
        enqueued = []
        for name, task in self._tasks.items():
            slot = str(int(now // task.every_seconds))
            if self._claim(name, slot):
                enqueued.append(self._enqueue_or_release(name, slot, task))
        return enqueued

    def _enqueue_or_release(self, name: str, slot: str, task: PeriodicTask) -> str:
        try:
            return self._rt.jobs.enqueue(task.func, job_id=f"{name}-{slot}")
        except Exception:
            # The queue is down: give the slot back so this or another process tries again.
            with self._rt.uow() as session:
                repository.release_scheduled_run(session, name, slot)
            raise

    def _claim(self, task: str, slot: str) -> bool:
        try:
            with self._rt.uow() as session:
                repository.claim_scheduled_run(session, task, slot, self._name)
        except IntegrityError:
            return False
        return True

    def start(self) -> None:
        """Tick in a background thread until stop()."""
        self._thread = threading.Thread(target=self._run, name="ccr-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        pause = min(30.0, min(t.every_seconds for t in self._tasks.values()) / 2)
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # keep ticking: a database blip must not end the schedule
                log.exception("scheduler tick failed")
            self._stop.wait(pause)
