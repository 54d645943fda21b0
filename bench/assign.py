"""Benchmark: new-session assignments per second through HTTP, beside ``GET /healthz``.

Not a test: run it by hand on a quiet machine and it rewrites its section of
``docs/benchmarks.md``::

    .venv/bin/python bench/assign.py                      # SQLite and PostgreSQL
    .venv/bin/python bench/assign.py --engines sqlite --duration 5 --no-write

For each engine it makes a fresh database (a temporary SQLite file; a new PostgreSQL database,
dropped afterwards), seeds one site with a session pool big enough that every new session finds
a free tracker, starts ``callpool serve`` (one process, one worker) and drives it with
``wrk`` (``apt-get install wrk``) at 16 connections: ``GET /healthz`` and ``POST /t/visit``
(every body distinct, no visitor or session id: each request starts a session and leases a
tracker), alternating, several rounds. Afterwards it checks in the database that every request
made a session with its own lease and that the pool never ran out.

Beside the rates it reads, from ``/proc`` (Linux), the CPU time each request cost the app's
process and the local database server's processes: on a machine whose cores the app, the
database and wrk share, those decide how far a rate can go.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from figures import write_section  # bench/figures.py
from seed import database_for, session_pool_site  # bench/seed.py
from sqlalchemy import func, select

from callpool.db import Database
from callpool.models import Lease, PoolEvent, VisitSession

ROOT = Path(__file__).resolve().parent.parent
HEADING = "Assignment throughput (`bench/assign.py`)"
SITE_KEY = "site_bench"
ORIGIN = "https://shop.example"
PG_SERVER = os.environ.get("CALLPOOL_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)

# wrk's Lua: each request gets its own landing URL, and comes from its own client address
# through the server's trusted proxy (X-Forwarded-For; the server trusts 127.0.0.1), as on a
# real site: the limits per address are checked, none is reached. done() prints the figures.
VISIT_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
wrk.headers["Origin"] = "%(origin)s"
wrk.headers["User-Agent"] = "%(agent)s"
-- Addresses differ from one wrk run to the next too (runs start seconds apart, each sends
-- fewer than 100,000 requests), so that no address reaches its limit of numbers.
local n = (os.time() %% 160) * 100000
request = function()
  n = n + 1
  wrk.headers["X-Forwarded-For"] = string.format("10.%%d.%%d.%%d",
    math.floor(n / 65536) %% 256, math.floor(n / 256) %% 256, n %% 256)
  local body = '{"k":"%(key)s","v":null,"s":null,' ..
    '"u":"%(origin)s/plumbing?utm_source=google&utm_medium=cpc&utm_campaign=bench&n=' .. n ..
    '","r":"https://www.google.com/","t":"Emergency plumbing"}'
  return wrk.format(nil, "/t/visit", nil, body)
end
"""
HEALTHZ_LUA = """
wrk.headers["User-Agent"] = "%(agent)s"
"""
DONE_LUA = """
done = function(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %%d, "seconds": %%f, "p50_us": %%d, "p99_us": %%d, "max_us": %%d, ' ..
    '"non2xx": %%d, "errors": %%d, "timeouts": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    latency.max, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout))
end
"""


@dataclass
class Run:
    endpoint: str
    requests: int
    rate: float
    p50_ms: float
    p99_ms: float
    failures: int  # non-2xx answers and socket errors
    timeouts: int  # no answer within wrk's 2 s (a machine too busy to measure on)
    app_cpu_us: float = 0.0  # CPU time of the app's process per request
    db_cpu_us: float = 0.0  # CPU time of the database server's processes per request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/assign.py needs wrk: apt-get install wrk")

    results: dict[str, list[tuple[Run, Run]]] = {}
    loads = [os.getloadavg()[0]]
    for engine in args.engines.split(","):
        # Room for every session of the run without reusing a number (leases last 30 min).
        trackers = args.rounds * (args.duration + 2) * 8000 + 5000
        with database_for(engine, PG_SERVER) as url:
            seed(url, trackers)
            with server(url, args.port) as (base, pid):
                results[engine] = measure(base, pid, args)
            check(url, results[engine])
        loads.append(os.getloadavg()[0])

    text = report(results, args, loads)
    print(text)
    if not args.no_write:
        write_section("assign", text, HEADING)


def seed(url: str, trackers: int) -> None:
    database = Database(url)
    database.migrate()
    session_pool_site(database, site_key=SITE_KEY, origin=ORIGIN, trackers=trackers)
    database.dispose()


