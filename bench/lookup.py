"""How fast does the live caller lookup answer through the real HTTP server, under load?

Builds a private PostgreSQL database with 100,000 identities and 10,000 active restrictions
(bench/decide.py's `plan_register` and `populate`), creates an API token, and starts the
real server as a separate process: `ccr web` (waitress) with CCR_DATABASE_URL set. Then 50
concurrent clients, each on its own persistent HTTP/1.1 connection, send requests. Each
request is, by a fixed-seed draw, either a lookup or the trivial health endpoint
(`/healthz`: one `SELECT 1`), so both are measured in the same run under the same load,
and their ratio is comparable across machines. Lookups are a mix of numbers as a
telephony platform sends them: restricted callers (whose answer commits an audit entry),
unrestricted callers, and withheld callers.

Two phases, one after the other, against the same server:

- paced: the 50 clients together offer PACED_RATE requests a second, at random
  (exponential) intervals. Latency runs from the moment a request was due to its last
  byte read, so a request held up behind a slow one counts its wait.
- saturated: each client sends its next request as soon as the last answer arrives, so
  the server is never idle. This finds the server's capacity; latency is then mostly
  queueing (50 requests in flight, each waiting for the others' CPU time).

The clients are one asyncio loop pinned to the first CPU; the server is pinned to the
last (PostgreSQL is not pinned). Run from the project root (PostgreSQL on 127.0.0.1:5432,
trust auth)::

    .venv/bin/python bench/lookup.py            # full run, about 3 minutes
    .venv/bin/python bench/lookup.py --quick    # smaller run, about 45 s

It prints figures and the target next to its figure; it asserts nothing. The database
(``ccr_lookupbench_<pid>``) and the server process are removed at the end, also on error
or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType

from gateway.services import accounts
from gateway.store.db import make_engine, make_session_factory, unit_of_work, upgrade_database
from routing.enums import IdentityKind
from routing.identity import display_phone

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
CCR = str(Path(sys.executable).with_name("ccr"))

IDENTITIES = 100_000
CLIENTS = 50
SEED = 20261124
TARGET_P99_MS = 20.0
# Requests a second offered in the paced phase (half of them lookups): far above the calls a
# council's contact centre takes, where a busy hour brings a few new calls a second.
PACED_RATE = 200.0
HEALTH_SHARE = 0.5  # of all requests; the rest are lookups
# Of the lookups: restricted callers, unrestricted callers, withheld callers.
LOOKUP_MIX = (("restricted", 0.3), ("unrestricted", 0.6), ("withheld", 0.1))
LOOKUP_KINDS = tuple(kind for kind, _ in LOOKUP_MIX)
WITHHELD = ("anonymous", "withheld", "Private", "", "unknown")
SERVER_START_SECONDS = 60


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


decide = load_bench_module("decide")


@dataclass(frozen=True)
class RunMode:
    name: str
    paced_seconds: float
    saturated_per_client: int
    warmup_per_client: int


FULL = RunMode("full", paced_seconds=60, saturated_per_client=1_000, warmup_per_client=100)
QUICK = RunMode("quick", paced_seconds=15, saturated_per_client=200, warmup_per_client=50)


@dataclass(frozen=True)
class Request:
    kind: str  # health, restricted, unrestricted or withheld
    target: str  # path and query


@dataclass
class Timings:
    """Seconds per request by kind, and what the answers said (a check on the workload)."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)
    failures: dict[int, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    server_cpu_seconds: float = 0.0

    def add(self, kind: str, elapsed: float) -> None:
        self.seconds.setdefault(kind, []).append(elapsed)

    def of(self, *kinds: str) -> list[float]:
        return [s for kind in kinds for s in self.seconds.get(kind, [])]

    @property
    def count(self) -> int:
        return sum(len(values) for values in self.seconds.values())


# --- the register and the server ------------------------------------------------------------


def prepare_database(name: str) -> tuple[str, object]:
    """Create, migrate and populate the database; return its URL and the register plan."""
    decide.create_database(name)
    url = decide.sqlalchemy_url(name)
    upgrade_database(url)
    plan = decide.plan_register(IDENTITIES, random.Random(SEED))
    decide.populate(decide.conninfo(name), plan)
    return url, plan


def create_token(database_url: str) -> str:
    engine = make_engine(database_url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            return accounts.add_token(
                session,
                name="bench",
                scopes=[accounts.SCOPE_LOOKUP],
                actor="bench",
                now=dt.datetime.now(dt.UTC),
            )
    finally:
        engine.dispose()


@contextmanager
def running_server(
    database_url: str, port: int, threads: int, *, pin: bool
) -> Iterator[subprocess.Popen]:
    """`ccr web` in its own process on the last CPU, stopped (SIGTERM, then SIGKILL) at the end."""
    workdir = Path(tempfile.mkdtemp(prefix="ccr-lookupbench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCR_")}
    env.update(
        CCR_DATABASE_URL=database_url,
        CCR_WEB_LISTEN=f"127.0.0.1:{port}",
        CCR_WEB_THREADS=str(threads),
        CCR_LOG_LEVEL="WARNING",
        CCR_SECRET_KEY="bench-secret",
        CCR_SPOOL_DIR=str(workdir / "spool"),
        CCR_DOWNSTREAM=f"maildir:{workdir / 'mail'}",
    )
    log = workdir / "server.log"
    with log.open("wb") as stderr:
        server = subprocess.Popen(
            [CCR, "web"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            preexec_fn=_pin_to_last_cpu if pin else None,
        )
    try:
        wait_until_healthy(port, server, log)
        yield server
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc), or NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpus() -> tuple[int | None, int | None]:
    """(client CPU, server CPU): the first and last this process may use."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    allowed = sorted(os.sched_getaffinity(0))
    return allowed[0], allowed[-1]


def _pin_to_last_cpu() -> None:
    _, server_cpu = cpus()
    if server_cpu is not None:
        os.sched_setaffinity(0, {server_cpu})


def wait_until_healthy(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"ccr web exited with status {server.returncode}: {log.read_text()[-2000:]}"
            )
        url = f"http://127.0.0.1:{port}/healthz"
        with suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"ccr web did not answer /healthz within {SERVER_START_SECONDS} s")


# --- the workload -----------------------------------------------------------------------------


def build_requests(plan: object, count: int, rng: random.Random) -> list[Request]:
    """`count` requests: health checks and lookups drawn as HEALTH_SHARE and LOOKUP_MIX say."""
    pools = {
        "restricted": plan.pool(IdentityKind.PHONE, True),
        "unrestricted": plan.pool(IdentityKind.PHONE, False),
    }
    kinds = [kind for kind, _ in LOOKUP_MIX]
    weights = [weight for _, weight in LOOKUP_MIX]
    requests = []
    for _ in range(count):
        if rng.random() < HEALTH_SHARE:
            requests.append(Request("health", "/healthz"))
            continue
        kind = rng.choices(kinds, weights)[0]
        raw = rng.choice(WITHHELD) if kind == "withheld" else as_sent(rng.choice(pools[kind]), rng)
        query = urllib.parse.urlencode({"phone": raw})
        requests.append(Request(kind, f"/api/v1/lookup?{query}"))
    return requests


def as_sent(e164: str, rng: random.Random) -> str:
    """The number as a platform's template may send it: E.164, national, or without the +."""
    return rng.choice((e164, display_phone(e164).replace(" ", ""), e164.lstrip("+")))


# --- the clients ------------------------------------------------------------------------------


async def client(
    port: int,
    token: str,
    requests: Sequence[Request],
    timings: Timings | None,
    due: Sequence[float] | None = None,
) -> None:
    """One persistent connection: back to back, or each request at its `due` offset."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
    loop = asyncio.get_running_loop()
    begin = loop.time()
    try:
        for n, request in enumerate(requests):
            late = 0.0
            if due is not None:
                wait = begin + due[n] - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    late = -wait  # held up behind the previous answer: that wait counts
            started = time.perf_counter() - late
            writer.write(f"GET {request.target} HTTP/1.1\r\n{head}".encode())
            status, body = await read_response(reader)
            elapsed = time.perf_counter() - started
            if timings is None:
                continue
            timings.add(request.kind, elapsed)
            record_answer(timings, request, status, body)
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status_line = await reader.readline()
    status = int(status_line.split(b" ", 2)[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


def record_answer(timings: Timings, request: Request, status: int, body: bytes) -> None:
    if status != 200:
        timings.failures[status] = timings.failures.get(status, 0) + 1
        return
    if request.kind != "health":
        state = json.loads(body)["state"]
        key = f"{request.kind} -> {state}"
        timings.states[key] = timings.states.get(key, 0) + 1


async def run_clients(
    port: int,
    token: str,
    per_client: list[list[Request]],
    measure: bool,
    schedules: list[list[float]] | None = None,
) -> Timings:
    timings = Timings()
    started = time.perf_counter()
    await asyncio.gather(
        *(
            client(port, token, requests, timings if measure else None, schedules and schedules[n])
            for n, requests in enumerate(per_client)
        )
    )
    timings.wall_seconds = time.perf_counter() - started
    return timings


def schedule(count: int, rate: float, rng: random.Random) -> list[float]:
    """Offsets in seconds of `count` requests arriving at random at `rate` a second."""
    offsets, at = [], 0.0
    for _ in range(count):
        at += rng.expovariate(rate)
        offsets.append(at)
    return offsets


# --- output -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def print_header(mode: RunMode, threads: int, placement: tuple[int | None, int | None]) -> None:
    client_cpu, server_cpu = placement
    print(f"ccr-gateway live lookup benchmark ({mode.name} run)")
    where = (
        f"on CPU {server_cpu}; clients: one asyncio loop on CPU {client_cpu}"
        if server_cpu is not None
        else "unpinned; clients: one asyncio loop, unpinned"
    )
    print(
        f"server: `ccr web` (waitress, {threads} threads) {where}; PostgreSQL unpinned; "
        f"{os.cpu_count()} cores; Python {platform.python_version()}; "
        f"{decide.postgres_version()}"
    )
    lookups = ", ".join(f"{share:.0%} {kind}" for kind, share in LOOKUP_MIX)
    print(
        f"register: {IDENTITIES:,} identities, {IDENTITIES // 10:,} restrictions; {CLIENTS} "
        f"clients on persistent HTTP/1.1 connections; {HEALTH_SHARE:.0%} /healthz, the rest "
        f"lookups ({lookups})"
    )
    print(
        f"paced: {PACED_RATE:,.0f} requests/s offered for {mode.paced_seconds:.0f} s; "
        f"saturated: back to back, {mode.saturated_per_client:,} requests per client"
    )
    print(f"load average before the run: {_load()}")
    print()


def _load() -> str:
    return " ".join(f"{n:.2f}" for n in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def print_phase(title: str, timings: Timings) -> None:
    print(title)
    print(f"{'requests':<22} {'count':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    rows = [
        ("lookup (all)", timings.of(*LOOKUP_KINDS)),
        ("  restricted", timings.of("restricted")),
        ("  unrestricted", timings.of("unrestricted")),
        ("  withheld", timings.of("withheld")),
        ("health (/healthz)", timings.of("health")),
    ]
    for label, values in rows:
        if not values:
            continue
        print(
            f"{label:<22} {len(values):>7,} {ms(percentile(values, 0.5)):>8} "
            f"{ms(percentile(values, 0.9)):>8} {ms(percentile(values, 0.99)):>8} "
            f"{ms(max(values)):>8}"
        )
    rate = timings.count / timings.wall_seconds
    cpu_us = timings.server_cpu_seconds / timings.count * 1e6
    print(
        f"throughput: {rate:,.0f} requests/s over {timings.wall_seconds:.1f} s; server CPU "
        f"{cpu_us:,.0f} us per request; load average after: {_load()}"
    )
    answers = ", ".join(f"{key}: {n:,}" for key, n in sorted(timings.states.items()))
    print(f"answers: {answers}")
    failures = ", ".join(f"HTTP {code}: {n}" for code, n in sorted(timings.failures.items()))
    print(f"failures: {failures or 'none'}")
    lookups, health = timings.of(*LOOKUP_KINDS), timings.of("health")
    print(
        f"lookup / health (same run): p50 {percentile(lookups, 0.5) / percentile(health, 0.5):.2f}"
        f", p99 {percentile(lookups, 0.99) / percentile(health, 0.99):.2f}"
    )
    print()


def print_targets(paced: Timings, saturated: Timings) -> None:
    print("Target")
    for name, timings in (("paced", paced), ("saturated", saturated)):
        p99 = percentile(timings.of(*LOOKUP_KINDS), 0.99)
        verdict = "met" if p99 < TARGET_P99_MS / 1000 else "NOT met"
        print(f"  lookup p99 < {TARGET_P99_MS:.0f} ms, {name}: {ms(p99)} ms, {verdict}")
    capacity = saturated.count / saturated.wall_seconds
    per_request = saturated.server_cpu_seconds / saturated.count
    print(
        f"  saturated, {CLIENTS} requests in flight: latency is about {CLIENTS} x the server's "
        f"CPU per request ({ms(CLIENTS * per_request)} ms); capacity {capacity:,.0f} requests/s"
    )


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> tuple[RunMode, int, bool]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller run, about 45 s")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="waitress threads (default: the web_threads default)",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="let the OS place the server and the clients (default: one CPU each)",
    )
    args = parser.parse_args(argv)
    from gateway.settings import Settings

    threads = args.threads or Settings.model_fields["web_threads"].default
    return (QUICK if args.quick else FULL), threads, not args.no_pin


def split(requests: list[Request], clients: int) -> list[list[Request]]:
    return [requests[n::clients] for n in range(clients)]


def measure_phases(
    port: int, token: str, plan: object, mode: RunMode, server: subprocess.Popen
) -> tuple[Timings, Timings]:
    """Warm up, then the paced phase, then the saturated one; server CPU for each."""
    rng = random.Random(SEED)
    warmup = build_requests(plan, CLIENTS * mode.warmup_per_client, rng)
    asyncio.run(run_clients(port, token, split(warmup, CLIENTS), measure=False))

    per_client_rate = PACED_RATE / CLIENTS
    count = int(mode.paced_seconds * per_client_rate)
    paced_requests = split(build_requests(plan, CLIENTS * count, rng), CLIENTS)
    schedules = [schedule(count, per_client_rate, rng) for _ in range(CLIENTS)]
    cpu_before = cpu_seconds(server.pid)
    paced = asyncio.run(run_clients(port, token, paced_requests, True, schedules))
    paced.server_cpu_seconds = cpu_seconds(server.pid) - cpu_before

    saturating = build_requests(plan, CLIENTS * mode.saturated_per_client, rng)
    cpu_before = cpu_seconds(server.pid)
    saturated = asyncio.run(run_clients(port, token, split(saturating, CLIENTS), True))
    saturated.server_cpu_seconds = cpu_seconds(server.pid) - cpu_before
    return paced, saturated


def main(argv: Sequence[str] | None = None) -> int:
    mode, threads, pin = parse_args(argv)
    placement = cpus() if pin else (None, None)
    print_header(mode, threads, placement)
    database = f"ccr_lookupbench_{os.getpid()}"
    previous = signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        started = time.perf_counter()
        database_url, plan = prepare_database(database)
        token = create_token(database_url)
        print(f"database ready in {time.perf_counter() - started:.1f} s")
        port = free_port()
        with running_server(database_url, port, threads, pin=pin) as server:
            # The server's pin reads this process's CPUs at its start: pin the clients after.
            if placement[0] is not None:
                os.sched_setaffinity(0, {placement[0]})
            paced, saturated = measure_phases(port, token, plan, mode, server)
    finally:
        decide.drop_databases([database])
        signal.signal(signal.SIGTERM, previous)
    print()
    print_phase(f"Paced: {PACED_RATE:,.0f} requests/s offered by {CLIENTS} clients", paced)
    print_phase(f"Saturated: {CLIENTS} clients back to back", saturated)
    print_targets(paced, saturated)
    return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; the benchmark database was dropped", file=sys.stderr)
        sys.exit(130)
