"""Benchmark: how fast a voice webhook is answered while the database cannot help.

Not a test: run it by hand on a quiet machine and it rewrites its section of
``docs/benchmarks.md``::

    .venv/bin/python bench/webhook.py                       # every scenario, 10 s windows
    .venv/bin/python bench/webhook.py --window 5 --no-write

Each scenario starts a real ``callpool serve`` (one process) on a fresh database seeded with
one site and a session pool of 50 numbers, and drives it over loopback HTTP with Twilio-signed
voice webhooks for those numbers: ``--clients`` threads, each with its own keep-alive
connection, together ``--rate`` calls a second, for ``--window`` seconds while the fault lasts.
The latency is taken at the client, from sending the request to reading the whole answer
(every answer must ``<Dial>`` the pool's number). Scenarios, in order:

- ``baseline``: SQLite, nothing wrong.
- ``sqlite-locked``: another connection holds SQLite's write lock (``BEGIN IMMEDIATE``) for
  the whole window.
- ``postgres-stopped``: callpool's PostgreSQL (a server of the benchmark's own on port 5442,
  never the shared one) is stopped for the whole window, then started again.
- ``buying-10``: SQLite, with a sandbox carrier that takes 1.5 s per API call
  (``CALLPOOL_SANDBOX_LATENCY_MS=1500``); the window is the REST call that creates a pool of
  10 numbers (``POST /api/v1/pools``), however long it takes (bounded at 60 s).

After each window it waits (bounded) until every call is stored in the database, and checks
that each is stored exactly once.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the process helpers the fault tests use

from figures import write_section  # noqa: E402 (bench/figures.py)
from seed import BUSINESS_NUMBER, api_key, session_pool_site  # noqa: E402 (bench/seed.py)
from sqlalchemy import distinct, func, select  # noqa: E402

from callpool.db import Database  # noqa: E402
from callpool.models import Call  # noqa: E402
from tests.processes import (  # noqa: E402
    PgServer,
    ServeProcess,
    postgres_bindir,
    running_postgres,
)
from tests.waiting import wait_for  # noqa: E402

TRACKERS = 50
OWN_PG_PORT = 5442
STORED_TIMEOUT = 120.0


@dataclass
class Result:
    scenario: str
    latencies: list[float]  # seconds
    sent: int
    stored: int
    distinct: int
    load: float  # the machine's 1-minute load average when the window began
    note: str = ""

    @property
    def p99(self) -> float:
        ms = sorted(value * 1000 for value in self.latencies)
        return ms[min(len(ms) - 1, int(len(ms) * 0.99))]

    def row(self) -> str:
        ms = sorted(value * 1000 for value in self.latencies)
        p50, p99 = statistics.median(ms), self.p99
        stored = f"{self.distinct} of {self.sent}, {self.stored - self.distinct} twice"
        return (
            f"| {self.scenario} | {self.load:.1f} | {len(ms)} | {p50:.1f} | {p99:.1f} "
            f"| {ms[-1]:.1f} | {stored} | {self.note} |"
        )


class Traffic:
    """Signed voice webhooks at a steady rate from several threads, until stopped."""

    def __init__(self, serve: ServeProcess, numbers: list[str], rate: float, clients: int) -> None:
        self.serve, self.numbers = serve, numbers
        self.interval = clients / rate
        self.clients = clients
        self.latencies: list[float] = []
        self.bad: list[str] = []
        self.sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(index,), daemon=True)
            for index in range(clients)
        ]
        self._measuring = False

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def measure(self, on: bool) -> None:
        self._measuring = on

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, index: int) -> None:
        with httpx2.Client(base_url=self.serve.base, timeout=20) as http:
            count = 0
            next_at = time.perf_counter() + index * self.interval / self.clients
            while not self._stop.is_set():
                delay = next_at - time.perf_counter()
                if delay > 0:
                    self._stop.wait(delay)
                next_at += self.interval
                number = self.numbers[(index * 7 + count) % len(self.numbers)]
                call_id = f"CA{index:02d}{count:06d}"
                count += 1
                measuring = self._measuring
                started = time.perf_counter()
                answer = self.serve.voice(number, call_id, http=http)
                took = time.perf_counter() - started
                with self._lock:
                    self.sent += 1
                    if f">{BUSINESS_NUMBER}</Number>" not in answer.text:
                        self.bad.append(f"{call_id}: {answer.status_code} {answer.text[:200]}")
                    if measuring:
                        self.latencies.append(took)


def seed(url: str) -> tuple[list[str], str, int]:
    """The pool's numbers, an API key and the site's id."""
    database = Database(url)
    database.migrate()
    site = session_pool_site(
        database, site_key="site_bench", origin="https://shop.example", trackers=50
    )
    key = api_key(database, site)
    database.dispose()
    numbers = [f"+1512{2_000_000 + index}" for index in range(TRACKERS)]
    return numbers, key, site.id


def stored(url: str) -> tuple[int, int]:
    database = Database(url)
    try:
        with database.reader() as db:
            row = db.execute(
                select(func.count(Call.id), func.count(distinct(Call.provider_call_id)))
            ).one()
            return int(row[0]), int(row[1])
    finally:
        database.dispose()


def run_scenario(
    name: str,
    url: str,
    workdir: Path,
    args: argparse.Namespace,
    fault: Callable[[ServeProcess, str, int], Iterator[str]],
    env: dict[str, str] | None = None,
) -> Result:
    numbers, key, site_id = seed(url)
    serve = ServeProcess(workdir, {"CALLPOOL_DATABASE_URL": url, **(env or {})})
    serve.env["CALLPOOL_TELEPHONY_PROVIDER"] = "sandbox"
    traffic = Traffic(serve, numbers, args.rate, args.clients)
    kept: Path | None = None  # where the spool and the log are kept when calls are missing
    try:
        serve.start()
        traffic.start()
        time.sleep(1.0)  # warm-up: connections open, code paths run once
        # The fault is a generator: set up, yield (the window runs), then undo.
        steps = fault(serve, key, site_id)
        note = next(steps)
        load = os.getloadavg()[0]
        traffic.measure(True)
        note = next(steps, note)  # the window itself: the fault's own wait
        traffic.measure(False)
        for more in steps:  # undo the fault
            note = more or note
        traffic.stop()
        sent = traffic.sent
        try:
            wait_for(lambda: stored(url)[1] >= sent, "every call stored", STORED_TIMEOUT)
        except TimeoutError as error:
            kept = Path(tempfile.mkdtemp(prefix=f"callpool-bench-{name}-kept-"))
            shutil.copytree(serve.spool_dir, kept / "spool", dirs_exist_ok=True)
            note += f" — {error}; spool and log kept in {kept}"
        count, unique = stored(url)
    finally:
        traffic.stop()
        serve.stop()
    if kept is not None:
        shutil.copy(serve.log_path, kept)
    if problems := serve.log().count("Traceback"):
        note += f" — {problems} tracebacks in the app's log"
    if traffic.bad:
        note += f" — {len(traffic.bad)} answers without the <Dial>: {traffic.bad[:3]}"
    return Result(name, traffic.latencies, sent, count, unique, load, note)


def nothing_wrong(window: float) -> Callable[[ServeProcess, str, int], Iterator[str]]:
    def fault(_serve: ServeProcess, _key: str, _site: int) -> Iterator[str]:
        yield ""
        time.sleep(window)
        yield ""

    return fault


def sqlite_locked(path: Path, window: float) -> Callable[[ServeProcess, str, int], Iterator[str]]:
    def fault(serve: ServeProcess, _key: str, _site: int) -> Iterator[str]:
        lock = sqlite3.connect(path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        yield ""
        time.sleep(window)
        spooled = _pending(serve)
        yield f"{spooled} calls waiting in the spool at the end of the lock"
        lock.execute("ROLLBACK")
        lock.close()

    return fault


def postgres_stopped(
    server: PgServer, window: float
) -> Callable[[ServeProcess, str, int], Iterator[str]]:
    def fault(serve: ServeProcess, _key: str, _site: int) -> Iterator[str]:
        server.stop()
        yield ""
        time.sleep(window)
        yield f"{_pending(serve)} calls waiting in the spool when the server came back"
        server.start()

    return fault


def buying_pool() -> Callable[[ServeProcess, str, int], Iterator[str]]:
    def fault(serve: ServeProcess, key: str, site: int) -> Iterator[str]:
        yield ""
        body = {"site_id": site, "name": "Ten more", "original_number": BUSINESS_NUMBER, "size": 10}
        started = time.perf_counter()
        with httpx2.Client(base_url=serve.base, timeout=60) as http:
            answer = http.post(
                "/api/v1/pools", json=body, headers={"Authorization": f"Bearer {key}"}
            )
        took = time.perf_counter() - started
        yield f"POST /api/v1/pools (10 numbers) answered {answer.status_code} in {took:.1f} s"

    return fault


def _pending(serve: ServeProcess) -> int:
    from callpool.calls import spool

    return spool.pending(serve.spool_dir)


@contextmanager
def own_postgres() -> Iterator[PgServer]:
    bindir = postgres_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    with running_postgres(bindir, OWN_PG_PORT) as server:
        yield server


def one_scenario(name: str, args: argparse.Namespace) -> Result:
    with tempfile.TemporaryDirectory(prefix=f"callpool-bench-{name}-") as temp:
        workdir = Path(temp)
        sqlite_path = workdir / "callpool.db"
        sqlite_url = f"sqlite:///{sqlite_path}"
        if name == "baseline":
            return run_scenario(name, sqlite_url, workdir, args, nothing_wrong(args.window))
        if name == "sqlite-locked":
            fault = sqlite_locked(sqlite_path, args.window)
            return run_scenario(name, sqlite_url, workdir, args, fault)
        if name == "postgres-stopped":
            with own_postgres() as server:
                url = server.create_database("bench_webhook")
                fault = postgres_stopped(server, args.window)
                return run_scenario(name, url, workdir, args, fault)
        if name == "buying-10":
            env = {"CALLPOOL_SANDBOX_LATENCY_MS": "1500"}
            return run_scenario(name, sqlite_url, workdir, args, buying_pool(), env)
    raise SystemExit(f"unknown scenario {name!r}")


def summary(names: list[str], results: list[Result]) -> list[str]:
    rows = []
    for name in names:
        p99s = [result.p99 for result in results if result.scenario == name]
        each = " / ".join(f"{value:.1f}" for value in p99s)
        rows.append(f"| {name} | {statistics.median(p99s):.1f} | {each} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=float, default=10.0, help="seconds of each fault")
    parser.add_argument("--rate", type=float, default=40.0, help="calls a second, in total")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument(
        "--scenarios",
        default="baseline,sqlite-locked,postgres-stopped,buying-10",
        help="comma-separated, run in this order",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="times each scenario runs (interleaved)"
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not edit the docs")
    args = parser.parse_args()
    names = args.scenarios.split(",")
    results = []
    for _ in range(args.rounds):
        for name in names:
            result = one_scenario(name, args)
            print(result.row(), flush=True)
            results.append(result)
    table = "\n".join(
        [
            f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
            f"`bench/webhook.py` on {platform.machine()} ({os.cpu_count()} cores, shared with "
            f"other work: the load column is the 1-minute load average), Python "
            f"{platform.python_version()}: one `callpool serve` process, {args.clients} client "
            f"threads with keep-alive connections, {args.rate:g} signed voice webhooks/s in total "
            f"to known numbers, {args.window:g} s windows, {args.rounds} rounds of the "
            "scenarios in turn. Latency: at the client on loopback, request sent → whole answer "
            "read; every answer checked for the `<Dial>`.",
            "",
            "| scenario | p99 ms, median of the rounds | p99 ms, each round |",
            "|---|---:|---|",
            *summary(names, results),
            "",
            "| scenario | load | calls in the window | p50 ms | p99 ms | max ms "
            "| stored, of all calls sent | note |",
            "|---|---:|---:|---:|---:|---:|---|---|",
            *(result.row() for result in results),
        ]
    )
    print(table)
    if not args.no_write:
        write_section(
            "webhook", table, "Voice webhooks while the database cannot help (`bench/webhook.py`)"
        )


if __name__ == "__main__":
    main()