@contextmanager
def server(url: str, port: int) -> Iterator[tuple[str, int]]:
    env = {
        **os.environ,
        "CALLPOOL_DATABASE_URL": url,
        "CALLPOOL_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CALLPOOL_SECRET_KEY": "bench-secret-key-0123456789",
        "CALLPOOL_TRUSTED_PROXIES": "127.0.0.1",  # wrk plays the proxy: see VISIT_LUA
    }
    # What an operator runs: one process, the worker's jobs in a thread on SQLite.
    command = [sys.executable, "-m", "callpool", "serve", "--port", str(port), "--no-access-log"]
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # importing the app takes seconds on a busy machine
        while not _answers(f"{base}/healthz"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).read()  # noqa: S310
    except OSError:
        return False
    return True


def measure(base: str, pid: int, args: argparse.Namespace) -> list[tuple[Run, Run]]:
    with tempfile.TemporaryDirectory() as folder:
        values = {"origin": ORIGIN, "agent": BROWSER, "key": SITE_KEY}
        visit_lua = Path(folder) / "visit.lua"
        visit_lua.write_text(VISIT_LUA % values + DONE_LUA % {})
        healthz_lua = Path(folder) / "healthz.lua"
        healthz_lua.write_text(HEALTHZ_LUA % values + DONE_LUA % {})
        wrk(base, "/t/visit", visit_lua, 2, args.connections)  # warm caches and the pool
        rounds = []
        for _ in range(args.rounds):
            healthz = wrk_with_cpu(base, pid, "/healthz", healthz_lua, args)
            visit = wrk_with_cpu(base, pid, "/t/visit", visit_lua, args)
            print(f"  healthz {healthz.rate:8.0f}/s   visit {visit.rate:8.0f}/s", file=sys.stderr)
            rounds.append((healthz, visit))
        return rounds


