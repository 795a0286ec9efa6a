"""Background jobs as operators see them: in-process and on rq with real Redis and real
`ccr worker` processes, and a schedule that runs each slot once across processes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import func, select

from gateway.bootstrap import bootstrap
from gateway.jobs.queue import QUEUE_NAME, InProcessQueue, RqQueue, mergeable
from gateway.jobs.scheduler import PeriodicTask, Scheduler
from gateway.runtime import Runtime, runtime
from gateway.services import register_service
from gateway.services.maintenance import run_maintenance
from gateway.settings import Settings
from gateway.store.tables import ScheduledRun
from routing.enums import Category, EmailMeasure, IdentityKind, RestrictionStatus, Role, Stage
from routing.lifecycle import Actor
from routing.models import AuditEntry, Restriction, utcnow
from routing.terms import RestrictionDraft
from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
CCR = str(Path(sys.executable).with_name("ccr"))
MARKER = "test.marker"
ATTEMPT = "test.attempt"
TICK = "test.tick"
INTERVAL = 3600


# --- jobs: plain importable functions taking ids, so rq workers can import them by name ---


def write_marker(marker: str) -> None:
    """A job whose only effect is one audit row naming the marker."""
    _audit(MARKER, marker)


def fail_job(marker: str) -> None:
    """A job that records each attempt, then fails."""
    _audit(ATTEMPT, marker)
    raise RuntimeError(f"job {marker} failed on purpose")


def record_tick() -> None:
    """A scheduled task: one audit row per run."""
    _audit(TICK, "tick")


@mergeable
def write_id_markers(ids: list[int]) -> None:
    """A mergeable job: one audit row per call, naming every id it was given."""
    _audit(MARKER, ",".join(map(str, ids)))


@mergeable
def fail_on_merged_ids(ids: list[int]) -> None:
    """A mergeable job that fails whenever it is given more than one id."""
    _audit(ATTEMPT, ",".join(map(str, ids)))
    if len(ids) > 1:
        raise RuntimeError("cannot take these together")


def _audit(action: str, marker: str) -> None:
    with runtime().uow() as session:
        session.add(
            AuditEntry(
                at=utcnow(), actor="test", action=action, subject_type="test", subject_ref=marker
            )
        )


# --- helpers ------------------------------------------------------------------------------


def count(rt: Runtime, action: str, marker: str | None = None) -> int:
    """How many audit rows a job (or its attempts) left."""
    query = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
    if marker is not None:
        query = query.where(AuditEntry.subject_ref == marker)
    with rt.uow() as session:
        return session.scalar(query) or 0


def drain(rt: Runtime) -> None:
    assert isinstance(rt.jobs, InProcessQueue)
    assert rt.jobs.join(timeout=10), "in-process jobs did not finish"


@pytest.fixture
def jobs(rt: Runtime) -> Iterator[InProcessQueue]:
    """An in-process queue with quick retries; its jobs write through the test's runtime."""
    queue = InProcessQueue(retry_delays=(0.01, 0.01))
    yield queue
    queue.close()


