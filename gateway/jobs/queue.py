"""One way to enqueue work: rq queues when Redis is configured, an in-process worker otherwise.

Jobs are plain importable functions that take ids (rq imports them by name in the worker).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

QUEUE_NAME = "ccr"
# Work that may wait (contact volume evaluation): it never holds up delivering mail, and
# under a flood of contacts its queued jobs are merged into fewer, larger ones.
BACKGROUND_QUEUE_NAME = "ccr-background"

# The runtime an in-process job runs under (several runtimes can share a process in tests and
# tools); rq jobs run in a worker process with exactly one.
current_owner: ContextVar[Any] = ContextVar("ccr_job_owner", default=None)
RETRY_DELAYS = (5, 30, 120)  # seconds between attempts of a failing job
# In-process background work shares the interpreter lock with the SMTP intake: after each
# background job its thread rests this many times the job's own duration (at most
# BACKGROUND_REST_MAX seconds), so it takes at most a tenth of the time. Work queued
# meanwhile is merged, so a flood costs fewer, larger evaluations rather than a backlog.
# The cap is generous because a flood makes each evaluation longer (a sender's whole recent
# history is counted again): with a cap of a few seconds, evaluations took a third of the
# CPU after some 10,000 messages from one sender. An alert is then late by a minute or so,
# which no manager notices.
BACKGROUND_REST_RATIO = 9.0
BACKGROUND_REST_MAX = 90.0
JOB_TIMEOUT_SECONDS = 1800
# The most ids one merged call takes: its statements stay well inside SQLite's variable limit.
MERGE_LIMIT = 1000
# How long a worker lets mergeable jobs gather before it runs them (a delivery a few tens of
# milliseconds later goes unnoticed; under load it shares one claim among many messages).
MERGE_WAIT_SECONDS = 0.03
# rq refuses any other job id; both queues apply its rule so the embedded mode finds a bad id
# in tests rather than the first production deployment with Redis.
VALID_JOB_ID = re.compile(r"[A-Za-z0-9_-]+")


def check_job_id(job_id: str | None) -> None:
    if job_id is not None and not VALID_JOB_ID.fullmatch(job_id):
        raise ValueError(f"job id {job_id!r} may hold only letters, digits, '_' and '-'")


class JobQueue(Protocol):
    def enqueue(
        self,
        func: Callable[..., Any],
        *args: Any,
        job_id: str | None = None,
        background: bool = False,
    ) -> str:
        """Queue func(*args) to run once in the background; returns the job id.

        `background=True` puts it on the low-priority queue, run only when no mail waits.
        """
        ...

    @property
    def stopping(self) -> bool:
        """True once the process is stopping: a long job should wind up and give back
        what it has not started."""
        ...

    def close(self) -> None: ...


@dataclass
class FailedJob:
    job_id: str
    func: str
    error: str
    traceback: str


def mergeable(func: Callable[[list[int]], Any]) -> Callable[[list[int]], Any]:
    """Mark a job taking one list of ids as mergeable: an in-process worker runs the ids of
    such jobs waiting behind it in one call (see InProcessQueue), so that under load the
    fixed cost of a job (its transactions) is shared by many messages or contacts."""
    func.merge_ids = True  # type: ignore[attr-defined]
    return func


Item = tuple[str, Callable[..., Any], tuple[Any, ...], int]


class InProcessQueue:
    """Worker threads in this process, for the embedded defaults (no Redis).

    More than one, so that a long job (a maintenance run over a large register) never holds
    up the delivery of mail queued behind it. Background jobs have a thread of their own.
    A mergeable job takes with it the jobs of the same function waiting behind it, so a
    flood of mail or contacts costs a few large deliveries and evaluations instead of one
    per intake batch.
    """

    def __init__(
        self, retry_delays: tuple[float, ...] = RETRY_DELAYS, owner: Any = None, workers: int = 2
    ) -> None:
        self.owner = owner
        self.workers = workers
        self._queue: queue.Queue[Item | None] = queue.Queue()
        self._background: queue.Queue[Item | None] = queue.Queue()
        self._retry_delays = retry_delays
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._counter = 0
        self.failed: list[FailedJob] = []
        self._threads = [
            threading.Thread(target=self._work, args=(self._queue,), name=f"ccr-jobs-{n}")
            for n in range(workers)
        ]
        self._threads.append(
            threading.Thread(target=self._work, args=(self._background, True), name="ccr-jobs-bg")
        )
        self._closing = threading.Event()
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    def enqueue(
        self,
        func: Callable[..., Any],
        *args: Any,
        job_id: str | None = None,
        background: bool = False,
    ) -> str:
        check_job_id(job_id)
        with self._lock:
            self._counter += 1
            job_id = job_id or f"job-{self._counter}"
            if job_id in self._pending:
                return job_id  # the same deterministic job is already waiting
            self._pending.add(job_id)
        (self._background if background else self._queue).put((job_id, func, args, 1))
        return job_id

    @property
    def stopping(self) -> bool:
        return self._closing.is_set()

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
        self._closing.set()
        for _ in range(self.workers):
            self._queue.put(None)
        self._background.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

    def _work(self, jobs: queue.Queue[Item | None], background: bool = False) -> None:
        while (item := jobs.get()) is not None:
            started = time.monotonic()
            if item[3] == 1 and getattr(item[1], "merge_ids", False):
                if not background:
                    self._closing.wait(MERGE_WAIT_SECONDS)  # let the next few join this one
                self._run_merged(jobs, [item, *_merge_waiting(jobs, item)])
            else:
                self._run(jobs, item)
            if background:
                rest = (time.monotonic() - started) * BACKGROUND_REST_RATIO
                self._closing.wait(min(rest, BACKGROUND_REST_MAX))

    def _run(self, jobs: queue.Queue[Item | None], item: Item) -> None:
        job_id, func, args, attempt = item
        try:
            self._call(func, args)
        except Exception as exc:
            self._retry_later_or_fail(job_id, func, args, attempt, exc, jobs)
            return
        self._finish(job_id)

    def _run_merged(self, jobs: queue.Queue[Item | None], items: list[Item]) -> None:
        """First attempts of one mergeable job, run as one call on the union of their ids.

        Should that call fail, each job is retried on its own, as if never merged."""
        func = items[0][1]
        ids = sorted({i for item in items for i in item[2][0]})
        try:
            self._call(func, (ids,))
        except Exception as exc:
            for job_id, _, args, attempt in items:
                self._retry_later_or_fail(job_id, func, args, attempt, exc, jobs)
            return
        for item in items:
            self._finish(item[0])

    def _call(self, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
        token = current_owner.set(self.owner)
        try:
            func(*args)
        finally:
            current_owner.reset(token)

    def _retry_later_or_fail(
        self,
        job_id: str,
        func: Callable[..., Any],
        args: tuple,
        attempt: int,
        exc: Exception,
        jobs: queue.Queue[Item | None],
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
        timer = threading.Timer(delay, jobs.put, ((job_id, func, args, attempt + 1),))
        timer.daemon = True
        timer.start()

    def _finish(self, job_id: str) -> None:
        with self._lock:
            self._pending.discard(job_id)

    def _record_failure(self, job_id: str, func: Callable[..., Any], exc: Exception) -> None:
        log.error("job %s (%s) failed for good: %s", job_id, _name(func), type(exc).__name__)
        self.failed.append(FailedJob(job_id, _name(func), str(exc), traceback.format_exc()))


def _merge_waiting(jobs: queue.Queue[Item | None], first: Item) -> list[Item]:
    """Take from the queue first attempts of `first`'s function, up to MERGE_LIMIT ids in
    all; put the rest back."""
    taken: list[Item] = []
    others: list[Item | None] = []
    ids = len(first[2][0])
    while ids < MERGE_LIMIT:
        try:
            item = jobs.get_nowait()
        except queue.Empty:
            break
        if item is not None and item[1] is first[1] and item[3] == 1:
            taken.append(item)
            ids += len(item[2][0])
        else:
            others.append(item)
    for item in others:
        jobs.put(item)
    return taken


class RqQueue:
    """Jobs on a Redis-backed rq queue, run by `ccr worker` processes on any machine."""

    def __init__(self, redis_url: str) -> None:
        from redis import Redis
        from rq import Queue

        # Timeouts: an unreachable Redis must fail an enqueue (the sweep catches up), not
        # hang the caller.
        self.connection = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self.queue = Queue(QUEUE_NAME, connection=self.connection)
        self.background = Queue(BACKGROUND_QUEUE_NAME, connection=self.connection)

    @property
    def stopping(self) -> bool:
        # Jobs run in `ccr worker` processes, which finish the job in hand on SIGTERM (rq's
        # warm shutdown); the compose file gives them the time to.
        return False

    def enqueue(
        self,
        func: Callable[..., Any],
        *args: Any,
        job_id: str | None = None,
        background: bool = False,
    ) -> str:
        from rq import Retry

        job = (self.background if background else self.queue).enqueue(
            func,
            *args,
            job_id=job_id,
            retry=Retry(max=len(RETRY_DELAYS), interval=list(RETRY_DELAYS)),
            # rq's default of 180 s would stop a delivery batch behind a slow downstream.
            job_timeout=JOB_TIMEOUT_SECONDS,
        )
        return job.id

    def close(self) -> None:
        self.connection.close()


def make_job_queue(redis_url: str | None) -> JobQueue:
    """rq when Redis is configured, the in-process worker otherwise."""
    return RqQueue(redis_url) if redis_url else InProcessQueue()


def _name(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"
