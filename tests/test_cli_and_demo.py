"""The command line and the demo data, as a new user meets them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, inspect, select

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, ApiKey, Pool, Site, Tracker
from callpool.seeding import DEMO_BUSINESS_NUMBER, demo_origins, ensure_demo
from callpool.settings import Settings
from callpool.telephony.sandbox.provider import SandboxProvider


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callpool", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_demo_seeds_a_site_with_a_session_pool_of_ten_sandbox_numbers(
    database: Database, settings: Settings, clock: FrozenClock
) -> None:
    provider = SandboxProvider(settings.secret_key)
    with database.session() as db:
        first = ensure_demo(db, settings, provider)
    with database.session() as db:
        again = ensure_demo(db, settings, provider)  # idempotent: a second start adds nothing
    assert first.api_key is not None
    assert again.api_key is None
    with database.reader() as db:
        assert db.scalar(select(func.count()).select_from(Account)) == 1
        assert db.scalar(select(func.count()).select_from(ApiKey)) == 1
        site = db.scalars(select(Site)).one()
        assert site.allowed_origins == ["https://callpool.test"]
        pool = db.scalars(select(Pool)).one()
        assert (pool.kind, pool.size, pool.swap_number) == ("session", 10, DEMO_BUSINESS_NUMBER)
        numbers = db.scalars(select(Tracker.number).order_by(Tracker.number)).all()
    assert len(numbers) == 10
    assert all(number.startswith("+1512555010") for number in numbers)
    assert DEMO_BUSINESS_NUMBER not in numbers


def test_migrate_command_brings_an_empty_file_up_to_date(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = run_cli("migrate", env={"CALLPOOL_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    database = Database(url)
    assert "pools" in inspect(database.engine).get_table_names()
    database.dispose()


def test_bad_settings_give_a_message_and_a_nonzero_exit(tmp_path: Path) -> None:
    result = run_cli("migrate", env={"CALLPOOL_DATABASE_URL": "mysql://nope"})
    assert result.returncode != 0
    assert "CALLPOOL_DATABASE_URL must be a sqlite:// or postgresql:// URL" in result.stderr
    weak = run_cli(
        "migrate",
        env={
            "CALLPOOL_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
            "CALLPOOL_SECRET_KEY": "secret",
        },
    )
    assert weak.returncode != 0
    assert "CALLPOOL_SECRET_KEY" in weak.stderr


def test_the_demo_site_accepts_both_loopback_names() -> None:
    assert demo_origins("http://127.0.0.1:8000") == [
        "http://127.0.0.1:8000",
        "http://localhost:8000",
    ]
    assert demo_origins("https://calls.example.com/") == ["https://calls.example.com"]
