"""How fast does the SMTP gateway relay mail, next to a bare aiosmtpd relay and Postfix?

In one run, against the same downstream ``smtp-sink`` (Postfix's test server, which
discards), with 10 concurrent sessions from ``smtp-source`` (Postfix's load generator) at
2 KB and 100 KB payloads, it measures messages per second for:

- (a) smtp-source straight into smtp-sink: the load rig's limit on this machine;
- (b) a bare aiosmtpd relay (``bench/smtp_peers.py``) that forwards each message to
  smtp-sink with aiosmtplib and answers 250 only after smtp-sink's 250;
- (c) a private Postfix instance relaying to smtp-sink (fsync'd queue, stock settings):
  accepted/s (smtp-source finishing) and delivered/s (smtp-sink counting every message);
- (p) the gateway, ``ccr gateway`` (or ``--gateway-cmd``), with a private PostgreSQL
  register of 10,000 active restrictions, loaded by ``bench/decide.py``'s functions.

It prints the ratios p/b and p/c against the issue's targets, then runs a second pass
with an asyncio client on raw streams (``bench/smtp_peers.py``) that times every message
from writing the final ``.`` of DATA to reading the reply: p50 and p99 per case, and its
own throughput as a cross-check.

The system under test (relay, Postfix, gateway) is pinned to one core and the load rig
(smtp-sink, smtp-source, this process and its latency client) to the other; for (a)
smtp-source takes the idle core. PostgreSQL is a system service and is not pinned.

Run from the project root (needs Debian's ``postfix`` package installed but not running,
PostgreSQL on 127.0.0.1:5432 with trust auth, aiosmtpd and aiosmtplib in the venv)::

    .venv/bin/python bench/smtp_throughput.py          # 10,000 x 2 KB, 3,000 x 100 KB
    .venv/bin/python bench/smtp_throughput.py --quick  # 1,000 per case, about a minute
    .venv/bin/python bench/smtp_throughput.py --gateway-cmd ".venv/bin/ccr gateway"

It prints figures and each target next to its figure; it asserts nothing. Every process
it started, its temporary directory (``/tmp/ccr-smtpbench-*``) and its database
(``ccr_smtpbench_<pid>``) are removed at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import os
import platform
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import aiosmtpd
import aiosmtplib

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent


def load_bench_module(name: str) -> ModuleType:
    """Import ``bench/<name>.py`` by path: ``bench/`` is a folder of scripts, not a package."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH_DIR / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load bench/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


peers = load_bench_module("smtp_peers")

SESSIONS = 10
SIZES = (2_048, 102_400)
REGISTER_IDENTITIES = 100_000  # decide.plan_register makes a tenth as many restrictions
RESTRICTED_SHARE = 0.2  # of the latency pass's senders, as in bench/decide.py
ACCEPTED_DOMAIN = "council.example.org"
DEFAULT_GATEWAY_CMD = ".venv/bin/ccr gateway"
GATEWAY_START_TIMEOUT = 60.0
# Each case starts only once the system-under-test CPU is this idle (over QUIET_WINDOW
# seconds): otherwise one case's leftovers (the gateway's start-up maintenance, its volume
# evaluations catching up, Postfix's queue) would slow the next case down.
QUIET_BUSY = 0.10
QUIET_WINDOW = 0.5
QUIET_TIMEOUT = 180.0
TARGETS = {2_048: 0.7, 102_400: 1.0}  # p/b at each size
CASES = {
    "a": "(a) straight into smtp-sink",
    "b": "(b) bare aiosmtpd relay",
    "c": "(c) Postfix relay",
    "p": "(p) ccr gateway",
}


@dataclass(frozen=True)
class RunMode:
    """Messages per case at each size, and the untimed warm-up before each case."""

    name: str
    messages: dict[int, int]
    warmup: int


FULL = RunMode("full", {2_048: 10_000, 102_400: 3_000}, warmup=200)
QUICK = RunMode("quick", {2_048: 1_000, 102_400: 1_000}, warmup=50)


@dataclass(frozen=True)
class Placement:
    """Which CPU runs what (None: not pinned, a single-core machine)."""

    sut: int | None  # relay, Postfix, gateway
    rig: int | None  # smtp-sink, smtp-source, this process


