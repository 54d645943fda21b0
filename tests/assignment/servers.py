"""Real ``callpool serve`` processes on a test's database, as a deployment runs them.

Only addresses on this machine (127.0.0.0/8) are ever served or used by clients.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2

from callpool.db import Database
from callpool.models import Account, Pool, Site, Tracker

START_SECONDS = 120  # importing the app takes seconds on a busy machine
SECRET = "serving-tests-secret-0123456789"  # a throwaway database
BUSINESS = "+15125550100"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


def origin(site_key: str) -> str:
    return f"https://{site_key}.example"


def add_site_with_pool(database: Database, site_key: str, numbers: list[str], **fields: Any) -> int:
    """A site ``site_key`` (its origin: ``origin(site_key)``) of a new account, with a session
    pool of active trackers with ``numbers`` (pool ``fields`` as given); the pool's id."""
    now = datetime.now(UTC)
    with database.session() as db:
        account = Account(name=site_key, created_at=now)
        db.add(account)
        db.flush()
        site = Site(
            account_id=account.id,
            name=site_key,
            public_key=site_key,
            allowed_origins=[origin(site_key)],
            created_at=now,
        )
        db.add(site)
        db.flush()
        values: dict[str, Any] = {"original_number": BUSINESS, "swap_number": BUSINESS, **fields}
        pool = Pool(
            account_id=account.id,
            site_id=site.id,
            name=f"{site_key} pool",
            kind="session",
            size=len(numbers),
            created_at=now,
            updated_at=now,
            **values,
        )
        db.add(pool)
        db.flush()
        for number in numbers:
            db.add(
                Tracker(
                    pool_id=pool.id,
                    number=number,
                    provider="sandbox",
                    status="active",
                    original_number=BUSINESS,
                    created_at=now,
                )
            )
        return pool.id


def visit_request(site_key: str, n: int) -> tuple[str, dict[str, str]]:
    """The body and headers of the snippet's ``/t/visit`` for a new visitor of ``site_key``."""
    page = origin(site_key)
    body = f'{{"k":"{site_key}","u":"{page}/?n={n}","r":"","t":"Welcome"}}'
    headers = {"Content-Type": "text/plain;charset=UTF-8", "Origin": page, "User-Agent": CHROME}
    return body, headers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(database_url: str, folder: Path, count: int, **settings: str) -> Iterator[list[str]]:
    """``count`` ``callpool serve`` processes on the database (with ``CALLPOOL_`` settings
    given by their lower-case names); their base URLs. Stopped when the block ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOOL_")}
    env.update(CALLPOOL_DATABASE_URL=database_url, CALLPOOL_SECRET_KEY=SECRET)
    env.update({f"CALLPOOL_{name.upper()}": value for name, value in settings.items()})
    processes: list[tuple[subprocess.Popen[bytes], str, Path]] = []
    try:
        for number in range(count):
            home = folder / f"serve-{number}"
            home.mkdir(parents=True)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            log = home / "output.log"
            with log.open("wb") as output:
                command = [sys.executable, "-m", "callpool", "serve", "--port", str(port)]
                process = subprocess.Popen(
                    [*command, "--no-access-log"],
                    env={**env, "CALLPOOL_PUBLIC_URL": base},
                    cwd=home,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            processes.append((process, base, log))
        for process, base, log in processes:
            _wait_until_up(process, base, log)
        yield [base for _, base, _ in processes]
    finally:
        for process, _, _ in processes:
            process.terminate()
        for process, _, _ in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    with httpx2.Client(timeout=2) as probe:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"the server exited:\n{log.read_text()}")
            try:
                if probe.get(f"{base}/healthz").status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.1)  # polling a condition, with a deadline
    raise AssertionError(f"the server did not answer in {START_SECONDS} s:\n{log.read_text()}")
