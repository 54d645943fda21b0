"""The ``callpool`` command: serve, migrate, demo, worker, and the operator's helpers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from callpool.settings import get_settings

Command = Callable[[argparse.Namespace], int]


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

    return parser


def _host_port(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)


def run_migrate(_args: argparse.Namespace) -> int:
    from callpool.db import Database

    settings = get_settings()
    Database(settings.database_url).migrate()
    print("database is up to date")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from callpool.app import create_app
    from callpool.db import Database

    settings = get_settings()
    database = Database(settings.database_url)
    database.migrate()
    uvicorn.run(create_app(settings, database), host=args.host, port=args.port, log_level="info")
    return 0
