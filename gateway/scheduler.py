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
from typing import Any

from sqlalchemy.exc import IntegrityError

from gateway import repository
from gateway.bootstrap import Runtime

log = logging.getLogger(__name__)


class Scheduler:
    """Enqueue each periodic task once per interval across all processes."""

    def __init__(
        self,
        rt: Runtime,
        tasks: dict[str, Callable[..., Any]],
        interval_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rt = rt
        self._tasks = tasks
        self._interval = interval_seconds
        self._clock = clock
        self._name = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[str]:
        """Enqueue whichever tasks this process wins for the current slot; returns job ids."""
        slot = str(int(self._clock() // self._interval))
        return [
            self._rt.jobs.enqueue(func, job_id=f"{task}:{slot}")
            for task, func in self._tasks.items()
            if self._claim(task, slot)
        ]

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
        pause = min(30.0, self._interval / 2)
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # keep ticking: a database blip must not end the schedule
                log.exception("scheduler tick failed")
            self._stop.wait(pause)


def default_tasks() -> dict[str, Callable[..., Any]]:
    from gateway.maintenance import run_maintenance

    return {"maintenance": run_maintenance}
