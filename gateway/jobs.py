"""One way to enqueue work: rq queues when Redis is configured, an in-process worker otherwise.

Jobs are plain importable functions that take ids (rq imports them by name in the worker).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

QUEUE_NAME = "ccr"

# The runtime an in-process job runs under (several runtimes can share a process in tests and
# tools); rq jobs run in a worker process with exactly one.
current_owner: ContextVar[Any] = ContextVar("ccr_job_owner", default=None)
RETRY_DELAYS = (5, 30, 120)  # seconds between attempts of a failing job


class JobQueue(Protocol):
    def enqueue(self, func: Callable[..., Any], *args: Any, job_id: str | None = None) -> str:
        """Queue func(*args) to run once in the background; returns the job id."""
        ...

    def close(self) -> None: ...


@dataclass
class FailedJob:
    job_id: str
    func: str
    error: str
    traceback: str


class InProcessQueue:
    """A worker thread in this process, for the embedded defaults (no Redis)."""

    def __init__(self, retry_delays: tuple[float, ...] = RETRY_DELAYS, owner: Any = None) -> None:
        self.owner = owner
        self._queue: queue.Queue[tuple[str, Callable[..., Any], tuple[Any, ...], int] | None] = (
            queue.Queue()
        )
        self._retry_delays = retry_delays
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._counter = 0
        self.failed: list[FailedJob] = []
        self._thread = threading.Thread(target=self._work, name="ccr-jobs", daemon=True)
        self._thread.start()

    def enqueue(self, func: Callable[..., Any], *args: Any, job_id: str | None = None) -> str:
        with self._lock:
            self._counter += 1
            job_id = job_id or f"job-{self._counter}"
            if job_id in self._pending:
                return job_id  # the same deterministic job is already waiting
            self._pending.add(job_id)
        self._queue.put((job_id, func, args, 1))
        return job_id

    def join(self, timeout: float = 30.0) -> bool:
        """Wait until every queued job has finished; False if they did not in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            job_id, func, args, attempt = item
            token = current_owner.set(self.owner)
            try:
                func(*args)
            except Exception as exc:
                self._retry_later_or_fail(job_id, func, args, attempt, exc)
                continue
            finally:
                current_owner.reset(token)
            self._finish(job_id)

    def _retry_later_or_fail(
        self, job_id: str, func: Callable[..., Any], args: tuple, attempt: int, exc: Exception
    ) -> None:
        # A failing job waits on a timer, not on the worker thread, so other jobs go on.
        if attempt > len(self._retry_delays):
            self._record_failure(job_id, func, exc)
            self._finish(job_id)
            return
        delay = self._retry_delays[attempt - 1]
        log.warning(
            "job %s (%s) failed on attempt %d; retrying in %ss", job_id, _name(func), attempt, delay
        )
        timer = threading.Timer(delay, self._queue.put, ((job_id, func, args, attempt + 1),))
        timer.daemon = True
        timer.start()

    def _finish(self, job_id: str) -> None:
        with self._lock:
            self._pending.discard(job_id)

    def _record_failure(self, job_id: str, func: Callable[..., Any], exc: Exception) -> None:
        log.error("job %s (%s) failed for good: %s", job_id, _name(func), type(exc).__name__)
        self.failed.append(FailedJob(job_id, _name(func), str(exc), traceback.format_exc()))


class RqQueue:
    """Jobs on a Redis-backed rq queue, run by `ccr worker` processes on any machine."""

    def __init__(self, redis_url: str) -> None:
        from redis import Redis
        from rq import Queue

        self.connection = Redis.from_url(redis_url)
        self.queue = Queue(QUEUE_NAME, connection=self.connection)

    def enqueue(self, func: Callable[..., Any], *args: Any, job_id: str | None = None) -> str:
        from rq import Retry

        job = self.queue.enqueue(
            func,
            *args,
            job_id=job_id,
            retry=Retry(max=len(RETRY_DELAYS), interval=list(RETRY_DELAYS)),
        )
        return job.id

    def close(self) -> None:
        self.connection.close()


def make_job_queue(redis_url: str | None) -> JobQueue:
    """rq when Redis is configured, the in-process worker otherwise."""
    return RqQueue(redis_url) if redis_url else InProcessQueue()


def _name(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"
