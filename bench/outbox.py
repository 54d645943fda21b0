"""Benchmark: webhook deliveries per second from the outbox, and the visit path beside a backlog.

Not a test: run it by hand on a quiet machine and it rewrites its section of
``docs/benchmarks.md``::

    .venv/bin/python bench/outbox.py                      # SQLite and PostgreSQL
    .venv/bin/python bench/outbox.py --engines sqlite --messages 2000 --no-write

1. Deliveries: a fresh database holds ``--messages`` queued webhooks (call payloads of the
   usual size) for one endpoint; a receiver in its own process answers each after 50 ms; one
   ``callpool worker`` process delivers them. The rate is messages over the time from the
   first attempt to the last delivery, read from the database afterwards.
2. Visits beside a backlog: ``bench/assign.py``'s measurement (``/healthz`` and ``/t/visit``
   alternating, wrk at 16 connections) with an empty outbox, with 10,000 queued deliveries
   waiting (due in an hour), and with 10,000 due that the worker (``serve``'s thread on SQLite,
   ``callpool worker`` on PostgreSQL) sends to the 50 ms receiver meanwhile. The visit/healthz
   ratios of the runs are compared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import assign  # bench/assign.py
from figures import write_section  # bench/figures.py
from seed import database_for  # bench/seed.py
from sqlalchemy import func, insert, select

from callpool import clock
from callpool.db import Database
from callpool.integrations import outbox
from callpool.models import DeliveryAttempt, OutboxMessage, WebhookEndpoint
from callpool.worker import SENDERS_IN_SERVE
from tests.factories import Factory  # on the path: assign imports bench/seed.py, which adds it

ROOT = Path(__file__).resolve().parent.parent
HEADING = "Webhook deliveries from the outbox (`bench/outbox.py`)"
RECEIVER_DELAY = 0.05
SECRET = "bench-secret-key-0123456789"  # noqa: S105 (a throwaway database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--messages", type=int, default=5000, help="deliveries timed (part 1)")
    parser.add_argument("--backlog", type=int, default=10_000, help="queued beside visits")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--receiver-port", type=int, default=8788)
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if args.receiver_port == args.port:
        sys.exit("--receiver-port must differ from --port")

    rates: dict[str, tuple[float, float, float]] = {}
    visits: dict[str, dict[str, Any]] = {}
    loads = [os.getloadavg()[0]]
    with receiver(args.receiver_port) as hook_url:
        for engine in args.engines.split(","):
            rates[engine] = delivery_rate(engine, hook_url, args.messages)
            print(f"{engine}: {rates[engine][0]:.0f} deliveries/s", file=sys.stderr)
            visits[engine] = visits_beside_backlog(engine, hook_url, args)
            loads.append(os.getloadavg()[0])
    text = report(rates, visits, args, loads)
    print(text)
    if not args.no_write:
        write_section("outbox", text, HEADING)


# The receiver: its own process, asyncio, each answer 50 ms after the request


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            await asyncio.sleep(RECEIVER_DELAY)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve(port: int) -> None:
    server = await asyncio.start_server(_answer, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


@contextmanager
def receiver(port: int) -> Iterator[str]:
    code = f"import asyncio, outbox; asyncio.run(outbox._serve({port}))"
    process = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parent)
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        process.terminate()
        process.wait(10)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


# Part 1: deliveries per second


def delivery_rate(engine: str, hook_url: str, messages: int) -> tuple[float, float, float]:
    """(deliveries per second, median latency in ms, CPU µs per delivery) of one worker
    process."""
    with database_for(engine, assign.PG_SERVER) as url:
        database = Database(url)
        database.migrate()
        queue(database, hook_url, messages)
        with worker(url) as pid:
            started = assign.cpu_seconds([pid])
            wait_delivered(database, messages, timeout=messages / 20 + 60)
            cpu = (assign.cpu_seconds([pid]) - started) / messages * 1e6
        with database.reader() as db:
            first = db.scalar(select(func.min(DeliveryAttempt.at)))
            last = db.scalar(select(func.max(OutboxMessage.delivered_at)))
            latencies = db.scalars(select(DeliveryAttempt.latency_ms)).all()
        database.dispose()
    assert first is not None
    assert last is not None
    # Attempts are stamped when recorded, after their batch: add one batch's send time.
    seconds = (last - first).total_seconds() + RECEIVER_DELAY * outbox.BATCH / outbox.SENDERS
    return messages / seconds, statistics.median(x for x in latencies if x is not None), cpu


def queue(database: Database, hook_url: str, count: int, *, due_in: float = 0) -> None:
    """``count`` webhooks due in ``due_in`` seconds, each with a payload the size of a real
    call's (~1.5 KB)."""
    now = clock.now()
    account = Factory(database, clock.clock).account("Bench Plumbing")
    with database.session() as db:
        endpoint = WebhookEndpoint(
            account_id=account.id,
            url=hook_url,
            events=["call.completed"],
            secret="whsec_" + "QmVuY2ggc2VjcmV0IG9mIDI0IGJ5dGVzISE=",
            enabled=True,
            created_at=now,
            updated_at=now,
        )
        db.add(endpoint)
        db.flush()
        rows = [
            {
                "account_id": account.id,
                "kind": "webhook",
                "target_id": endpoint.id,
                "event": "call.completed",
                "message_id": outbox.new_message_id(),
                "payload": {"type": "call.completed", "data": {"call": CALL, "n": n}},
                "state": outbox.PENDING,
                "attempts": 0,
                "next_attempt_at": now + timedelta(seconds=due_in),
                "created_at": now,
            }
            for n in range(count)
        ]
        for start in range(0, count, 2000):
            db.execute(insert(OutboxMessage), rows[start : start + 2000])


