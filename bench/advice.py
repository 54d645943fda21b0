"""Time one pool-size advice refresh on a site of 1,000,000 sessions in 30 days; writes the
"advice" section of ``docs/benchmarks.md``::

    .venv/bin/python bench/advice.py                  # PostgreSQL, then SQLite
    .venv/bin/python bench/advice.py --engine postgresql
    .venv/bin/python bench/advice.py --smoke          # 1 % of the sessions, no doc written

Run by hand, not in CI: the load alone takes minutes. Each engine gets a fresh database
(PostgreSQL on ``CALLPOOL_BENCH_PG``, default ``postgresql://postgres@127.0.0.1:5432``; SQLite
in a temporary file), migrated, with one account, site and session pool built by the tests'
factories, and the site's month bulk-loaded (PostgreSQL: COPY, as ``bench/reports.py``;
SQLite: executemany). Then the worker's own advice job (``callpool.simulation.daily.Adviser``)
runs once at the month's end: it finds the pool due, starts its niced child, and the child
reads the history, simulates every size and stores the advice event. Timed is that whole run,
from the job's start to the child's exit; the child's peak memory comes from ``getrusage``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from figures import write_section  # bench/figures.py
from seed import database_for, session_pool_site  # bench/seed.py
from sqlalchemy import insert, select

from callpool import clock
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Pageview, Pool, Visitor, VisitSession
from callpool.settings import Settings
from callpool.simulation.daily import CHILD_TIMEOUT, Adviser, latest_advice
from callpool.simulation.history import MAX_SESSIONS

SERVER = os.environ.get("CALLPOOL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
HEADING = "Pool-size advice on a busy site (`bench/advice.py`)"
SESSIONS = 1_000_000
DAYS = 30
# The worker's run: a little after the month's last session, as a daily job would find it.
NOW = datetime(2026, 3, 1, 0, 5, tzinfo=UTC)
MONTH_START = NOW - timedelta(days=DAYS)
POOL_SIZE = 60
SEED = 20260301
BATCH = 50_000
# Busier in the day than at night: relative weight of each UTC hour (as bench/reports.py).
HOURS = [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 10, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
ORIGIN = "https://www.bench.test"


@dataclass(frozen=True)
class Result:
    engine: str
    load_seconds: float
    run_seconds: float
    child_mb: float
    load: tuple[float, float]  # the machine's load average before and after the run
    printed: dict[str, Any]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--engine", choices=("postgresql", "sqlite", "both"), default="both", help="(default: both)"
    )
    parser.add_argument("--smoke", action="store_true", help="1 %% of the sessions, no doc")
    args = parser.parse_args()
    sessions = SESSIONS // 100 if args.smoke else SESSIONS
    engines = ("postgresql", "sqlite") if args.engine == "both" else (args.engine,)
    results = []
    for engine in engines:
        with database_for(engine, SERVER) as url:
            results.append(measure(engine, url, sessions))
        print(summary(results[-1]), file=sys.stderr)
    if not args.smoke:
        write_section("advice", report(results), HEADING)


def measure(engine: str, url: str, sessions: int) -> Result:
    database = Database(url)
    previous = clock.use(FrozenClock(MONTH_START - timedelta(days=1)))
    try:
        database.migrate()
        site = session_pool_site(
            database, site_key=uuid.uuid4().hex, origin=ORIGIN, trackers=POOL_SIZE
        )
        started = time.perf_counter()
        if engine == "postgresql":
            load_postgresql(url, site.id, sessions)
        else:
            load_sqlite(database, site.id, sessions)
        load_seconds = time.perf_counter() - started
        print(f"{engine}: loaded {sessions} sessions in {load_seconds:.0f} s", file=sys.stderr)
        clock.use(FrozenClock(NOW))
        settings = Settings(
            database_url=url,
            secret_key=secrets.token_urlsafe(32),
            _env_file=None,  # type: ignore[call-arg]
        )
        adviser = Adviser()
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        adviser(database, settings, None)  # type: ignore[arg-type]  # no carrier is called
        adviser.wait(CHILD_TIMEOUT.total_seconds())
        run_seconds = time.perf_counter() - started
        load = (load_before, os.getloadavg()[0])
        child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        with database.reader() as db:
            advice = latest_advice(db, db.scalars(select(Pool.id)).one())
        if advice is None:
            raise SystemExit(f"{engine}: the child stored no advice")
        printed = {
            "sessions": advice.sessions,
            "days": advice.days,
            "sizes": [size for size, _ in advice.curve],
            "accuracy": advice.accuracy,
            "largest": advice.curve[-1],
            "recommended_size": advice.recommended_size,
            "target": advice.target,
        }
        return Result(engine, load_seconds, run_seconds, child_mb, load, printed)
    finally:
        clock.use(previous)
        database.dispose()


# --- data ----------------------------------------------------------------------------------


def month(site_id: int, sessions: int) -> Iterator[tuple[dict[str, Any], list[datetime]]]:
    """The site's sessions in time order, each with its pageview times: a quarter of them by
    returning visitors, 1 to 15 pages (most a few), a day/night curve."""
    rng = random.Random(SEED)
    visitors: list[str] = []
    starts = sorted(
        MONTH_START
        + timedelta(
            days=rng.randrange(DAYS),
            hours=rng.choices(range(24), weights=HOURS)[0],
            seconds=rng.random() * 3600,
        )
        for _ in range(sessions)
    )
    for started in starts:
        if visitors and rng.random() < 0.25:
            visitor, new = rng.choice(visitors), False
        else:
            visitor, new = uuid.uuid4().hex, True
            visitors.append(visitor)
        views = [started]
        for _ in range(min(int(rng.paretovariate(1.2)) - 1, 14)):
            views.append(views[-1] + timedelta(seconds=rng.randrange(20, 400)))
        session = {
            "id": uuid.uuid4().hex,
            "site_id": site_id,
            "visitor_id": visitor,
            "new_visitor": new,
            "started_at": started,
            "last_seen_at": views[-1] + timedelta(seconds=rng.randrange(5, 120)),
            "source": "google",
            "medium": "organic",
            "landing_url": f"{ORIGIN}/",
            "device": rng.choice(("desktop", "mobile", "mobile")),
            "is_bot": False,
            "pageview_count": len(views),
        }
        yield session, views


SESSION_COLUMNS = (
    "id",
    "site_id",
    "visitor_id",
    "started_at",
    "last_seen_at",
    "source",
    "medium",
    "landing_url",
    "device",
    "is_bot",
    "pageview_count",
)


def load_postgresql(url: str, site_id: int, sessions: int) -> None:
    """COPY over three connections at once, foreign-key triggers off for the load
    (``session_replication_role``): the rows are consistent by construction."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    connections = [psycopg.connect(dsn) for _ in range(3)]
    try:
        for conn in connections:
            conn.execute("SET session_replication_role = replica")
        visitors_conn, sessions_conn, views_conn = connections
        columns = ", ".join(SESSION_COLUMNS)
        with (
            visitors_conn.cursor() as cur_v,
            cur_v.copy("COPY visitors (id, site_id, first_seen_at) FROM STDIN") as visitors,
            sessions_conn.cursor() as cur_s,
            cur_s.copy(f"COPY sessions ({columns}) FROM STDIN") as rows,
            views_conn.cursor() as cur_p,
            cur_p.copy("COPY pageviews (session_id, url, at) FROM STDIN") as views,
        ):
            for session, times in month(site_id, sessions):
                if session["new_visitor"]:
                    visitors.write_row((session["visitor_id"], site_id, session["started_at"]))
                rows.write_row(tuple(session[name] for name in SESSION_COLUMNS))
                for at in times:
                    views.write_row((session["id"], f"{ORIGIN}/", at))
        for conn in connections:
            conn.commit()
    finally:
        for conn in connections:
            conn.close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def load_sqlite(database: Database, site_id: int, sessions: int) -> None:
    """Batched executemany through SQLAlchemy Core (its UTC column type writes the times)."""
    visitors: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    views: list[dict[str, Any]] = []

    def flush() -> None:
        with database.session() as db:
            for table, batch in ((Visitor, visitors), (VisitSession, rows), (Pageview, views)):
                if batch:
                    db.execute(insert(table), batch)
                batch.clear()

    for session, times in month(site_id, sessions):
        if session.pop("new_visitor"):
            visitors.append(
                {"id": session["visitor_id"], "site_id": site_id, "first_seen_at": times[0]}
            )
        rows.append(session)
        views.extend({"session_id": session["id"], "url": f"{ORIGIN}/", "at": at} for at in times)
        if len(rows) >= BATCH:
            flush()
    flush()
    with database.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")