@dataclass
class Throughput:
    """One smtp-source run into one case, and when smtp-sink had every message."""

    messages: int
    accepted_s: float = 0.0
    delivered_s: float | None = None  # None: not all delivered before the timeout
    error: str = ""
    # Busy time of the system-under-test CPU from spawn until the sink had every message,
    # per message (None for (a), whose system-under-test CPU runs smtp-source).
    sut_cpu_ms: float | None = None

    @property
    def accepted_rate(self) -> float:
        return self.messages / self.accepted_s if self.accepted_s else 0.0

    @property
    def delivered_rate(self) -> float | None:
        return self.messages / self.delivered_s if self.delivered_s else None


@dataclass
class Targets:
    """The peers of one run, each a port to send to (the gateway's may be missing)."""

    sink: Any  # smtp_peers.Sink
    ports: dict[str, int]
    postfix: Any  # smtp_peers.PrivatePostfix
    gateway_note: str = ""
    gateway_pid: int | None = None


@dataclass
class Results:
    throughput: dict[tuple[str, int], Throughput] = field(default_factory=dict)
    gateway_threads: dict[int, dict[str, float]] = field(default_factory=dict)  # ms/msg
    latency: dict[tuple[str, int], Any] = field(default_factory=dict)  # smtp_peers.LatencyRun


@dataclass
class Workload:
    """Envelopes: one unrestricted sender for smtp-source, an 80/20 mix for the client."""

    source_sender: str
    source_recipient: str
    envelopes: list[tuple[str, str]]


# --- placement ----------------------------------------------------------------------------


def choose_placement() -> Placement:
    """System under test on the highest CPU, the rig (and this process) on the lowest."""
    if not hasattr(os, "sched_setaffinity"):
        return Placement(None, None)
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return Placement(None, None)
    os.sched_setaffinity(0, {cpus[0]})
    return Placement(sut=cpus[-1], rig=cpus[0])


# --- the register and the envelopes (bench/decide.py's plan and loader) --------------------


def plan_workload(decide: ModuleType) -> tuple[Any, Workload]:
    """The register plan (10,000 restrictions) and envelopes drawn from its identities."""
    rng = random.Random(decide.SEED)
    plan = decide.plan_register(REGISTER_IDENTITIES, rng)
    email = decide.IdentityKind.EMAIL
    unrestricted, restricted = plan.pool(email, False), plan.pool(email, True)
    mailboxes = decide.MAILBOXES
    envelopes = [
        (
            rng.choice(restricted if rng.random() < RESTRICTED_SHARE else unrestricted),
            rng.choice(mailboxes),
        )
        for _ in range(5_000)
    ]
    return plan, Workload(unrestricted[0], mailboxes[0], envelopes)


