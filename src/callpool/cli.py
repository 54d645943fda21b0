"""The ``callpool`` command: serve, migrate, demo, worker, and the operator's helpers."""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import getpass
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from callpool import worker
from callpool.accounts.service import ensure_bootstrap_key
from callpool.calls.routing import refresh_routing, routing_table
from callpool.db import Database
from callpool.demo import calling
from callpool.demo.history import seed_week
from callpool.seeding import (
    DEMO_BUSINESS_NUMBER,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    demo_settings,
    ensure_demo,
)
from callpool.settings import Settings, get_settings, load_settings
from callpool.simulation import command as simulate
from callpool.telephony import repoint
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
    except DBAPIError as error:  # a database that does not answer: what, and what to change
        print(f"callpool: {_unreachable(error)}", file=sys.stderr)
        sys.exit(3)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callpool",
        description=__doc__,
        epilog="Settings come from CALLPOOL_* environment variables or a .env file in the "
        "working directory; .env.example lists every one. `callpool COMMAND --help` "
        "describes a command.",
    )
    commands = parser.add_subparsers(title="commands")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            formatter_class=Help,
        )

    serve = command("serve", "migrate the database (CALLPOOL_DATABASE_URL) and serve the app")
    _host_port(serve)
    serve.set_defaults(run=run_serve)

    migrate = command("migrate", "bring the database schema (CALLPOOL_DATABASE_URL) up to date")
    migrate.set_defaults(run=run_migrate)

    demo = command(
        "demo",
        "seed a demo account, site, pool of sandbox numbers and a week of visits and calls in "
        "a database of its own (CALLPOOL_DEMO_DATABASE_URL), then serve",
    )
    _host_port(demo)
    demo.set_defaults(run=run_demo)

    calling.add_to(command("call", calling.HELP))

    periodic = command("worker", "run periodic jobs: pool rebalancing, replay of spooled calls")
    periodic.add_argument("--once", action="store_true", help="run every job once and exit")
    periodic.set_defaults(run=run_worker)

    createuser = command(
        "createuser", "create a dashboard user (owner of the first account, made if none)"
    )
    _email_password(createuser)
    createuser.add_argument(
        "--time-zone",
        metavar="ZONE",
        help="the account's time zone, e.g. America/Chicago: times on the dashboard are shown "
        "in it (default: unchanged; UTC for a new account)",
    )
    createuser.set_defaults(run=run_createuser)

    setpassword = command(
        "setpassword", "set a dashboard user's password and sign them out everywhere"
    )
    _email_password(setpassword)
    setpassword.set_defaults(run=run_setpassword)

    simulate.add_to(commands)

    numbers = command("numbers", "the tracking numbers at the telephony provider")
    numbers_commands = numbers.add_subparsers(title="commands", help="what to do with them")
    summary = "point every live number's voice and status webhooks at CALLPOOL_PUBLIC_URL"
    numbers_commands.add_parser(
        "repoint", help=summary, description=summary[0].upper() + summary[1:] + "."
    ).set_defaults(run=run_numbers_repoint)

    return parser


class Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default."""


def _host_port(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8000,
        help="port to listen on; CALLPOOL_PUBLIC_URL follows it unless set",
    )
    parser.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="log no line per request (a load balancer in front usually logs them)",
    )


def _email_password(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--email", required=True, help="the user's email, to sign in with")
    parser.add_argument(
        "--password",
        help="the new password; asked for (not echoed) when not given, which keeps it out of "
        "the shell's history",
    )


def _password(args: argparse.Namespace) -> str:
    if args.password is not None:
        return str(args.password)
    if not sys.stdin.isatty():  # piped in (scripts, `echo … |`): one line, no prompt
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise ValueError("no password: give --password, or type it when asked")
        return password
    password = getpass.getpass(f"Password for {args.email}: ")
    if password != getpass.getpass("The same again: "):
        raise ValueError("the two passwords differ; nothing was changed")
    return password


def _check_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"--time-zone {name}: not a time zone name, like America/Chicago or Europe/Paris"
        ) from None


def _unreachable(error: DBAPIError) -> str:
    """A database error as one line: the driver's words, and what to change."""
    return (
        f"cannot use the database ({_one_line(error)}): start it, or point "
        "CALLPOOL_DATABASE_URL at one that answers"
    )


