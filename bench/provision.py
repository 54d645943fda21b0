"""Benchmark: what callers and operators see while a slow carrier sells a pool its numbers.

Not a test: run it by hand and read the figures it prints::

    .venv/bin/python bench/provision.py                    # SQLite and PostgreSQL
    .venv/bin/python bench/provision.py --engines sqlite --numbers 4 --latency-ms 1500

For each engine it makes a fresh database (a temporary SQLite file; a new PostgreSQL database,
dropped afterwards) with one site and a session pool of one number, starts ``callpool serve``
with ``CALLPOOL_SANDBOX_LATENCY_MS`` set (every sandbox carrier call takes that long), and
asks the API for a new pool of ``--numbers`` numbers. While that request runs it keeps sending,
one after the other, ``GET /healthz``, a signed voice webhook for the existing number, and a
database write (``POST /api/v1/sites``), and prints their latencies. Before issue 10 the purchase
held SQLite's write lock, and all three waited for the whole purchase.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from seed import api_key, database_for, session_pool_site  # bench/seed.py

from callpool.db import Database
from callpool.settings import Settings
from callpool.telephony.sandbox.simulate import voice_request

SECRET = "bench-secret-key-0123456789abcdef"  # noqa: S105 (a throwaway local server's)
KNOWN_NUMBER = "+15122000000"  # bench.seed's first tracker
PG_SERVER = os.environ.get("CALLPOOL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--numbers", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=1500)
    parser.add_argument("--port", type=int, default=8731)
    args = parser.parse_args()
    for engine in args.engines.split(","):
        with database_for(engine, PG_SERVER) as url:
            run(engine, url, args)


def run(engine: str, url: str, args: argparse.Namespace) -> None:
    database = Database(url)
    database.migrate()
    site = session_pool_site(
        database, site_key="site_bench", origin="https://shop.test", trackers=1
    )
    key = api_key(database, site)
    database.dispose()
    base = f"http://127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory() as folder, serving(url, base, args, Path(folder)):
        settings = Settings(
            database_url=url,
            public_url=base,
            secret_key=SECRET,
            _env_file=None,  # type: ignore[call-arg]
        )
        call = voice_request(settings, to_number=KNOWN_NUMBER, from_number="+15125550777")
        auth = {"Authorization": f"Bearer {key}"}
        body = {
            "site_id": site.id,
            "name": "Bought slowly",
            "kind": "session",
            "original_number": "+15125550100",
            "area_code": "737",
            "size": args.numbers,
        }
        outcome: dict[str, float] = {}

        def buy() -> None:
            started = time.perf_counter()
            status = post_json(f"{base}/api/v1/pools", body, auth)
            outcome["seconds"], outcome["status"] = time.perf_counter() - started, status

        buyer = threading.Thread(target=buy)
        latencies: dict[str, list[float]] = {"healthz": [], "voice webhook": [], "write": []}
        buyer.start()
        while buyer.is_alive():
            latencies["healthz"].append(timed(lambda: get(f"{base}/healthz")))
            latencies["voice webhook"].append(
                timed(lambda: post_form(base + call.path, call.data, call.headers))
            )
            site = {"name": f"site {len(latencies['write'])}"}
            latencies["write"].append(
                timed(lambda site=site: post_json(f"{base}/api/v1/sites", site, auth))  # type: ignore[misc]
            )
        buyer.join()
    print(
        f"{engine}: {args.numbers} numbers at {args.latency_ms:.0f} ms per carrier call: "
        f"purchase answered {outcome['status']:.0f} after {outcome['seconds']:.1f} s"
    )
    for name, values in latencies.items():
        values.sort()
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        print(
            f"  {name:14} n={len(values):4}  median {statistics.median(values) * 1000:6.1f} ms"
            f"  p99 {p99 * 1000:6.1f} ms  max {values[-1] * 1000:6.1f} ms"
        )


@contextmanager
def serving(url: str, base: str, args: argparse.Namespace, folder: Path) -> Iterator[None]:
    env = os.environ | {
        "CALLPOOL_DATABASE_URL": url,
        "CALLPOOL_PUBLIC_URL": base,
        "CALLPOOL_SECRET_KEY": SECRET,
        "CALLPOOL_SANDBOX_LATENCY_MS": str(args.latency_ms),
        "CALLPOOL_ROUTING_CACHE_PATH": str(folder / "routing.json"),
        "CALLPOOL_CALL_SPOOL_DIR": str(folder / "spool"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "callpool", "serve", "--port", str(args.port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(f"{base}/healthz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield
    finally:
        server.terminate()
        server.wait(30)


def timed(request: Callable[[], object]) -> float:
    started = time.perf_counter()
    request()
    return time.perf_counter() - started


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (127.0.0.1)
        return int(response.status)


def post_json(url: str, body: object, headers: dict[str, str]) -> int:
    data = json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 (127.0.0.1)
        url, data=data, headers=headers | {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def post_form(url: str, data: dict[str, str], headers: dict[str, str]) -> int:
    encoded = urllib.parse.urlencode(data).encode()
    request = urllib.request.Request(url, data=encoded, headers=headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return int(response.status)


if __name__ == "__main__":
    main()
