"""The ``callpool`` command: serve, migrate, demo, worker, and the operator's helpers."""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError

from callpool import worker
from callpool.accounts.service import ensure_bootstrap_key
from callpool.calls.routing import refresh_routing, routing_table
from callpool.db import Database
from callpool.seeding import DEMO_EMAIL, DEMO_PASSWORD, ensure_demo
from callpool.settings import Settings, get_settings
from callpool.simulation import command as simulate
from callpool.telephony.base import Provider
from callpool.telephony.registry import provider_for

log = logging.getLogger("callpool")
# A database down at start is tried again after 1 s, 2 s, 4 s … up to this.
RECOVERY_BACKOFF_MAX_SECONDS = 10.0


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        sys.exit(2)
    try:
        sys.exit(args.run(args))
    except ValueError as error:  # bad settings or arguments: a message, not a traceback
        print(f"callpool: {error}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callpool", description=__doc__)
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="migrate the database and serve the app")
    _host_port(serve)
    serve.set_defaults(run=run_serve)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(run=run_migrate)

    demo = commands.add_parser(
        "demo", help="seed a demo account, site and pool of sandbox numbers, then serve"
    )
    _host_port(demo)
    demo.set_defaults(run=run_demo)

    periodic = commands.add_parser(
        "worker", help="run periodic jobs: pool rebalancing, replay of spooled calls"
    )
    periodic.add_argument("--once", action="store_true", help="run every job once and exit")
    periodic.set_defaults(run=run_worker)

    createuser = commands.add_parser(
        "createuser", help="create a dashboard user (owner of the first account, made if none)"
    )
    createuser.add_argument("--email", required=True)
    createuser.add_argument("--password", required=True)
    createuser.set_defaults(run=run_createuser)

    setpassword = commands.add_parser(
        "setpassword", help="set a dashboard user's password and sign them out everywhere"
    )
    setpassword.add_argument("--email", required=True)
    setpassword.add_argument("--password", required=True)
    setpassword.set_defaults(run=run_setpassword)

    simulate.add_to(commands)

    return parser


def _host_port(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="log no line per request (a load balancer in front usually logs them)",
    )


def run_migrate(_args: argparse.Namespace) -> int:
    settings = get_settings()
    Database(settings.database_url).migrate()
    print("database is up to date")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    settings = _settings_for(args)
    database = Database(settings.database_url)
    provider = provider_for(settings)
    _serve(settings, database, provider, _start_database(database, settings, provider), args)
    return 0


def _start_database(database: Database, settings: Settings, provider: Provider) -> threading.Event:
    """Migrate, then start what needs the database; the event is set once that is done.

    A database that is down does not stop the start: calls are forwarded from the routing
    table file meanwhile (and spooled), and a thread keeps trying until the database answers.
    """
    ready = threading.Event()
    try:
        _database_up(database, settings, provider, ready)
    except Exception as error:
        log.error(
            "database unreachable at start (%s): forwarding calls from %s (%d numbers), "
            "trying again in the background",
            _one_line(error),
            settings.routing_cache_path,
            len(routing_table(settings)),
        )
        threading.Thread(
            target=_recover,
            args=(database, settings, provider, ready),
            daemon=True,
            name="database-recovery",
        ).start()
    return ready


def _database_up(
    database: Database, settings: Settings, provider: Provider, ready: threading.Event
) -> None:
    database.migrate()
    ready.set()  # the app's spool drainer starts storing calls
    if database.is_sqlite:
        # One file on one machine: run the periodic jobs here instead of in `callpool worker`.
        worker.start_in_background(database, settings, provider)


def _recover(
    database: Database, settings: Settings, provider: Provider, ready: threading.Event
) -> None:
    delay = 1.0
    while True:
        time.sleep(delay)
        try:
            _database_up(database, settings, provider, ready)
            # What the app's start did not do while the database was down.
            refresh_routing(database, settings)
            if settings.bootstrap_api_key:
                with database.session() as db:
                    ensure_bootstrap_key(db, settings.bootstrap_api_key)
        except Exception as error:
            if not ready.is_set():
                delay = min(delay * 2, RECOVERY_BACKOFF_MAX_SECONDS)
                log.debug("database still unreachable: %s", _one_line(error))
                continue
            # Migrated: calls are stored; the routing refresh and the key retry on their own.
            log.error("database is back, but finishing the start failed: %s", _one_line(error))
            return
        log.warning("database reachable: migrated, storing the calls spooled meanwhile")
        return


