"""Time the reports page's queries on 1,000,000 sessions and 100,000 calls in PostgreSQL.

Run by hand (not a test): ``.venv/bin/python bench/reports.py``. It creates a fresh database
on the server (default ``postgresql://postgres@127.0.0.1:5432``, override with
``CALLPOOL_BENCH_PG``), migrates it, bulk-loads one account's 90 days with COPY, runs ANALYZE,
rolls up the closed days as the worker would (timed), times each report several times through
the same service functions the dashboard and the REST API call, writes the figures into the
"reports" section of ``docs/benchmarks.md`` and drops the database (``--keep`` leaves it for
EXPLAIN).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import psycopg
from figures import write_section  # bench/figures.py

from callpool.db import Database
from callpool.reports import service
from callpool.reports.rollup import LATE_WINDOW, rollup_days
from callpool.reports.schemas import DIMENSIONS, Period

SERVER = os.environ.get("CALLPOOL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
SESSIONS = 1_000_000
CALLS = 100_000
DAYS = 90
END = datetime(2026, 3, 1, tzinfo=UTC)
START = END - timedelta(days=DAYS)
# The worker's clock: late on the last day, so that day and the late window are read live.
NOW = END - timedelta(hours=1)
RUNS = 5
TARGET_MS = 300.0
SEED = 20260301

# Channels: (weight, source, medium, campaigns, terms, pool, call weight).
CHANNELS = [
    (30, "google", "cpc", 24, 3000, "paid", 3.0),
    (24, "google", "organic", 0, 0, "organic", 1.0),
    (14, "(direct)", "(none)", 0, 0, "organic", 1.2),
    (10, "facebook", "paid", 12, 0, "paid", 0.8),
    (5, "bing", "cpc", 8, 800, "paid", 2.5),
    (12, "referral", "referral", 0, 0, "organic", 0.7),
    (5, "newsletter", "email", 15, 0, "organic", 1.0),
]
# Busier in the day than at night: relative weight of each UTC hour.
HOURS = [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 10, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
PATHS = ["/"] + [f"/services/{n}" for n in range(120)] + [f"/blog/post-{n}" for n in range(180)]
POOL_SIZES = {"paid": 60, "organic": 90}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--smoke", action="store_true", help="1 %% of the rows, docs untouched")
    parser.add_argument(
        "--retime",
        metavar="DATABASE",
        help="time a database kept by --keep again (rollup included), no load",
    )
    args = parser.parse_args()
    if args.smoke:
        global SESSIONS, CALLS
        SESSIONS, CALLS = SESSIONS // 100, CALLS // 100
    name = args.retime or f"callpool_bench_reports_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(f"{SERVER}/postgres", autocommit=True)
    url = f"{SERVER.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    try:
        if not args.retime:
            admin.execute(f'CREATE DATABASE "{name}"')
        database = Database(url)
        load_seconds = None
        if not args.retime:
            database.migrate()
            started = time.perf_counter()
            load(f"{SERVER}/{name}")
            load_seconds = time.perf_counter() - started
            print(f"loaded in {load_seconds:.0f} s", file=sys.stderr)
        account_id = _bench_account(name)
        if args.retime:
            _forget_rollups(name)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        rolled = rollup_days(database, NOW)
        rollup_seconds = time.perf_counter() - started
        print(f"rolled up {len(rolled)} days in {rollup_seconds:.1f} s", file=sys.stderr)
        started = time.perf_counter()
        rollup_days(database, NOW)  # a worker's run with nothing new: the late-call check
        idle_rollup_ms = (time.perf_counter() - started) * 1000
        results = measure(database, account_id)
        load_after = os.getloadavg()[0]
        database.dispose()
        if not args.smoke:
            rollup = (len(rolled), rollup_seconds, idle_rollup_ms)
            write_docs(results, load_seconds, rollup, (load_before, load_after))
    finally:
        if args.keep:
            print(f"kept database {name}", file=sys.stderr)
        else:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def _forget_rollups(name: str) -> None:
    """Every day not rolled up, so that the rollup is timed again from scratch."""
    with psycopg.connect(f"{SERVER}/{name}") as conn:
        conn.execute("DELETE FROM rolled_days")


def _bench_account(name: str) -> int:
    with psycopg.connect(f"{SERVER}/{name}") as conn:
        row = conn.execute("SELECT min(id) FROM accounts").fetchone()
    assert row is not None
    return int(row[0])


# --- data ----------------------------------------------------------------------------------


def load(dsn: str) -> tuple[int, list[int]]:
    rng = random.Random(SEED)
    with psycopg.connect(dsn) as conn:
        created = START - timedelta(days=30)
        account_id = _insert(conn, "accounts", name="Bench Plumbing", created_at=created)
        site_id = _insert(
            conn,
            "sites",
            account_id=account_id,
            name="bench.test",
            public_key=uuid.uuid4().hex,
            allowed_origins="[]",
            region="US",
            created_at=created,
        )
        pools = {
            kind: _pool(conn, account_id, site_id, kind, size, created)
            for kind, size in POOL_SIZES.items()
        }
        trackers = {
            kind: _trackers(conn, pool_id, POOL_SIZES[kind], created, kind)
            for kind, pool_id in pools.items()
        }
        conn.execute("SET session_replication_role = replica")
        candidates = _load_sessions(dsn, conn, rng, site_id, trackers)
        _load_calls(conn, rng, account_id, pools, candidates)
        _load_pool_events(conn, rng, list(pools.values()))
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return account_id, list(pools.values())


def _insert(conn: psycopg.Connection[Any], table: str, **values: Any) -> int:
    columns = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    row = conn.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING id",  # noqa: S608
        list(values.values()),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _pool(
    conn: psycopg.Connection[Any], account_id: int, site_id: int, kind: str, size: int, at: datetime
) -> int:
    return _insert(
        conn,
        "pools",
        account_id=account_id,
        site_id=site_id,
        name=f"{kind} visitors",
        kind="session",
        original_number="+15125550100",
        toll_free=False,
        size=size,
        min_sources=1,
        visit_threshold=100,
        window_days=30,
        timeline_days=30,
        lease_minutes=30,
        overflow_policy="reuse",
        record_calls=True,
        rules="{}",
        priority=0,
        created_at=at,
        updated_at=at,
    )


def _trackers(
    conn: psycopg.Connection[Any], pool_id: int, count: int, at: datetime, kind: str
) -> list[tuple[int, str]]:
    prefix = 1 if kind == "paid" else 2
    trackers = []
    for n in range(count):
        number = f"+1512{prefix}{n:06d}"
        tracker_id = _insert(
            conn,
            "trackers",
            pool_id=pool_id,
            number=number,
            provider="sandbox",
            status="available",
            created_at=at,
        )
        trackers.append((tracker_id, number))
    return trackers


def _moment(rng: random.Random) -> datetime:
    day = START + timedelta(days=rng.randrange(DAYS))
    hour = rng.choices(range(24), weights=HOURS)[0]
    return day + timedelta(hours=hour, seconds=rng.randrange(3600))


def _zipf(rng: random.Random, count: int) -> int:
    """A rank in [0, count): a few values are common, most are rare."""
    return min(int(rng.paretovariate(1.2)) - 1, count - 1)


Candidate = tuple[str, datetime, str, int, str, str, str]  # session, start, pool, tracker …
VISITORS = int(SESSIONS * 0.75)  # a quarter of the sessions are returning visitors


def _load_sessions(
    dsn: str,
    conn: psycopg.Connection[Any],
    rng: random.Random,
    site_id: int,
    trackers: dict[str, list[tuple[int, str]]],
) -> list[Candidate]:
    """Visitors, sessions and leases; returns sessions that may call (more from paid search).

    Sessions and leases are copied at once over two connections with foreign-key triggers
    off for the load (``session_replication_role``): the rows are consistent by construction.
    """
    weights = [channel[0] for channel in CHANNELS]
    visitors = [uuid.uuid4().hex for _ in range(VISITORS)]
    callers_per_session = CALLS * 1.4 / (SESSIONS * 0.98 * 1.65)  # then sampled down to CALLS
    candidates: list[Candidate] = []
    next_tracker = dict.fromkeys(trackers, 0)
    with (
        conn.cursor() as cur,
        cur.copy("COPY visitors (id, site_id, first_seen_at) FROM STDIN") as copy,
    ):
        for visitor_id in visitors:
            copy.write_row((visitor_id, site_id, START))
    with psycopg.connect(dsn) as lease_conn:
        lease_conn.execute("SET session_replication_role = replica")
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY sessions (id, site_id, visitor_id, started_at, last_seen_at, source, medium, "
                "campaign, term, landing_url, user_agent, device, is_bot, pageview_count) "
                "FROM STDIN"
            ) as sessions,
            lease_conn.cursor() as lease_cur,
            lease_cur.copy(
                "COPY leases (tracker_id, session_id, started_at, leased_until, shared) FROM STDIN"
            ) as leases,
        ):
            # In time order, as a live site writes them: a period is a stretch of the table.
            for started in sorted(_moment(rng) for _ in range(SESSIONS)):
                channel = rng.choices(CHANNELS, weights=weights)[0]
                _w, source, medium, campaigns, terms, kind, call_weight = channel
                path = PATHS[_zipf(rng, len(PATHS))]
                query = f"?gclid={uuid.uuid4().hex}" if medium == "cpc" else ""
                pages = 1 + _zipf(rng, 15)
                seen = started + timedelta(seconds=rng.randrange(60, 600) * (pages - 1))
                is_bot = rng.random() < 0.02
                session_id = uuid.uuid4().hex
                sessions.write_row(
                    (
                        session_id,
                        site_id,
                        rng.choice(visitors),
                        started,
                        seen,
                        source,
                        medium,
                        f"campaign-{_zipf(rng, campaigns)}" if campaigns else None,
                        f"keyword {_zipf(rng, terms)}" if terms else None,
                        f"https://www.bench.test{path}{query}",
                        "Mozilla/5.0 (bench)",
                        "bot" if is_bot else rng.choice(("desktop", "mobile", "mobile")),
                        is_bot,
                        pages,
                    )
                )
                if is_bot:
                    continue  # bots never get a lease
                pool = trackers[kind]
                tracker_id, number = pool[next_tracker[kind] % len(pool)]
                next_tracker[kind] += rng.randrange(1, 4)
                leases.write_row(
                    (tracker_id, session_id, started, seen + timedelta(minutes=30), False)
                )
                if rng.random() < callers_per_session * call_weight:
                    candidates.append(
                        (session_id, started, kind, tracker_id, number, source, medium)
                    )
        lease_conn.commit()
    return candidates


def _load_calls(
    conn: psycopg.Connection[Any],
    rng: random.Random,
    account_id: int,
    pools: dict[str, int],
    candidates: list[Candidate],
) -> None:
    chosen = sorted(rng.sample(candidates, CALLS), key=lambda candidate: candidate[1])
    callers = [f"+1737{n:07d}" for n in range(int(CALLS * 0.7))]
    first_calls: dict[str, int] = {}  # caller → their first call, as attribution links them
    statuses = ["completed", "no-answer", "busy", "failed"]
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY calls (id, provider, provider_call_id, account_id, tracker_id, pool_id, "
            "from_number, to_number, forwarded_to, started_at, ended_at, status, status_rank, "
            "duration, recording_url, session_id, source, medium, confidence, candidates, "
            "ranking, first_call_id) FROM STDIN"
        ) as copy,
    ):
        for n, (session_id, started, kind, tracker_id, number, source, medium) in enumerate(chosen):
            call_id = n + 1
            caller = rng.choice(callers)
            at = min(started + timedelta(seconds=rng.randrange(30, 1800)), END - timedelta(1))
            status = rng.choices(statuses, weights=[75, 15, 7, 3])[0]
            duration = rng.randrange(20, 900) if status == "completed" else None
            attributed = rng.random() > 0.08
            copy.write_row(
                (
                    call_id,
                    "sandbox",
                    f"CA{n:032d}",
                    account_id,
                    tracker_id,
                    pools[kind],
                    caller,
                    number,
                    "+15125550100",
                    at,
                    at + timedelta(seconds=duration or 25),
                    status,
                    4,
                    duration,
                    f"https://recordings.bench.test/{n}.mp3" if duration else None,
                    session_id if attributed else None,
                    source if attributed else None,
                    medium if attributed else None,
                    round(rng.uniform(0.5, 1.0), 2) if attributed else 0.0,
                    "[]",
                    "[]",
                    first_calls.get(caller),
                )
            )
            first_calls.setdefault(caller, call_id)
    # The ids were given explicitly: move the sequence past them.
    conn.execute("SELECT setval(pg_get_serial_sequence('calls', 'id'), %s)", [CALLS])


def _load_pool_events(
    conn: psycopg.Connection[Any], rng: random.Random, pool_ids: list[int]
) -> None:
    with (
        conn.cursor() as cur,
        cur.copy("COPY pool_events (pool_id, kind, at, detail) FROM STDIN") as copy,
    ):
        for pool_id in pool_ids:
            for _ in range(3000):
                copy.write_row((pool_id, "exhausted", _moment(rng), "{}"))
            for day in range(DAYS * 24):
                copy.write_row((pool_id, "rebalanced", START + timedelta(hours=day), "{}"))


# --- timing --------------------------------------------------------------------------------

Result = tuple[str, str, float, float]  # query, period, median ms, max ms


def measure(database: Database, account_id: int) -> list[Result]:
    periods = {
        "last 30 days": Period(start=END - timedelta(days=30), end=END),
        f"all {DAYS} days": Period(start=START, end=END),
    }
    results: list[Result] = []
    for label, period in periods.items():
        queries: dict[str, Callable[[Database], object]] = {
            "totals": partial(service.totals, account_id=account_id, period=period),
            "calls over time (day)": partial(
                service.calls_over_time, account_id=account_id, period=period, interval="day"
            ),
        }
        for dimension in DIMENSIONS:
            queries[f"breakdown: {dimension}"] = partial(
                service.breakdown, account_id=account_id, period=period, dimension=dimension
            )
        queries["pool health (2 pools, day)"] = partial(
            service.pool_health, account_id=account_id, period=period, interval="day"
        )
        queries["CSV export (all rows)"] = partial(_export_size, account_id=account_id, p=period)
        for name, query in queries.items():
            median, worst = _time(database, query)
            results.append((name, label, median, worst))
            print(f"{label:>14}  {name:<28} {median:8.1f} ms  max {worst:8.1f}", file=sys.stderr)
    return results


def _export_size(database: Database, account_id: int, p: Period) -> int:
    return sum(len(chunk) for chunk in service.export_calls_csv(database, account_id, p))


def _time(database: Database, query: Callable[[Database], object]) -> tuple[float, float]:
    """One warm-up, then ``RUNS`` timed runs; each report opens its own read transaction."""
    timings = []
    for run in range(RUNS + 1):
        started = time.perf_counter()
        query(database)
        elapsed = (time.perf_counter() - started) * 1000
        if run:
            timings.append(elapsed)
    return statistics.median(timings), max(timings)


# --- report --------------------------------------------------------------------------------


def write_docs(
    results: list[Result],
    load_seconds: float | None,
    rollup: tuple[int, float, float],
    load: tuple[float, float],
) -> None:
    pools = len(POOL_SIZES)
    loaded = "loaded with COPY" + (f" in {load_seconds:.0f} s" if load_seconds else "")
    days, rollup_seconds, idle_ms = rollup
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d} on PostgreSQL "
        f"{_server_version()}, {os.cpu_count()} cores shared with other work, Python "
        f"{platform.python_version()}. One account, one site: {SESSIONS:,} sessions "
        f"(2 % bots) and {CALLS:,} calls over {DAYS} days, {pools} session pools with a lease "
        f"for every human session, {loaded}, then "
        "`VACUUM ANALYZE`.",
        "",
        f"Each figure is the service function the reports page calls (query and Python merge), "
        f"{RUNS} runs after one warm-up, in milliseconds. Target: each page query under "
        f"{TARGET_MS:.0f} ms (the CSV export streams a file and has no target). The machine's "
        f"load average was {load[0]:.1f} when timing began and {load[1]:.1f} when it ended "
        "(other engineers' test suites were running): on 2 cores, anything above 2 means "
        "queries waited for a CPU, and the figures are that much slower than on an idle server.",
        "",
        "Daily rollups (`src/callpool/reports/rollup.py`): the worker writes, per closed UTC "
        "day, sessions by site and dimension (`daily_session_stats`), calls by account, pool "
        "and dimension with answered/missed/first-time/attributed/duration sums "
        "(`daily_call_stats`) and each pool's peak concurrent leases and leases started per "
        "hour (`hourly_pool_stats`). A day is rolled up once it ended "
        f"{LATE_WINDOW.days} days ago; reports read rolled days from the rollups and the "
        "rest (today, the late window, a period's partial first and last day) live. The "
        f"benchmark's worker clock is {NOW:%Y-%m-%d %H:%M} UTC, so the last "
        f"{(END - (NOW - LATE_WINDOW).replace(hour=0)).days} days of every period are live. "
        f"Rolling up the {days} closed days after the load took {rollup_seconds:.1f} s "
        "(one transaction per 31 days: per day an INSERT … SELECT of sessions and of calls, "
        "one window-function lease sweep per pool); a worker run with nothing to roll up "
        f"(it still checks the last 35 days' call counts for late calls) took {idle_ms:.0f} ms.",
        "",
        "The live part relies on: the partial index `ix_sessions_humans` (site, start) INCLUDE "
        "(source, medium) WHERE NOT is_bot, and `ix_sessions_humans_campaign` (site, start) "
        "INCLUDE (campaign, term); calls use `ix_calls_account_started`; a call's campaign, "
        "keyword and landing page are looked up by session key; landing pages are grouped by "
        "URL without its query string in SQL and reduced to paths in Python; pool health is "
        "one window-function sweep per pool and live stretch over `ix_leases_tracker_time`; "
        "JIT is off for report transactions.",
        "",
        "Before the rollups (live rows only, same data, load average about 3): totals 82 / "
        "310 ms (30 / 90 days), calls over time 76 / 263, breakdowns by source, medium, "
        "source / medium 98–121 / 352–461, by campaign and term 277–285 / 914–1052, by "
        "landing page 534 / 1296, pool health 730 / 3695.",
        "",
        over_target_note(results),
        "",
        "| query | period | median ms | max ms | |",
        "|---|---|---:|---:|---|",
    ]
    for name, period, median, worst in results:
        verdict = "" if name.startswith("CSV") else ("✓" if worst < TARGET_MS else "over")
        lines.append(f"| {name} | {period} | {median:.0f} | {worst:.0f} | {verdict} |")
    lines += [
        "",
        "Reproduce: `.venv/bin/python bench/reports.py` (needs PostgreSQL on 127.0.0.1:5432, "
        "user postgres; set `CALLPOOL_BENCH_PG` for another server; `--keep` keeps the "
        "database for EXPLAIN, `--retime NAME` times a kept database again without reloading it). "
        "It takes a few minutes, most of it generating and loading rows.",
    ]
    write_section("reports", "\n".join(lines), "Report queries (`bench/reports.py`)")


def over_target_note(results: list[Result]) -> str:
    over = [
        f"{name} ({period})"
        for name, period, _median, worst in results
        if not name.startswith("CSV") and worst >= TARGET_MS
    ]
    if not over:
        return "Every page query is under target."
    return f"Over target: {', '.join(over)}."


def _server_version() -> str:
    with psycopg.connect(f"{SERVER}/postgres") as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"


if __name__ == "__main__":
    main()