def wrk_with_cpu(base: str, pid: int, path: str, script: Path, args: argparse.Namespace) -> Run:
    """A wrk run, with the CPU time the app and the database server spent per request."""
    app, database = cpu_seconds([pid]), cpu_seconds(database_server_pids())
    run = wrk(base, path, script, args.duration, args.connections)
    run.app_cpu_us = (cpu_seconds([pid]) - app) / run.requests * 1e6
    run.db_cpu_us = (cpu_seconds(database_server_pids()) - database) / run.requests * 1e6
    return run


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes (all their threads), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # a backend that ended meanwhile: its time is lost to both readings
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def database_server_pids() -> list[int]:
    """PostgreSQL's processes on this machine (its backends, WAL writer, checkpointer…)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def wrk(base: str, path: str, script: Path, seconds: int, connections: int) -> Run:
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), base + path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"^RESULT (.*)$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    figures = json.loads(match.group(1))
    return Run(
        endpoint=path,
        requests=figures["requests"],
        rate=figures["requests"] / figures["seconds"],
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        failures=figures["non2xx"] + figures["errors"],
        timeouts=figures["timeouts"],
    )


def check(url: str, rounds: list[tuple[Run, Run]]) -> None:
    """Every visit answered 200 made a session with its own, unshared lease."""
    failures = sum(run.failures for pair in rounds for run in pair)
    timeouts = sum(run.timeouts for pair in rounds for run in pair)
    database = Database(url)
    with database.reader() as db:
        sessions = db.scalar(select(func.count()).select_from(VisitSession))
        leases = db.scalar(select(func.count()).select_from(Lease))
        shared = db.scalar(select(func.count()).select_from(Lease).where(Lease.shared))
        exhausted = db.scalar(select(func.count()).select_from(PoolEvent))
    database.dispose()
    print(
        f"  check: {sessions} sessions, {leases} leases, {shared} shared, "
        f"{exhausted} exhaustion events, {failures} failed requests, {timeouts} timeouts",
        file=sys.stderr,
    )
    if failures or sessions != leases or shared or exhausted:
        raise RuntimeError("the benchmark run was not clean; figures are not reported")


def report(
    results: dict[str, list[tuple[Run, Run]]], args: argparse.Namespace, loads: list[float]
) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `bench/assign.py`: "
        f"one uvicorn worker, `wrk -t1 -c{args.connections}`, {args.rounds} rounds of "
        f"{args.duration} s per endpoint, alternating, on the project's 2-core machine, shared "
        f"with other work while measured (1-minute load average "
        f"{', '.join(f'{load:.1f}' for load in loads)} before, between and after the engines). "
        "Every `/t/visit` starts a new session, from a client address of its own (through "
        "a trusted proxy: the per-address limits are checked), and leases a "
        "free tracker (checked in the database afterwards: one unshared lease per session, no "
        "exhaustion, no failed request). Figures are medians of the rounds.",
        "",
        "| engine | `/t/visit` assignments/s | p50 | p99 | `/healthz` req/s | p50 | p99 "
        "| visit / healthz |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for engine, rounds in results.items():
        healthz = [h for h, _ in rounds]
        visits = [v for _, v in rounds]
        ratio = statistics.median(v.rate / h.rate for h, v in rounds)
        lines.append(
            f"| {engine} | {median(visits, 'rate'):,.0f} | {median(visits, 'p50_ms'):.1f} ms "
            f"| {median(visits, 'p99_ms'):.1f} ms | {median(healthz, 'rate'):,.0f} "
            f"| {median(healthz, 'p50_ms'):.1f} ms | {median(healthz, 'p99_ms'):.1f} ms "
            f"| {ratio:.0%} |"
        )
    timeouts = sum(run.timeouts for rounds in results.values() for pair in rounds for run in pair)
    if timeouts:
        lines += ["", f"{timeouts} requests timed out (over 2 s): the machine was overloaded."]
    lines += [
        "",
        "CPU time per request (medians) of the app's process and of PostgreSQL's processes. "
        "A second of this machine holds 2,000,000 µs of CPU (2 cores), shared by the app, the "
        "database server and wrk:",
        "",
        "| engine | `/t/visit` app | `/t/visit` database server | `/healthz` app |",
        "|---|---:|---:|---:|",
    ]
    for engine, rounds in results.items():
        healthz = [h for h, _ in rounds]
        visits = [v for _, v in rounds]
        server = (
            "(in the app's process)"
            if engine == "sqlite"
            else f"{median(visits, 'db_cpu_us'):,.0f} µs"
        )
        lines.append(
            f"| {engine} | {median(visits, 'app_cpu_us'):,.0f} µs | {server} "
            f"| {median(healthz, 'app_cpu_us'):,.0f} µs |"
        )
    lines += ["", "Rounds (healthz req/s → visit assignments/s, visit p99):", ""]
    for engine, rounds in results.items():
        figures = ", ".join(f"{h.rate:,.0f} → {v.rate:,.0f} ({v.p99_ms:.1f} ms)" for h, v in rounds)
        lines.append(f"- {engine}: {figures}")
    lines += [
        "",
        verdict(results),
        "",
        "How a visit is served and where its time goes: the section after this one.",
        "",
        "Reproduce: `apt-get install wrk`, a PostgreSQL server at `CALLPOOL_TEST_PG` (default "
        "`postgresql://postgres@127.0.0.1:5432`, which may create databases), then "
        "`.venv/bin/python bench/assign.py` (options: `--engines sqlite`, `--duration`, "
        "`--rounds`, `--no-write`).",
    ]
    return "\n".join(lines)


TARGET_RATE, TARGET_P99_MS, TARGET_RATIO = 1500, 15.0, 0.40


def verdict(results: dict[str, list[tuple[Run, Run]]]) -> str:
    """Which targets the figures meet, computed from them."""
    met: list[str] = []
    missed: list[str] = []
    sqlite = results.get("sqlite")
    if sqlite is not None:
        visits = [v for _, v in sqlite]
        rate, p99 = median(visits, "rate"), median(visits, "p99_ms")
        (met if rate >= TARGET_RATE else missed).append(f"SQLite throughput ({rate:,.0f}/s)")
        (met if p99 <= TARGET_P99_MS else missed).append(f"SQLite p99 ({p99:.1f} ms)")
    for engine, rounds in results.items():
        ratio = statistics.median(v.rate / h.rate for h, v in rounds)
        (met if ratio >= TARGET_RATIO else missed).append(f"the {engine} ratio ({ratio:.0%})")
    return (
        f"Targets: ≥ {TARGET_RATE:,} assignments/s and p99 ≤ {TARGET_P99_MS:.0f} ms on SQLite; "
        f"assignments at ≥ {TARGET_RATIO:.0%} of the `/healthz` rate. "
        f"Met: {', '.join(met) or 'none'}. Not met: {', '.join(missed) or 'none'}."
    )


def median(runs: list[Run], field: str) -> float:
    return statistics.median(float(getattr(run, field)) for run in runs)


if __name__ == "__main__":
    main()
