"""How much faster does GatewaySMTP's chunked DATA reader make an accept-only aiosmtpd?

In one run it starts two accept-only servers (their handler answers 250 and keeps
nothing). The first uses aiosmtpd's stock SMTP class, which reads DATA one line per await.
The second uses ``gateway.smtp.protocol.GatewaySMTP``. Both take the same load: 10
concurrent sessions, each sending its messages over one connection, with 2 KB and 100 KB
payloads. The load comes from ``smtp-source`` (Debian's ``postfix`` package) or, without
it, from an asyncio client in this script.

Repetitions alternate stock and chunked runs for each size. The script prints messages per
second (the median of the repetitions) and the chunked/stock ratio for each size. Each
server runs in its own process; with two or more cores it is pinned to one core and the
load to another.

Run from the project root::

    .venv/bin/python bench/smtp_reader.py           # 5 repetitions, about 30 s
    .venv/bin/python bench/smtp_reader.py --quick   # 1 repetition
    .venv/bin/python bench/smtp_reader.py --client asyncio

It prints figures only and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiosmtpd
from aiosmtpd.smtp import SMTP

from gateway.smtp.protocol import GatewaySMTP

SESSIONS = 10
HOSTNAME = "ccr.test"
SIZES = {"2 KB": 2048, "100 KB": 102400}
MESSAGES = {"2 KB": 4000, "100 KB": 1000}
SERVERS: dict[str, type[SMTP]] = {"stock": SMTP, "chunked": GatewaySMTP}


@dataclass(frozen=True)
class Placement:
    server_cpu: int | None
    load_cpus: set[int] | None


class AcceptOnly:
    """The handler: every message gets 250 and is thrown away."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


# --- the servers, one process each ---------------------------------------------------------


def serve(kind: str, port: int) -> None:
    """Run one accept-only server until killed (the child process's entry point)."""

    async def main() -> None:
        protocol = SERVERS[kind]
        handler = AcceptOnly()
        loop = asyncio.get_running_loop()
        await loop.create_server(
            lambda: protocol(handler, hostname=HOSTNAME, enable_SMTPUTF8=True),
            "127.0.0.1",
            port,
        )
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


@contextmanager
def server_process(kind: str, placement: Placement) -> Iterator[int]:
    port = free_port()
    command = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        if placement.server_cpu is not None:
            os.sched_setaffinity(process.pid, {placement.server_cpu})
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def choose_placement() -> Placement:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        return Placement(None, None)
    return Placement(cpus[-1], set(cpus[:-1]))


# --- the load --------------------------------------------------------------------------------


def smtp_source() -> str | None:
    return shutil.which("smtp-source") or shutil.which("smtp-source", path="/usr/sbin")


def load_with_smtp_source(port: int, size: int, messages: int) -> float:
    """Seconds for smtp-source to send every message."""
    command = [smtp_source() or "smtp-source", "-s", str(SESSIONS), "-m", str(messages)]
    command += ["-l", str(size), "-d", "-M", HOSTNAME, "-f", "bench@ccr.test"]
    command += ["-t", "sink@ccr.test", f"127.0.0.1:{port}"]
    started = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"smtp-source exited {run.returncode}: {run.stderr[-300:]}")
    return elapsed


def load_with_asyncio(port: int, size: int, messages: int) -> float:
    """Seconds for SESSIONS asyncio clients to send every message between them."""
    line = b"X" * 78 + b"\r\n"
    body = b"Subject: bench\r\n\r\n" + line * (size // len(line)) + b".\r\n"
    shares = [messages // SESSIONS + (n < messages % SESSIONS) for n in range(SESSIONS)]

    async def run_all() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(send_messages(port, body, share) for share in shares))
        return time.perf_counter() - started

    return asyncio.run(run_all())


async def send_messages(port: int, body: bytes, count: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await expect(reader, b"220")
    writer.write(f"EHLO {HOSTNAME}\r\n".encode())
    await expect(reader, b"250")
    for _ in range(count):
        writer.write(b"MAIL FROM:<bench@ccr.test>\r\nRCPT TO:<sink@ccr.test>\r\nDATA\r\n")
        for code in (b"250", b"250", b"354"):
            await expect(reader, code)
        writer.write(body)
        await expect(reader, b"250")
    writer.write(b"QUIT\r\n")
    await expect(reader, b"221")
    writer.close()
    await writer.wait_closed()


async def expect(reader: asyncio.StreamReader, code: bytes) -> None:
    while True:
        line = await reader.readline()
        if not line.startswith(code):
            raise RuntimeError(f"expected {code!r}, got {line!r}")
        if line[3:4] != b"-":
            return


# --- the run ---------------------------------------------------------------------------------


def measure(
    load: Callable[[int, int, int], float], repetitions: int, placement: Placement
) -> dict[tuple[str, str], list[float]]:
    """Messages per second for every (server, size), repetitions interleaved."""
    rates: dict[tuple[str, str], list[float]] = {}
    with server_process("stock", placement) as stock, server_process("chunked", placement) as ours:
        ports = {"stock": stock, "chunked": ours}
        for _ in range(repetitions):
            for size_name, size in SIZES.items():
                for kind, port in ports.items():
                    messages = MESSAGES[size_name]
                    rate = messages / load(port, size, messages)
                    rates.setdefault((kind, size_name), []).append(rate)
    return rates


def print_report(rates: dict[tuple[str, str], list[float]], client: str, runs: int) -> None:
    print(f"Accept-only aiosmtpd {aiosmtpd.__version__}, Python {platform.python_version()}")
    print(f"load: {client}, {SESSIONS} sessions, each reused; median of {runs} runs")
    print()
    print(f"{'payload':<8} {'stock msg/s':>12} {'chunked msg/s':>14} {'chunked/stock':>14}")
    for size_name in SIZES:
        stock = statistics.median(rates[("stock", size_name)])
        chunked = statistics.median(rates[("chunked", size_name)])
        print(f"{size_name:<8} {stock:>12,.0f} {chunked:>14,.0f} {chunked / stock:>13.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition")
    parser.add_argument("--client", choices=["auto", "smtp-source", "asyncio"], default="auto")
    parser.add_argument("--serve", choices=sorted(SERVERS), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    use_source = args.client == "smtp-source" or (args.client == "auto" and smtp_source())
    load = load_with_smtp_source if use_source else load_with_asyncio
    placement = choose_placement()
    if placement.load_cpus is not None:
        # The load generator (a child of this process) inherits this affinity.
        os.sched_setaffinity(0, placement.load_cpus)
    repetitions = 1 if args.quick else 5
    rates = measure(load, repetitions, placement)
    print_report(rates, "smtp-source" if use_source else "asyncio client", repetitions)


if __name__ == "__main__":
    main()
