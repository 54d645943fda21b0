"""The command line and the demo data, as a new user meets them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, inspect, select

from callpool.cli import build_parser
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.demo.history import seed_week
from callpool.models import Account, ApiKey, Call, Pool, Site, Tracker, VisitSession
from callpool.seeding import DEMO_BUSINESS_NUMBER, demo_origins, demo_settings, ensure_demo
from callpool.settings import Settings, secret_file
from callpool.telephony.sandbox.provider import SandboxProvider
from tests.processes import free_port


def run_cli(
    *args: str, env: dict[str, str], cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    own = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOOL_")}
    return subprocess.run(
        [sys.executable, "-m", "callpool", *args],
        env={**own, **env},
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        start_new_session=True,  # no terminal: getpass reads the password from stdin
    )


SECRET = "k7Qz9vX2pL4mN8rT1wY5bC3dF6gH0jS"


def first_line(output: str) -> str:
    return output.splitlines()[0] if output else ""


def test_demo_seeds_a_site_with_a_session_pool_of_ten_sandbox_numbers(
    database: Database, settings: Settings, clock: FrozenClock
) -> None:
    provider = SandboxProvider(settings.secret_key)
    first = ensure_demo(database, settings, provider)
    again = ensure_demo(database, settings, provider)  # idempotent: a second start adds nothing
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
    assert result.returncode == 2
    assert result.stderr == (
        "callpool: CALLPOOL_DATABASE_URL: must be a sqlite:/// or postgresql:// URL, like "
        "sqlite:///callpool.db or postgresql://user:password@host:5432/callpool\n"
    )
    typo = run_cli("migrate", env={"CALLPOOL_WORKER_INTERVAL_SECONDS": "soon"}, cwd=tmp_path)
    assert typo.returncode == 2
    assert typo.stderr == (
        "callpool: CALLPOOL_WORKER_INTERVAL_SECONDS: must be a valid number, not 'soon'\n"
    )
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


def test_an_unreachable_database_is_one_line_saying_what_to_change(tmp_path: Path) -> None:
    # postgres:// (what hosting providers hand out) is taken; nothing listens on port 1.
    url = "postgres://callpool@127.0.0.1:1/callpool"
    result = run_cli(
        "migrate", env={"CALLPOOL_DATABASE_URL": url, "CALLPOOL_SECRET_KEY": SECRET}, cwd=tmp_path
    )
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("callpool: cannot use the database (connection failed")
    assert result.stderr.endswith(
        ": start it, or point CALLPOOL_DATABASE_URL at one that answers\n"
    )


def test_postgres_urls_are_taken_as_postgresql() -> None:
    settings = Settings(database_url="postgres://u:p@db.example/app", _env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "postgresql+psycopg://u:p@db.example/app"


def test_a_port_in_use_says_to_choose_another(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        url = f"sqlite:///{tmp_path / 'x.db'}"
        result = run_cli(
            "serve", "--port", str(port), env={"CALLPOOL_DATABASE_URL": url}, cwd=tmp_path
        )
    assert result.returncode == 2
    assert first_line(result.stderr) == (
        f"callpool: port {port} is in use on 127.0.0.1 (another callpool?): stop it, or choose "
        f"another port with --port, e.g. --port {port + 1}"
    )
    assert not (tmp_path / "x.db").exists()  # refused before anything was touched


def test_createuser_reads_the_password_when_not_given(tmp_path: Path) -> None:
    env = {"CALLPOOL_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    email = ["--email", "owner@plumbing.test"]
    empty = run_cli("createuser", *email, env=env, cwd=tmp_path, stdin="")
    assert empty.returncode == 2
    assert first_line(empty.stderr) == (
        "callpool: no password: give --password, or type it when asked"
    )
    wrong = run_cli("createuser", *email, "--time-zone", "Austin", env=env, cwd=tmp_path)
    assert wrong.returncode == 2
    assert first_line(wrong.stderr) == (
        "callpool: --time-zone Austin: not a time zone name, like America/Chicago or Europe/Paris"
    )
    zone = ["--time-zone", "America/Chicago"]
    made = run_cli("createuser", *email, *zone, env=env, cwd=tmp_path, stdin="a-long-pass\n")
    assert made.returncode == 0, made.stderr
    assert (
        first_line(made.stdout) == "created owner@plumbing.test, owner of account 'Default account'"
    )
    with Database(env["CALLPOOL_DATABASE_URL"]).reader() as db:
        assert db.scalar(select(Account.time_zone)) == "America/Chicago"
    # A terminal is asked twice, not echoed: see ``callpool.cli._password``.


def test_every_option_of_every_command_is_described() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, command in commands.items():
        for action in command._actions:
            assert action.help, f"callpool {name} {action.option_strings}: no help"
    serve = commands["serve"].format_help()
    assert "--port PORT" in serve
    assert "(default: 8000)" in serve


def test_the_demo_keeps_its_data_and_secret_apart_from_serve(tmp_path: Path) -> None:
    real = Settings(_env_file=None, database_url="sqlite:///callpool.db")  # type: ignore[call-arg]
    demo = demo_settings(
        real.model_copy(update={"demo_database_url": f"sqlite:///{tmp_path}/d.db"})
    )
    assert demo.database_url == f"sqlite:///{tmp_path}/d.db"
    assert secret_file(demo) == tmp_path / "d.db.secret"
    assert (tmp_path / "d.db.secret").read_text().strip() == demo.secret_key
    assert demo.routing_cache_path != real.routing_cache_path
    assert demo.call_spool_dir != real.call_spool_dir


def test_the_demo_seeds_a_week_of_visits_and_calls_from_several_sources(
    database: Database, settings: Settings, clock: FrozenClock
) -> None:
    provider = SandboxProvider(settings.secret_key)
    site_key = ensure_demo(database, settings, provider).site_key
    calls = seed_week(database, settings, site_key)
    assert calls >= 10
    assert seed_week(database, settings, site_key) == 0  # a second start keeps the first week
    with database.reader() as db:
        stored = db.scalars(select(Call)).all()
        sources = set(db.scalars(select(VisitSession.source)).all())
        days = {session.started_at.date() for session in db.scalars(select(VisitSession))}
    assert len(stored) == calls
    assert all(call.session_id is not None for call in stored), "each call has its visit"
    assert {call.status for call in stored} >= {"completed", "no-answer"}
    assert {"google", "facebook", "bing", "(direct)"} <= sources
    assert len(days) >= 7
    assert all(call.started_at <= clock.now() for call in stored)


def test_serve_says_what_it_uses_and_when_the_port_differs_from_the_public_url(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CALLPOOL_")},
        "CALLPOOL_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "CALLPOOL_PUBLIC_URL": "http://127.0.0.1:8000",
        "CALLPOOL_SECRET_KEY": SECRET,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "callpool", "serve", "--port", str(port), "--no-access-log"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(6)]  # the banner is flushed at once
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert lines[0] == f"callpool is listening on http://127.0.0.1:{port}\n"
    assert lines[1] == "  Public URL (CALLPOOL_PUBLIC_URL):  http://127.0.0.1:8000\n"
    assert lines[2] == "  Dashboard:                         http://127.0.0.1:8000/dashboard\n"
    assert lines[3] == f"  Database:                          sqlite:///{tmp_path / 'x.db'}\n"
    assert lines[4] == "  Background jobs:                   run in this process (SQLite)\n"
    assert lines[5].startswith(
        f"  Note: CALLPOOL_PUBLIC_URL names port 8000, this server listens on {port}: "
    )


def test_callpool_call_says_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    no_secret = run_cli("call", "--demo", "--to", "(512) 555-0100", env={}, cwd=tmp_path)
    assert no_secret.returncode == 2
    assert first_line(no_secret.stderr) == (
        "callpool: no secret key to sign the call with (callpool-demo.db.secret does not "
        "exist): run this beside the server, with its settings"
    )
    env = {"CALLPOOL_SECRET_KEY": SECRET}
    not_a_number = run_cli("call", "--to", "012", env=env, cwd=tmp_path)
    assert not_a_number.returncode == 2
    assert first_line(not_a_number.stderr) == (
        "callpool: --to 012: not a phone number, like (512) 555-0123"
    )
    nobody = run_cli(
        "call",
        "--to",
        "5125550100",
        "--server",
        f"http://127.0.0.1:{free_port()}",
        env=env,
        cwd=tmp_path,
    )
    assert nobody.returncode == 2
    assert first_line(nobody.stderr).startswith("callpool: no server answers at http://127.0.0.1:")
    assert first_line(nobody.stderr).endswith(
        "start one (`callpool demo` or `callpool serve`), or give its address with --server"
    )