def create_register(decide: ModuleType, plan: Any, database: str, env: dict[str, str]) -> float:
    """Create, migrate (``ccr db upgrade``) and populate the database; seconds taken."""
    start = time.perf_counter()
    decide.create_database(database)
    ccr = Path(sys.executable).with_name("ccr")
    migrated = subprocess.run(
        [str(ccr), "db", "upgrade"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if migrated.returncode != 0:
        raise RuntimeError(f"ccr db upgrade failed: {migrated.stderr.strip()[-500:]}")
    decide.populate(decide.conninfo(database), plan)
    return time.perf_counter() - start


# --- the peers ------------------------------------------------------------------------------


def gateway_environment(
    workdir: Path, port: int, sink_port: int, database_url: str
) -> dict[str, str]:
    """The process environment without any CCR_* of ours, plus the gateway's settings."""
    config = workdir / "ccr.toml"
    config.write_text("# empty: every setting comes from the environment or the defaults\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("CCR_")}
    env.update(
        CCR_CONFIG=str(config),
        CCR_SMTP_LISTEN=f"{peers.LOOPBACK}:{port}",
        CCR_WEB_LISTEN=f"{peers.LOOPBACK}:{peers.free_port()}",
        CCR_DOWNSTREAM=f"smtp://{peers.LOOPBACK}:{sink_port}",
        CCR_ACCEPTED_DOMAINS=ACCEPTED_DOMAIN,
        CCR_DATABASE_URL=database_url,
        CCR_SPOOL_DIR=str(workdir / "gateway-spool"),
    )
    return env


def start_gateway(
    command: Sequence[str], env: dict[str, str], port: int, cpu: int | None, log: Path
) -> tuple[Any, str]:
    """Start the gateway and wait for its 220; (process, "") or (None, why not)."""
    try:
        process = peers.start_process(command, cpu=cpu, log=log, env=env, cwd=PROJECT_ROOT)
    except OSError as exc:
        return None, f"{shlex.join(command)}: {exc}"
    if peers.wait_for_220(port, GATEWAY_START_TIMEOUT, process):
        return process, ""
    peers.stop_process(process)
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    last = lines[-1] if lines else "no output"
    if process.returncode is not None and process.returncode != -signal.SIGTERM:
        return None, f"`{shlex.join(command)}` exited {process.returncode}: {last}"
    return None, f"no 220 on port {port} within {GATEWAY_START_TIMEOUT:.0f} s: {last}"


def start_peers(
    stack: ExitStack, args: argparse.Namespace, placement: Placement, workdir: Path
) -> tuple[Targets, Workload | None]:
    """smtp-sink, the relay, Postfix and (if it starts) the gateway; stopped by ``stack``."""
    sink = peers.Sink(peers.free_port(), placement.rig, workdir / "smtp-sink.log")
    stack.callback(quietly, sink.stop)
    require_220("smtp-sink", sink.port, sink.process)

    relay = peers.start_relay(peers.free_port(), sink.port, placement.sut, workdir / "relay.log")
    stack.callback(quietly, relay.stop)
    require_220("aiosmtpd relay", relay.port, relay.process)

    postfix = peers.PrivatePostfix(workdir / "postfix", peers.free_port(), sink.port, placement.sut)
    postfix.configure()
    warnings = postfix.check()
    if warnings:
        print(f"postfix check: {warnings}", file=sys.stderr)
    stack.callback(quietly, postfix.stop)
    postfix.start()
    require_220("Postfix", postfix.port, None)

    targets = Targets(sink, {"a": sink.port, "b": relay.port, "c": postfix.port}, postfix)
    workload = start_gateway_with_register(stack, args, placement, workdir, targets)
    return targets, workload


def start_gateway_with_register(
    stack: ExitStack,
    args: argparse.Namespace,
    placement: Placement,
    workdir: Path,
    targets: Targets,
) -> Workload | None:
    """Register database plus gateway; None (and a note) if either is not possible."""
    try:
        decide = load_bench_module("decide")
    except Exception as exc:
        targets.gateway_note = (
            f"bench/decide.py is not importable ({type(exc).__name__}: {exc}); "
            "it needs the project installed in the venv (pip install -e .) to import gateway.*"
        )
        return None
    plan, workload = plan_workload(decide)
    database = f"ccr_smtpbench_{os.getpid()}"
    database_url = decide.sqlalchemy_url(database)
    port = peers.free_port()
    env = gateway_environment(workdir, port, targets.sink.port, database_url)
    stack.callback(quietly, decide.drop_databases, [database])
    seconds = create_register(decide, plan, database, env)
    command = shlex.split(args.gateway_cmd)
    process, why_not = start_gateway(command, env, port, placement.sut, workdir / "gateway.log")
    if process is None:
        targets.gateway_note = why_not
        return workload
    stack.callback(quietly, peers.stop_process, process)
    targets.ports["p"] = port
    targets.gateway_pid = process.pid
    targets.gateway_note = (
        f"`{args.gateway_cmd}` on port {port}; register {database}: "
        f"{plan.identities:,} identities, {plan.restrictions:,} active restrictions "
        f"(created, migrated and loaded in {seconds:.1f} s); spool in the temporary directory; "
        "no CCR_REDIS_URL, so delivery jobs run in-process"
    )
    return workload


def require_220(name: str, port: int, process: Any) -> None:
    if not peers.wait_for_220(port, 30.0, process):
        raise RuntimeError(f"{name} did not answer 220 on port {port}")


def quietly(function: Callable[..., object], *args: object) -> None:
    """Run one clean-up step; report a failure and carry on with the others."""
    try:
        function(*args)
    except Exception:
        print(f"clean-up step {function.__qualname__} failed:", file=sys.stderr)
        traceback.print_exc()


# --- measuring ------------------------------------------------------------------------------


@dataclass
class QuietWaits:
    """How long the cases waited for a quiet system-under-test CPU, and any that gave up."""

    seconds: float = 0.0
    gave_up: list[str] = field(default_factory=list)


QUIET = QuietWaits()


def cpu_ticks(cpu: int) -> tuple[int, int]:
    """One CPU's clock ticks since boot from /proc/stat: (all, idle and iowait)."""
    with open("/proc/stat") as stat:
        for line in stat:
            if line.startswith(f"cpu{cpu} "):
                ticks = [int(x) for x in line.split()[1:8]]  # user .. softirq
                return sum(ticks), ticks[3] + ticks[4]
    raise RuntimeError(f"no cpu{cpu} in /proc/stat")


def cpu_busy_fraction(cpu: int, seconds: float) -> float:
    """How busy one CPU was over the next `seconds`."""
    total0, idle0 = cpu_ticks(cpu)
    time.sleep(seconds)
    total1, idle1 = cpu_ticks(cpu)
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def cpu_busy_seconds(cpu: int | None) -> float | None:
    """Seconds one CPU has spent busy since boot (None: not pinned, or no /proc/stat)."""
    if cpu is None or not Path("/proc/stat").exists():
        return None
    total, idle = cpu_ticks(cpu)
    return (total - idle) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of a process, by thread id."""
    seconds = {}
    tick = os.sysconf("SC_CLK_TCK")
    with contextlib.suppress(FileNotFoundError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
                seconds[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


def python_thread_names(pid: int) -> dict[int, str]:
    """Thread id -> Python thread name, read with py-spy if it is installed ({} if not).

    The threads' kernel names are all the interpreter's, so only the Python names tell the
    event loop from the intake pool, the writer and the delivery jobs.
    """
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        return {}
    dump = subprocess.run(
        [spy, "dump", "--pid", str(pid)], capture_output=True, text=True, check=False
    )
    names = {}
    for line in dump.stdout.splitlines():
        found = re.match(r'Thread (\d+) \(\w+\): "([^"]*)"', line)
        if found:
            names[int(found.group(1))] = found.group(2)
    return names


THREAD_GROUPS = (  # Python thread name prefix -> what that thread does
    ("ccr-intake-writer", "intake writer (one statement per batch)"),
    ("ccr-intake", "intake pool (headers, decision, spool file)"),
    ("ccr-jobs-bg", "background jobs (contact volume)"),
    ("ccr-jobs", "delivery jobs"),
    ("Thread-", "event loop (aiosmtpd, SMTP sessions)"),
)


def thread_group(name: str) -> str:
    return next((label for prefix, label in THREAD_GROUPS if name.startswith(prefix)), "other")


def wait_for_quiet_cpu(cpu: int | None, case: str, timeout: float = QUIET_TIMEOUT) -> None:
    if cpu is None or not Path("/proc/stat").exists():
        return
    start = time.monotonic()
    while cpu_busy_fraction(cpu, QUIET_WINDOW) > QUIET_BUSY:
        if time.monotonic() - start > timeout:
            QUIET.gave_up.append(case)
            break
    QUIET.seconds += time.monotonic() - start


def delivery_timeout(messages: int) -> float:
    return max(60.0, messages / 20)


def source_run(
    targets: Targets,
    case: str,
    messages: int,
    size: int,
    workload: Workload,
    placement: Placement,
) -> Throughput:
    """smtp-source into the case, then wait until smtp-sink has counted every message."""
    # (a) has no system under test: smtp-source may use the idle core.
    cpu = placement.sut if case == "a" else placement.rig
    base = targets.sink.messages
    busy_before = None if case == "a" else cpu_busy_seconds(placement.sut)
    run = peers.run_smtp_source(
        targets.ports[case],
        messages,
        size,
        workload.source_sender,
        workload.source_recipient,
        sessions=SESSIONS,
        cpu=cpu,
        timeout=delivery_timeout(messages),
    )
    result = Throughput(messages, accepted_s=run.seconds)
    if not run.ok:
        result.error = f"smtp-source exited {run.returncode}: {run.stderr[-300:]}"
    done = targets.sink.wait_for(base + messages, delivery_timeout(messages))
    if done is not None:
        result.delivered_s = max(done - run.started, run.seconds)
        busy_after = cpu_busy_seconds(placement.sut)
        if busy_before is not None and busy_after is not None:
            result.sut_cpu_ms = (busy_after - busy_before) * 1e3 / messages
    elif not result.error:
        delivered = targets.sink.messages - base
        result.error = f"only {delivered:,} of {messages:,} delivered in time"
    return result


def measure_throughput(
    targets: Targets,
    mode: RunMode,
    workload: Workload,
    placement: Placement,
    size: int,
    results: Results,
) -> None:
    for case in (c for c in CASES if c in targets.ports):
        wait_for_quiet_cpu(placement.sut, f"{case} {size_label(size)}")
        source_run(targets, case, mode.warmup, size, workload, placement)
        gateway = targets.gateway_pid if case == "p" else None
        names = python_thread_names(gateway) if gateway else {}
        threads_before = thread_cpu_seconds(gateway) if names else {}
        result = source_run(targets, case, mode.messages[size], size, workload, placement)
        results.throughput[(case, size)] = result
        if names and gateway:
            threads_after = thread_cpu_seconds(gateway)
            names.update(python_thread_names(gateway))  # threads started during the run
            results.gateway_threads[size] = cpu_by_thread_group(
                threads_before, threads_after, names, mode.messages[size]
            )
        progress(f"{CASES[case]}, {size_label(size)}: {format_throughput(result)}")


def cpu_by_thread_group(
    before: dict[int, float], after: dict[int, float], names: dict[int, str], messages: int
) -> dict[str, float]:
    """Milliseconds of CPU per message spent by each group of the gateway's threads."""
    groups: dict[str, float] = {}
    for tid, seconds in after.items():
        group = thread_group(names.get(tid, ""))
        groups[group] = groups.get(group, 0.0) + (seconds - before.get(tid, 0.0)) * 1e3 / messages
    return groups


def measure_latency(
    targets: Targets,
    mode: RunMode,
    workload: Workload,
    placement: Placement,
    size: int,
    results: Results,
) -> None:
    per_session = mode.messages[size] // SESSIONS
    for case in (c for c in CASES if c in targets.ports):
        wait_for_quiet_cpu(placement.sut, f"latency {case} {size_label(size)}")
        base = targets.sink.messages
        run = peers.run_latency_pass(
            targets.ports[case],
            workload.envelopes,
            size,
            sessions=SESSIONS,
            per_session=per_session,
        )
        results.latency[(case, size)] = run
        # Let every accepted message reach smtp-sink before the next case starts.
        targets.sink.wait_for(base + run.accepted, delivery_timeout(run.accepted))
        targets.sink.wait_until_quiet(0.5, 30.0)
        progress(
            f"latency {CASES[case]}, {size_label(size)}: {run.per_second:,.0f}/s, "
            f"p50 {run.percentile(0.5) * 1e3:.2f} ms"
        )


def measure(targets: Targets, mode: RunMode, workload: Workload, placement: Placement) -> Results:
    results = Results()
    for size in SIZES:
        measure_throughput(targets, mode, workload, placement, size, results)
        measure_latency(targets, mode, workload, placement, size, results)
    return results


# --- output ---------------------------------------------------------------------------------


def progress(text: str) -> None:
    print(f"  ... {text}", file=sys.stderr, flush=True)


def size_label(size: int) -> str:
    return f"{size // 1024} KB"


def format_throughput(result: Throughput) -> str:
    delivered = result.delivered_rate
    text = f"{result.accepted_rate:,.0f}/s accepted, " + (
        f"{delivered:,.0f}/s delivered" if delivered else "not all delivered"
    )
    return f"{text} ({result.error})" if result.error else text


def tool_versions() -> str:
    postfix = subprocess.run(
        ["postconf", "-d", "-h", "mail_version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"Python {platform.python_version()}, Postfix {postfix or '?'}, "
        f"aiosmtpd {aiosmtpd.__version__}, aiosmtplib {aiosmtplib.__version__}"
    )


def describe_placement(placement: Placement) -> str:
    if placement.sut is None:
        return "not pinned (a single CPU, or no sched_setaffinity)"
    return (
        f"CPU {placement.sut} runs the system under test (the relay process; Postfix's master "
        f"and every daemon it forks; the gateway and its children); CPU {placement.rig} runs "
        "smtp-sink, smtp-source and this process (the latency client); for (a) smtp-source "
        f"runs on CPU {placement.sut}. PostgreSQL (the gateway's register and store) is a "
        "system service, not pinned"
    )


def print_header(mode: RunMode, placement: Placement, targets: Targets, workload: Workload) -> None:
    counts = ", ".join(f"{mode.messages[s]:,} x {size_label(s)}" for s in SIZES)
    now = dt.datetime.now(dt.UTC)
    print(f"ccr-gateway SMTP throughput ({mode.name} run, {now:%Y-%m-%d %H:%M} UTC)")
    print(f"machine: {os.cpu_count()} cores; {tool_versions()}")
    print(f"placement: {describe_placement(placement)}")
    print(
        f"load: smtp-source -s {SESSIONS} -d (each session reused), payload -l 2048 / -l 102400, "
        f"{counts} per case after a {mode.warmup}-message warm-up; "
        f"<{workload.source_sender}> -> <{workload.source_recipient}> (unrestricted sender)"
    )
    print(
        f"downstream: smtp-sink -c -m 1000 on 127.0.0.1:{targets.sink.port} (discards, counts); "
        "the same process for every case"
    )
    print(
        "(b) aiosmtpd Controller in its own process, server_hostname set; handle_DATA sends "
        "with aiosmtplib (local_hostname set) over pooled downstream connections (one per "
        "concurrent transaction, each reused), 250 only after smtp-sink's 250"
    )
    print(
        "(c) private Postfix instance under /tmp: stock smtpd/cleanup/qmgr/smtp settings "
        "(fsync'd queue, in_flow_delay 1s, up to 20 connections to the relayhost), "
        f"no chroot, relayhost [127.0.0.1]:{targets.sink.port}"
    )
    print(f"(p) {targets.gateway_note}")
    quiet = (
        "not pinned, so no wait for a quiet CPU"
        if placement.sut is None
        else (
            f"every case started once CPU {placement.sut} was under {QUIET_BUSY:.0%} busy for "
            f"{QUIET_WINDOW} s (waited {QUIET.seconds:.0f} s in all)"
            + (f"; gave up waiting before: {', '.join(QUIET.gave_up)}" if QUIET.gave_up else "")
        )
    )
    print(f"quiet start: {quiet}")
    print()


def print_throughput(results: Results, targets: Targets) -> None:
    print(
        "Throughput, messages/s (accepted: smtp-source spawn to exit; delivered: until "
        "smtp-sink had counted the last one)"
    )
    header = f"{'case':<32}" + "".join(
        f"{size_label(s) + ' accepted':>18}{'delivered':>11}" for s in SIZES
    )
    print(header)
    for case, label in CASES.items():
        if case == "p" and "p" not in targets.ports:
            print("(p) gateway: not available yet")
            continue
        cells = []
        for size in SIZES:
            result = results.throughput.get((case, size))
            if result is None:
                cells.append(f"{'-':>18}{'-':>11}")
                continue
            delivered = result.delivered_rate
            cells.append(
                f"{result.accepted_rate:>18,.0f}"
                + (f"{delivered:>11,.0f}" if delivered else f"{'timeout':>11}")
            )
        print(f"{label:<32}" + "".join(cells))
    for (case, size), result in results.throughput.items():
        if result.error:
            print(f"  note {CASES[case]}, {size_label(size)}: {result.error}")
    print()


def print_ratios(results: Results, targets: Targets) -> None:
    print("Ratios (same run; accepted/s, and delivered/s for p/c)")
    if "p" not in targets.ports:
        print("  skipped: no gateway")
        print()
        return
    for size in SIZES:
        p, b, c = (results.throughput.get((case, size)) for case in "pbc")
        if p is None or b is None or c is None:
            continue
        pb = p.accepted_rate / b.accepted_rate
        target = TARGETS[size]
        verdict = "met" if pb >= target else "NOT met"
        pc = p.accepted_rate / c.accepted_rate
        delivered = (
            f"{p.delivered_rate / c.delivered_rate:.2f}"
            if p.delivered_rate and c.delivered_rate
            else "n/a"
        )
        print(
            f"  {size_label(size):>6}: p/b {pb:.2f} (target >= {target}: {verdict}); "
            f"p/c {pc:.2f} accepted, {delivered} delivered"
        )
    print()


def print_cpu(results: Results, targets: Targets, placement: Placement) -> None:
    """Where the throughput goes: CPU per message on the core the system under test has."""
    if placement.sut is None:
        return
    print(
        f"CPU per message, ms (busy time of CPU {placement.sut}, the system under test's "
        "only CPU, from smtp-source's start until smtp-sink had every message)"
    )
    print(f"{'case':<32}" + "".join(f"{size_label(s):>10}" for s in SIZES))
    for case, label in CASES.items():
        cells = [results.throughput.get((case, size)) for size in SIZES]
        if case == "a" or not any(cells):
            continue
        print(
            f"{label:<32}"
            + "".join(
                f"{r.sut_cpu_ms:>10.2f}" if r and r.sut_cpu_ms is not None else f"{'-':>10}"
                for r in cells
            )
        )
    if not results.gateway_threads:
        print("  (p) by thread: install py-spy in the venv to see this")
        print()
        return
    print("  (p) by thread (the gateway process's own CPU, per message):")
    labels = [label for _, label in THREAD_GROUPS] + ["other"]
    for label in labels:
        cells = [results.gateway_threads.get(size, {}).get(label) for size in SIZES]
        if any(cells):
            print(
                f"    {label:<46}"
                + "".join(f"{c:>10.2f}" if c is not None else f"{'-':>10}" for c in cells)
            )
    print()


def print_latency(results: Results, targets: Targets) -> None:
    print(
        f"Latency, end of DATA (final '.' written) -> reply: asyncio client on raw streams, "
        f"{SESSIONS} sessions, no pipelining, sessions reused; senders "
        f"{1 - RESTRICTED_SHARE:.0%} unrestricted / {RESTRICTED_SHARE:.0%} restricted"
    )
    print(
        f"{'case':<32}{'size':>7}{'messages':>10}{'msgs/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'refused':>9}"
    )
    for case, label in CASES.items():
        if case == "p" and "p" not in targets.ports:
            print("(p) gateway: not available yet")
            continue
        for size in SIZES:
            run = results.latency.get((case, size))
            if run is None:
                continue
            print(
                f"{label:<32}{size_label(size):>7}{run.sent:>10,}{run.per_second:>9,.0f}"
                f"{run.percentile(0.5) * 1e3:>9.2f}{run.percentile(0.99) * 1e3:>9.2f}"
                f"{run.refused:>9,}"
            )
            if run.first_refusal:
                print(f"  first refusal: {run.first_refusal[:120]}")
    print()


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 messages per case")
    parser.add_argument(
        "--gateway-cmd",
        default=DEFAULT_GATEWAY_CMD,
        help=f"command that runs the gateway from the project root ({DEFAULT_GATEWAY_CMD})",
    )
    return parser.parse_args(argv)


def make_workdir(stack: ExitStack) -> Path:
    """A private directory under /tmp that Postfix's unprivileged daemons can traverse."""
    workdir = Path(tempfile.mkdtemp(prefix="ccr-smtpbench-", dir="/tmp"))
    workdir.chmod(0o755)
    stack.callback(quietly, shutil.rmtree, workdir)
    return workdir


def fallback_workload() -> Workload:
    """Envelopes when bench/decide.py cannot be loaded (then there is no gateway run)."""
    sender, recipient = "resident@example.org", f"housing@{ACCEPTED_DOMAIN}"
    return Workload(sender, recipient, [(sender, recipient)])


def run(stack: ExitStack, args: argparse.Namespace) -> None:
    mode = QUICK if args.quick else FULL
    placement = choose_placement()
    workdir = make_workdir(stack)
    progress(f"starting peers in {workdir}")
    targets, workload = start_peers(stack, args, placement, workdir)
    workload = workload or fallback_workload()
    results = measure(targets, mode, workload, placement)
    print_header(mode, placement, targets, workload)
    print_throughput(results, targets)
    print_ratios(results, targets)
    print_cpu(results, targets, placement)
    print_latency(results, targets)


def stop_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    previous = signal.signal(signal.SIGTERM, stop_on_sigterm)
    stack = ExitStack()
    try:
        run(stack, args)
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