def _one_line(error: Exception) -> str:
    """The driver's own words (not SQLAlchemy's wrapper with its link), on one line."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig else error
    return " ".join(str(cause).split())


def run_demo(args: argparse.Namespace) -> int:
    settings = _settings_for(args)
    if settings.telephony_provider != "sandbox":
        raise ValueError("the demo runs on the sandbox provider: unset CALLPOOL_TELEPHONY_PROVIDER")
    database = Database(settings.database_url)
    provider = provider_for(settings)
    ready = threading.Event()
    _database_up(database, settings, provider, ready)  # the demo seeds: it needs the database
    with database.session() as db:
        demo = ensure_demo(db, settings, provider)
    base = settings.public_url
    print(f"""
callpool demo is ready.
  Sample business website (numbers swap here):  {base}/demo/
  The same, with the debug overlay:             {base}/demo/?callpool_debug=1
  Dashboard:                                    {base}/dashboard
  Sign in as:                                   {DEMO_EMAIL} / {DEMO_PASSWORD}
  API documentation:                            {base}/api/v1/docs
  Site key:                                     {demo.site.public_key}
  Business number / pool:                       {demo.pool.original_number} / {demo.pool.name}""")
    if demo.api_key:
        print(f"  API key (shown once):                         {demo.api_key}")
    print()
    _serve(settings, database, provider, ready, args)
    return 0


def run_worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    database = Database(settings.database_url)
    provider = provider_for(settings)
    if args.once:
        worker.run_once(database, settings, provider)
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        worker.run_forever(database, settings, provider, stop)
    return 0


def _settings_for(args: argparse.Namespace) -> Settings:
    """Settings, with the public URL following --host/--port unless it was set explicitly."""
    settings = get_settings()
    if "public_url" not in settings.model_fields_set:
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
        settings = settings.model_copy(update={"public_url": f"http://{host}:{args.port}"})
    return settings


def _serve(
    settings: Settings,
    database: Database,
    provider: Provider,
    ready: threading.Event,
    args: argparse.Namespace,
) -> None:
    import uvicorn  # slow to import; the other commands do without it

    from callpool.app import create_app

    app = create_app(settings, database, provider, database_ready=ready)
    # What is loaded by now lives as long as the process: keep it out of the cyclic garbage
    # collector's full passes, which otherwise stall every request in flight. And collect
    # less often: a visit allocates a few hundred objects, nearly all freed by reference
    # counting, and the default (a young pass every 700 allocations) cost ~10 % of throughput.
    gc.freeze()
    gc.set_threshold(20_000, 20, 10)
    # A thread coming back from SQLite with the checkpoint's lock in hand (see
    # ``Database.checkpoint``) waits this long for the busy event loop to yield the GIL; 5 ms
    # by default. Switches happen only when another thread asks, so they stay rare.
    sys.setswitchinterval(0.0005)
    # uvicorn would take X-Forwarded-For from any loopback peer as the client's address; the
    # app decides that itself, from CALLPOOL_TRUSTED_PROXIES only (``callpool.client_address``).
    uvicorn.run(
        app, host=args.host, port=args.port, access_log=args.access_log, proxy_headers=False
    )


def run_createuser(args: argparse.Namespace) -> int:
    from callpool.accounts.users import create_user_with_account
    from callpool.errors import CallpoolError

    settings = get_settings()
    database = Database(settings.database_url)
    database.migrate()
    try:
        with database.session() as db:
            user, account = create_user_with_account(db, args.email, args.password)
            print(f"created {user.email}, owner of account {account.name!r}")
    except CallpoolError as error:
        print(f"callpool: {error}", file=sys.stderr)
        return 1
    return 0


def run_setpassword(args: argparse.Namespace) -> int:
    from callpool.accounts.users import new_password_hash, replace_password, user_by_email
    from callpool.errors import CallpoolError, NotFound

    database = Database(get_settings().database_url)
    try:
        hashed = new_password_hash(args.password)  # argon2 is slow: before the transaction
        with database.session() as db:
            user = user_by_email(db, args.email)
            if user is None:
                raise NotFound(f"no user has the email {args.email}")
            replace_password(db, user.id, hashed)
            print(f"changed the password of {user.email} and ended their sessions")
    except CallpoolError as error:
        print(f"callpool: {error}", file=sys.stderr)
        return 1
    return 0