@pytest.fixture
def worker_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a `ccr` process on this test's database, without Redis."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CCR_")}
    return {
        **clean,
        "CCR_CONFIG": str(ROOT / "config" / "ccr.toml"),
        "CCR_DATABASE_URL": database_url,
        "CCR_DOWNSTREAM": f"maildir:{tmp_path / 'mail'}",
        "CCR_LOG_LEVEL": "WARNING",
        # rq imports this module's jobs by name: the repository root must be importable.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


@pytest.fixture
def rq_env(worker_env: dict[str, str], redis_url: str) -> dict[str, str]:
    return {**worker_env, "CCR_REDIS_URL": redis_url}


@pytest.fixture
def rq_jobs(redis_url: str) -> Iterator[RqQueue]:
    queue = RqQueue(redis_url)
    yield queue
    queue.close()


def ccr_worker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CCR, "worker", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@contextmanager
def running_worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running `ccr worker`, stopped with SIGTERM (killed if it will not stop)."""
    with log.open("wb") as output:
        worker = subprocess.Popen([CCR, "worker"], env=env, cwd=ROOT, stdout=output, stderr=output)
        try:
            yield worker
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def run_burst_worker(env: dict[str, str]) -> str:
    """Run a real `ccr worker --burst` until the queue is empty; returns what it logged."""
    finished = ccr_worker(env, "--burst")
    assert finished.returncode == 0, finished.stderr
    return finished.stderr


def ended_yesterday(rt: Runtime, make_staff: Callable[[str, Role], Actor]) -> int:
    """An approved restriction whose last day was yesterday (council date); returns its id."""
    manager = make_staff("manager@council.example.org", Role.MANAGER)
    approver = make_staff("approver@council.example.org", Role.APPROVER)
    now = utcnow()
    today = rt.today(now)
    draft = RestrictionDraft(
        stage=Stage.STAGE1,
        category=Category.C,
        starts_on=today - dt.timedelta(days=90),
        ends_on=today - dt.timedelta(days=1),
        email_measure=EmailMeasure.REDIRECT,
        spoc_email="spoc@council.example.org",
    )
    with rt.uow() as session:
        customer = register_service.add_customer(session, manager, now, name="Jo Example")
        register_service.link_raw_identity(
            session,
            manager,
            now,
            customer,
            "jo.example@example.org",
            IdentityKind.EMAIL,
            fold_plus=True,
            region="GB",
        )
        restriction = register_service.draft_restriction(session, manager, now, customer, draft)
        register_service.submit(session, manager, now, restriction.id)
        register_service.approve(
            session, approver, now, restriction.id, today=today, appeal_days=14
        )
        return restriction.id


# --- in-process queue ---------------------------------------------------------------------


def test_in_process_job_runs_and_its_effect_is_in_the_database(
    rt: Runtime, jobs: InProcessQueue
) -> None:
    jobs.enqueue(write_marker, "in-process")
    assert jobs.join(timeout=10)
    assert count(rt, MARKER, "in-process") == 1
    assert jobs.failed == []


def test_failing_in_process_job_is_retried_then_recorded_and_the_worker_carries_on(
    rt: Runtime, jobs: InProcessQueue
) -> None:
    failing = jobs.enqueue(fail_job, "doomed")
    jobs.enqueue(write_marker, "after-failure")
    assert jobs.join(timeout=10)
    assert count(rt, ATTEMPT, "doomed") == 3  # the first attempt and two retries
    [failure] = jobs.failed
    assert failure.job_id == failing
    assert failure.func == f"{__name__}.fail_job"
    assert failure.error == "job doomed failed on purpose"
    assert "RuntimeError" in failure.traceback
    assert count(rt, MARKER, "after-failure") == 1


def test_deterministic_job_enqueued_twice_while_pending_runs_once(
    rt: Runtime, jobs: InProcessQueue
) -> None:
    gate = threading.Event()
    try:
        for _ in range(jobs.workers):  # keeps every worker busy so the next jobs stay pending
            jobs.enqueue(gate.wait, 10)
        first = jobs.enqueue(write_marker, "once", job_id="marker-once")
        second = jobs.enqueue(write_marker, "once", job_id="marker-once")
        jobs.enqueue(write_marker, "twice")
        jobs.enqueue(write_marker, "twice")
    finally:
        gate.set()
    assert jobs.join(timeout=10)
    assert first == second == "marker-once"
    assert count(rt, MARKER, "once") == 1
    assert count(rt, MARKER, "twice") == 2  # without an id, every enqueue is a job


def test_a_long_job_does_not_hold_up_the_jobs_queued_behind_it(
    rt: Runtime, jobs: InProcessQueue
) -> None:
    gate = threading.Event()
    try:
        jobs.enqueue(gate.wait, 10)  # a maintenance run over a large register, say
        jobs.enqueue(write_marker, "behind-a-long-job")
        wait_until(
            lambda: count(rt, MARKER, "behind-a-long-job") > 0,
            5,
            "the job queued behind the long one",
            interval=0.02,
        )
        assert count(rt, MARKER, "behind-a-long-job") == 1
    finally:
        gate.set()


def test_background_work_never_holds_up_the_jobs_that_deliver_mail(
    rt: Runtime, jobs: InProcessQueue
) -> None:
    gate = threading.Event()
    try:
        for _ in range(3):  # a backlog of contact volume evaluations, say
            jobs.enqueue(gate.wait, 10, background=True)
        jobs.enqueue(write_marker, "mail")
        wait_until(lambda: count(rt, MARKER, "mail") == 1, 5, "the mail job")
    finally:
        gate.set()
    assert jobs.join(timeout=10)


def test_mergeable_jobs_waiting_together_run_as_one(rt: Runtime, jobs: InProcessQueue) -> None:
    gate = threading.Event()
    try:
        jobs.enqueue(gate.wait, 10, background=True)  # the lane is busy: the next ones wait
        for ids in ([3, 1], [2], [1, 4]):
            jobs.enqueue(write_id_markers, ids, background=True)
        jobs.enqueue(write_marker, "not merged", background=True)
    finally:
        gate.set()
    assert jobs.join(timeout=10)
    assert count(rt, MARKER) == 2
    assert count(rt, MARKER, "1,2,3,4") == 1
    assert count(rt, MARKER, "not merged") == 1


def test_mergeable_jobs_merge_on_the_main_lane_too(rt: Runtime, jobs: InProcessQueue) -> None:
    # Delivery jobs queued behind busy workers go out as one job: one claim, one record.
    gates = [threading.Event() for _ in range(jobs.workers)]
    try:
        for gate in gates:
            jobs.enqueue(gate.wait, 10)
        for ids in ([5], [6, 7], [8]):
            jobs.enqueue(write_id_markers, ids)
        gates[0].set()  # one worker free: it takes the first job, and the others with it
        wait_until(lambda: count(rt, MARKER) == 1, 5, "the merged job")
    finally:
        for gate in gates:
            gate.set()
    assert jobs.join(timeout=10)
    assert count(rt, MARKER) == 1
    assert count(rt, MARKER, "5,6,7,8") == 1


def test_a_merged_run_that_fails_retries_each_job_on_its_own(
    rt: Runtime, jobs: InProcessQueue
) -> None:
    gate = threading.Event()
    try:
        jobs.enqueue(gate.wait, 10, background=True)
        for ids in ([1], [2]):
            jobs.enqueue(fail_on_merged_ids, ids, background=True)
    finally:
        gate.set()
    assert jobs.join(timeout=20)
    assert count(rt, ATTEMPT, "1,2") == 1  # merged, and failed
    assert (count(rt, ATTEMPT, "1"), count(rt, ATTEMPT, "2")) == (1, 1)  # each retried alone
    assert jobs.failed == []


# --- rq with real Redis and real `ccr worker` processes ------------------------------------


@pytest.mark.redis
def test_rq_job_runs_in_a_ccr_worker_process_and_writes_to_the_database(
    rt: Runtime, rq_jobs: RqQueue, rq_env: dict[str, str]
) -> None:
    rq_jobs.enqueue(write_marker, "from-rq")
    log = run_burst_worker(rq_env)
    assert "Traceback" not in log, log
    assert count(rt, MARKER, "from-rq") == 1
    assert rq_jobs.queue.count == 0


@pytest.mark.redis
def test_ccr_worker_takes_mail_before_background_work(
    rt: Runtime, rq_jobs: RqQueue, rq_env: dict[str, str]
) -> None:
    rq_jobs.enqueue(write_marker, "background", background=True)
    rq_jobs.enqueue(write_marker, "mail")
    run_burst_worker(rq_env)
    with rt.uow() as session:
        order = list(
            session.scalars(
                select(AuditEntry.subject_ref)
                .where(AuditEntry.action == MARKER)
                .order_by(AuditEntry.id)
            )
        )
    assert order == ["mail", "background"]


@pytest.mark.redis
def test_failing_rq_job_without_retries_lands_in_the_failed_registry(
    rt: Runtime, redis_url: str, rq_env: dict[str, str]
) -> None:
    with Redis.from_url(redis_url) as connection:
        queue = Queue(QUEUE_NAME, connection=connection)
        job = queue.enqueue(fail_job, "rq-failure")
        run_burst_worker(rq_env)
        assert job.id in FailedJobRegistry(queue=queue)
        result = Job.fetch(job.id, connection=connection).latest_result()
    assert result is not None
    assert "job rq-failure failed on purpose" in (result.exc_string or "")
    assert count(rt, ATTEMPT, "rq-failure") == 1


@pytest.mark.redis
def test_failing_rq_job_is_kept_for_a_retry_with_back_off_not_dropped(
    rt: Runtime, rq_jobs: RqQueue, rq_env: dict[str, str]
) -> None:
    job_id = rq_jobs.enqueue(fail_job, "rq-retry")
    run_burst_worker(rq_env)
    assert job_id in ScheduledJobRegistry(queue=rq_jobs.queue)
    assert job_id not in FailedJobRegistry(queue=rq_jobs.queue)
    assert Job.fetch(job_id, connection=rq_jobs.connection).retries_left == 2
    assert count(rt, ATTEMPT, "rq-retry") == 1


@pytest.mark.redis
@pytest.mark.slow
def test_long_running_ccr_worker_retries_a_failed_job_after_the_back_off(
    rt: Runtime, rq_jobs: RqQueue, rq_env: dict[str, str], tmp_path: Path
) -> None:
    with running_worker(rq_env, tmp_path / "worker.log"):
        rq_jobs.enqueue(fail_job, "rq-retried")
        wait_until(lambda: count(rt, ATTEMPT, "rq-retried") == 1, 30, "the first attempt")
        # The first retry is due 5 s after the failure.
        wait_until(lambda: count(rt, ATTEMPT, "rq-retried") == 2, 12, "the retry")


@pytest.mark.redis
def test_maintenance_job_on_rq_expires_an_ended_restriction(
    rt: Runtime,
    rq_jobs: RqQueue,
    rq_env: dict[str, str],
    make_staff: Callable[[str, Role], Actor],
) -> None:
    restriction_id = ended_yesterday(rt, make_staff)
    rq_jobs.enqueue(run_maintenance)
    # Keep it expired for a while, so this run does not also make it dormant.
    log = run_burst_worker({**rq_env, "CCR_DORMANT_AFTER_DAYS": "30"})
    assert "Traceback" not in log, log
    with rt.uow() as session:
        restriction = session.get(Restriction, restriction_id)
        assert restriction is not None
        assert restriction.status is RestrictionStatus.EXPIRED
        assert restriction.ended_at is not None


@pytest.mark.redis
def test_a_job_queued_under_its_module_path_before_the_move_still_runs(
    rt: Runtime,
    redis_url: str,
    rq_env: dict[str, str],
    make_staff: Callable[[str, Role], Actor],
) -> None:
    # Release 0.1 queued maintenance as gateway.maintenance.run_maintenance.
    restriction_id = ended_yesterday(rt, make_staff)
    with Redis.from_url(redis_url) as connection:
        queue = Queue(QUEUE_NAME, connection=connection)
        job = queue.enqueue("gateway.maintenance.run_maintenance")
        log = run_burst_worker({**rq_env, "CCR_DORMANT_AFTER_DAYS": "30"})
        assert job.id not in FailedJobRegistry(queue=queue), log
    with rt.uow() as session:
        restriction = session.get(Restriction, restriction_id)
        assert restriction is not None
        assert restriction.status is RestrictionStatus.EXPIRED


def test_ccr_worker_without_redis_says_so_in_one_line(worker_env: dict[str, str]) -> None:
    finished = ccr_worker(worker_env, "--burst")
    assert finished.returncode != 0
    lines = finished.stderr.splitlines()
    assert len(lines) == 1, finished.stderr
    assert lines[0].startswith("ccr: error:")
    assert "CCR_REDIS_URL" in lines[0]


# --- the schedule across processes --------------------------------------------------------


@pytest.fixture
def two_processes(settings: Settings) -> Iterator[tuple[Runtime, Runtime]]:
    """Two runtimes on one database, standing for two `ccr` processes (in-process jobs)."""
    first, second = bootstrap(settings), bootstrap(settings)
    yield first, second
    first.close()
    second.close()


@dataclass
class FixedClock:
    """The time every process reads; moved on by the test."""

    seconds: float

    def __call__(self) -> float:
        return self.seconds


def tick_together(schedulers: list[Scheduler]) -> list[str]:
    """Every scheduler ticks at the same moment; returns all the job ids enqueued."""
    start = threading.Barrier(len(schedulers))

    def tick(scheduler: Scheduler) -> list[str]:
        start.wait(timeout=10)
        return scheduler.tick()

    with ThreadPoolExecutor(len(schedulers)) as pool:
        return [job_id for ids in pool.map(tick, schedulers) for job_id in ids]


def scheduled_runs(rt: Runtime) -> list[tuple[str, str]]:
    with rt.uow() as session:
        return [(r.task, r.slot) for r in session.scalars(select(ScheduledRun).order_by("id"))]


def test_two_processes_ticking_in_one_slot_run_the_task_once_then_once_per_slot(
    two_processes: tuple[Runtime, Runtime],
) -> None:
    slot = 500_000
    clock = FixedClock(slot * INTERVAL + 10.0)
    schedulers = [
        Scheduler(rt, {"tick": PeriodicTask(record_tick, INTERVAL)}, clock) for rt in two_processes
    ]

    assert tick_together(schedulers) == [f"tick-{slot}"]
    clock.seconds += INTERVAL / 2  # later in the same slot: nothing more
    assert tick_together(schedulers) == []
    clock.seconds += INTERVAL
    assert tick_together(schedulers) == [f"tick-{slot + 1}"]

    for rt in two_processes:
        drain(rt)
    first = two_processes[0]
    assert scheduled_runs(first) == [("tick", str(slot)), ("tick", str(slot + 1))]
    assert count(first, TICK) == 2