CALL: dict[str, Any] = {
    "id": 1,
    "provider": "twilio",
    "provider_call_id": "CA" + "0" * 32,
    "started_at": "2026-01-05T12:00:00+00:00",
    "ended_at": "2026-01-05T12:02:00+00:00",
    "status": "completed",
    "duration": 120,
    "from_number": "+14155550123",
    "tracker_number": "+15122000001",
    "forwarded_to": "+15125550100",
    "pool": {"id": 1, "name": "Website visitors", "kind": "session"},
    "attribution": {
        "source": "google",
        "medium": "cpc",
        "campaign": "spring-sale",
        "term": "emergency plumber",
        "click_ids": {"gclid": "Cj0KCQiA" + "x" * 80},
        "landing_page": "https://shop.example/plumbing?utm_source=google&utm_medium=cpc",
        "confidence": 1.0,
        "candidates": [],
    },
    "journey": {
        "pageviews": [
            {"url": f"https://shop.example/page-{n}", "title": "Plumbing"} for n in range(6)
        ],
        "seconds_to_call": 240,
    },
}


@contextmanager
def worker(url: str) -> Iterator[int]:
    env = {
        **os.environ,
        "CALLPOOL_DATABASE_URL": url,
        "CALLPOOL_SECRET_KEY": SECRET,
        "CALLPOOL_WEBHOOKS_ALLOW_PRIVATE": "true",  # the receiver is on loopback
    }
    process = subprocess.Popen([sys.executable, "-m", "callpool", "worker"], env=env, cwd=ROOT)
    try:
        yield process.pid
    finally:
        process.terminate()
        process.wait(30)


def wait_delivered(database: Database, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while delivered(database) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {delivered(database)} of {count} delivered in time")
        time.sleep(0.5)


def delivered(database: Database) -> int:
    with database.reader() as db:
        count: int = db.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.state == outbox.DELIVERED)
        )
        return count


# Part 2: the visit path with and without a backlog


def visits_beside_backlog(engine: str, hook_url: str, args: argparse.Namespace) -> dict[str, Any]:
    trackers = 2 * args.rounds * (args.duration + 2) * 8000 + 5000
    found: dict[str, Any] = {}
    conditions = (
        ("empty", 0, 0.0),
        ("waiting", args.backlog, 3600.0),  # queued, next attempt in an hour (receiver was down)
        ("sending", args.backlog, 0.0),  # queued and due: sent during the measurement
    )
    for label, backlog, due_in in conditions:
        with database_for(engine, assign.PG_SERVER) as url:
            assign.seed(url, trackers)
            database = Database(url)
            if backlog:
                queue(database, hook_url, backlog, due_in=due_in)
            env = {"CALLPOOL_WEBHOOKS_ALLOW_PRIVATE": "true"}
            beside = worker(url) if engine != "sqlite" else contextlib.nullcontext()
            with _env(env), assign.server(url, args.port) as (base, pid), beside:
                rounds = assign.measure(base, pid, args)
            found[label] = {
                "ratio": statistics.median(v.rate / h.rate for h, v in rounds),
                "visits": statistics.median(v.rate for _h, v in rounds),
                "p99": statistics.median(v.p99_ms for _h, v in rounds),
                "sent": delivered(database),
                "backlog": backlog,
            }
            assign.check(url, rounds)
            database.dispose()
        print(f"{engine} {label}: {found[label]}", file=sys.stderr)
    return found


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# The report


def report(
    rates: dict[str, tuple[float, float, float]],
    visits: dict[str, dict[str, Any]],
    args: argparse.Namespace,
    loads: list[float],
) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `bench/outbox.py` "
        "on the project's 2-core machine, shared with other work while measured (1-minute load "
        f"average {', '.join(f'{load:.1f}' for load in loads)} before and after each engine).",
        "",
        f"Deliveries: {args.messages:,} queued webhooks (~1.5 KB call payloads) sent by one "
        f"`callpool worker` process ({outbox.SENDERS} sends in flight, batches of "
        f"{outbox.BATCH}) to a receiver on loopback that answers each after 50 ms.",
        "",
        "| engine | deliveries/s | median attempt latency | worker CPU per delivery |",
        "|---|---:|---:|---:|",
    ]
    for engine, (rate, latency, cpu) in rates.items():
        lines.append(f"| {engine} | {rate:,.0f} | {latency:.0f} ms | {cpu:,.0f} µs |")
    lines += [
        "",
        f"Visits beside a backlog: `bench/assign.py`'s measurement ({args.rounds} rounds of "
        f"{args.duration} s per endpoint, wrk at {args.connections} connections) with an empty "
        f"outbox; with {args.backlog:,} queued deliveries waiting (next attempt in an hour, as "
        f"after a receiver's outage); and with {args.backlog:,} due, sent to the 50 ms receiver "
        "during the measurement (by `serve`'s worker thread on SQLite, "
        f"{SENDERS_IN_SERVE} sends in flight; by a `callpool worker` process on PostgreSQL, "
        f"{outbox.SENDERS}).",
        "",
        "| engine | outbox | `/t/visit`/s | p99 | visit / healthz | delivered meanwhile |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for engine, runs in visits.items():
        for label, run in runs.items():
            lines.append(
                f"| {engine} | {label} ({run['backlog']:,} queued) | {run['visits']:,.0f} "
                f"| {run['p99']:.1f} ms | {run['ratio']:.0%} | {run['sent']:,} |"
            )
    lines += [
        "",
        "Reproduce: `apt-get install wrk`, a PostgreSQL server at `CALLPOOL_TEST_PG`, then "
        "`.venv/bin/python bench/outbox.py` (options: `--engines sqlite`, `--messages`, "
        "`--backlog`, `--duration`, `--rounds`, `--no-write`).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