# --- report --------------------------------------------------------------------------------


def summary(result: Result) -> str:
    printed = result.printed
    return (
        f"{result.engine}: advice in {result.run_seconds:.0f} s, child peak {result.child_mb:.0f}"
        f" MB; {printed['sessions']} sessions over {printed['days']:.2f} days, sizes"
        f" {printed['sizes']}, recommended {printed['recommended_size']}"
    )


def report(results: list[Result]) -> str:
    rows = [
        "| engine | load | one advice refresh | child's peak memory | sessions replayed | days "
        "| sizes simulated | accuracy at 60 | at the largest | smallest size for 99 % "
        "| load average |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        p = r.printed
        sizes = p["sizes"]
        rows.append(
            f"| {r.engine} | {r.load_seconds:.0f} s | **{r.run_seconds:.0f} s** "
            f"| {r.child_mb:.0f} MB | {p['sessions']:,} | {p['days']:.2f} "
            f"| {len(sizes)}, {sizes[0]} to {sizes[-1]:,} | {p['accuracy'] * 100:.1f} % "
            f"| {p['largest'][1] * 100:.1f} % "
            f"| {p['recommended_size'] or f'none up to {sizes[-1]:,}'} "
            f"| {r.load[0]:.1f} → {r.load[1]:.1f} |"
        )
    machine = f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()}"
    return "\n".join(
        [
            f"{SESSIONS:,} sessions in {DAYS} days on one site (about {SESSIONS // DAYS:,} a "
            f"day, a day/night curve, a quarter returning visitors), a pool of {POOL_SIZE}. "
            "Timed: the worker's advice job once, from finding the pool due to the child's "
            "exit (it reads the history, replays it through every size with our rules and "
            "the naive allocator, and stores the advice). "
            f"The replay is capped at {MAX_SESSIONS:,} sessions, on whole days: here the "
            "month's last day.",
            "",
            *rows,
            "",
            f"{machine} cores shared with other work (the load average, before and after the "
            "run: above 2, the child, at nice 10, waited for a CPU).",
        ]
    )


if __name__ == "__main__":
    main()
