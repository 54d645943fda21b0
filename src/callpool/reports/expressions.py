"""SQL the two engines spell differently: time buckets and the path of a landing URL.

Each construct compiles to native SQL on PostgreSQL (so it runs inside the server's plan) and
to SQLite's own functions there; both give the same answers, which the tests check on each.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

# Scheme and host are dropped, then everything from "?" or "#": what is left is the path.
# PostgreSQL's regular expressions (ARE) read this pattern the same way Python's `re` does.
LANDING_PATH_PATTERN = r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*)?([^?#]*)"
_LANDING_PATH = re.compile(LANDING_PATH_PATTERN)
SQLITE_LANDING_PATH = "callpool_landing_path"


def landing_path_of(url: str | None) -> str | None:
    """``https://example.com/plumbing?gclid=x`` → ``/plumbing``; no path → ``/``."""
    if url is None:
        return None
    match = _LANDING_PATH.match(url)
    return (match.group(1) if match else "") or "/"


class landing_path(FunctionElement[str]):
    """The path of a landing URL, computed by the database."""

    type = Text()
    inherit_cache = True


@compiles(landing_path, "postgresql")
def _landing_path_pg(element: landing_path, compiler: SQLCompiler, **kw: Any) -> str:
    url = compiler.process(element.clauses, **kw)
    extracted = f"substring({url} from '{LANDING_PATH_PATTERN}')"
    return f"CASE WHEN {url} IS NULL THEN NULL ELSE coalesce(nullif({extracted}, ''), '/') END"


@compiles(landing_path, "sqlite")
def _landing_path_sqlite(element: landing_path, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite has no regular expressions; the same Python function is registered on the
    # connection by `register_sqlite_functions` before the query runs.
    return f"{SQLITE_LANDING_PATH}({compiler.process(element.clauses, **kw)})"


def register_sqlite_functions(db: Session) -> None:
    """Make ``landing_path`` callable on this session's SQLite connection (no-op elsewhere)."""
    connection = db.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.driver_connection
    assert raw is not None
    raw.create_function(SQLITE_LANDING_PATH, 1, landing_path_of, deterministic=True)


class _bucket_start(FunctionElement[datetime]):
    type = DateTime()
    inherit_cache = True
    unit = ""


class day_start(_bucket_start):
    """The UTC midnight that starts the day of a timestamp."""

    inherit_cache = True
    unit = "day"


class hour_start(_bucket_start):
    """The start of the UTC hour of a timestamp."""

    inherit_cache = True
    unit = "hour"


@compiles(day_start, "postgresql")
@compiles(hour_start, "postgresql")
def _bucket_pg(element: _bucket_start, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"date_trunc('{element.unit}', {column} AT TIME ZONE 'UTC')"


@compiles(day_start, "sqlite")
@compiles(hour_start, "sqlite")
def _bucket_sqlite(element: _bucket_start, compiler: SQLCompiler, **kw: Any) -> str:
    # UTCDateTime stores naive UTC text on SQLite, which strftime reads as it is.
    pattern = "%Y-%m-%d %H:00:00" if element.unit == "hour" else "%Y-%m-%d 00:00:00"
    return f"strftime('{pattern}', {compiler.process(element.clauses, **kw)})"


def bucket_start(column: Any, unit: str) -> _bucket_start:
    return hour_start(column) if unit == "hour" else day_start(column)


def as_utc(value: datetime | str) -> datetime:
    """A bucket start as the engines return it (naive datetime or SQLite text) → aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