def _free_port(host: str, port: int) -> None:
    """Refuse a port another program holds, before anything starts (uvicorn would say so
    only after its 'startup complete', in words that do not say what to do)."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise ValueError(f"--host {host}: not an address of this machine ({error})") from None
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ValueError(
                    f"port {port} is in use on {host} (another callpool?): stop it, or choose "
                    f"another port with --port, e.g. --port {port + 1}"
                ) from None
            raise ValueError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def _banner(settings: Settings, args: argparse.Namespace, *, worker_here: bool) -> str:
    """What `serve` uses, said once at start."""
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    jobs = (
        "run in this process (SQLite)"
        if worker_here
        else "not run here: start `callpool worker` beside it (PostgreSQL)"
    )
    lines = [
        f"callpool is listening on http://{args.host}:{args.port}",
        f"  Public URL (CALLPOOL_PUBLIC_URL):  {settings.public_url}",
        f"  Dashboard:                         {settings.public_url}/dashboard",
        f"  Database:                          {database}",
        f"  Background jobs:                   {jobs}",
    ]
    public_port = urlsplit(settings.public_url).port
    if "public_url" in settings.model_fields_set and public_port not in (None, args.port):
        lines.append(
            f"  Note: CALLPOOL_PUBLIC_URL names port {public_port}, this server listens on "
            f"{args.port}: install snippets and carrier webhooks point at {public_port}. "
            f"Unless a proxy forwards it here, set CALLPOOL_PUBLIC_URL to this server's address."
        )
    return "\n".join(lines)


def run_migrate(_args: argparse.Namespace) -> int:
    settings = get_settings()
    Database(settings.database_url).migrate()
    print("database is up to date")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    _free_port(args.host, args.port)  # before anything is written (a generated secret)
    settings = _settings_for(args, get_settings())
    database = Database(settings.database_url)
    provider = provider_for(settings)
    print(_banner(settings, args, worker_here=database.is_sqlite), flush=True)
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
    # Numbers still calling an earlier public URL follow the new one, off the start's path.
    repoint.repoint_in_background(database, provider, settings.public_url)
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
    _free_port(args.host, args.port)
    settings = _settings_for(args, demo_settings(load_settings()))
    if settings.telephony_provider != "sandbox":
        raise ValueError("the demo runs on the sandbox provider: unset CALLPOOL_TELEPHONY_PROVIDER")
    database = Database(settings.database_url)
    provider = provider_for(settings)
    database.migrate()
    demo = ensure_demo(database, settings, provider)
    site_key, pool_name = demo.site_key, demo.pool_name
    # Before the background jobs start: the week is replayed on the process's clock.
    seed_week(database, settings, site_key)
    ready = threading.Event()
    _database_up(database, settings, provider, ready)
    base = settings.public_url
    key = (
        f"{demo.api_key}  (shown once: keep it)"
        if demo.api_key
        else f"made on the first run; make another at {base}/dashboard/keys"
    )
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    print(f"""
callpool demo is ready (its data: {shown}; `callpool serve` uses another database).
  Sample business website (numbers swap here):  {base}/demo/
  The same, with the debug view:                {base}/demo/?callpool_debug=1
  Dashboard:                                    {base}/dashboard
  Sign in as:                                   {DEMO_EMAIL} / {DEMO_PASSWORD}
  Place a test call (another terminal):         callpool call --demo --server {base} --to NUMBER
                                                (NUMBER: one the website shows you)
  API documentation:                            {base}/api/v1/docs
  API key:                                      {key}
  Site key:                                     {site_key}
  Business number / pool:                       {DEMO_BUSINESS_NUMBER} / {pool_name}
""")
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


def _settings_for(args: argparse.Namespace, settings: Settings) -> Settings:
    """Settings, with the public URL following --host/--port unless it was set explicitly."""
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


def run_numbers_repoint(_args: argparse.Namespace) -> int:
    settings = get_settings()
    database = Database(settings.database_url)
    database.migrate()
    outcome = repoint.repoint_and_remember(database, provider_for(settings), settings.public_url)
    print(f"{outcome.numbers} numbers now call {settings.public_url}")
    for failure in outcome.failed:
        print(f"not re-pointed: {failure}", file=sys.stderr)
    return 1 if outcome.failed else 0


def run_createuser(args: argparse.Namespace) -> int:
    from callpool.accounts.users import create_user_with_account
    from callpool.errors import CallpoolError

    if args.time_zone is not None:
        _check_zone(args.time_zone)
    password = _password(args)
    settings = get_settings()
    database = Database(settings.database_url)
    database.migrate()
    try:
        with database.session() as db:
            user, account = create_user_with_account(db, args.email, password)
            if args.time_zone is not None:
                account.time_zone = args.time_zone
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
        hashed = new_password_hash(_password(args))  # argon2 is slow: before the transaction
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
