"""SQL the two engines spell differently: time buckets and the page of a landing URL.

Each construct compiles to native SQL on PostgreSQL (so it runs inside the server's plan) and
to SQLite's own functions there; both give the same answers, which the tests check on each.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Integer, Text, case, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from callpool.models.base import UTCDateTime

# Scheme and host are dropped, then everything from "?" or "#": what is left is the path.
_LANDING_PATH = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*)?([^?#]*)")


def landing_path_of(url: str | None) -> str | None:
    """``https://example.com/plumbing?gclid=x`` → ``/plumbing``; no path → ``/``."""
    if url is None:
        return None
    match = _LANDING_PATH.match(url)
    return (match.group(1) if match else "") or "/"


class landing_page(FunctionElement[str]):
    """A landing URL without its query and fragment: what the reports group by.

    Grouping by this, not by the whole URL, folds the click ids that make each paid visit's URL
    unique into a few hundred rows; Python then takes the path of each (``landing_path_of``).
    Cheap string functions on every row, a regular expression only on the grouped few.
    """

    type = Text()
    inherit_cache = True


@compiles(landing_page)  # PostgreSQL, and the default for printing a statement
@compiles(landing_page, "postgresql")
def _landing_page_pg(element: landing_page, compiler: SQLCompiler, **kw: Any) -> str:
    url = compiler.process(element.clauses, **kw)
    return f"split_part(split_part({url}, '#', 1), '?', 1)"


@compiles(landing_page, "sqlite")
def _landing_page_sqlite(element: landing_page, compiler: SQLCompiler, **kw: Any) -> str:
    return _sqlite_cut(_sqlite_cut(compiler.process(element.clauses, **kw), "#"), "?")


def _sqlite_cut(text: str, mark: str) -> str:
    """SQL for ``text`` up to the first ``mark`` (all of it without one)."""
    return (
        f"CASE WHEN instr({text}, '{mark}') > 0 "
        f"THEN substr({text}, 1, instr({text}, '{mark}') - 1) ELSE {text} END"
    )


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


@compiles(day_start)  # PostgreSQL, and the default for printing a statement
@compiles(hour_start)
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


def bucket_index(column: Any, starts: Sequence[datetime]) -> ColumnElement[int]:
    """The index of the last of ``starts`` (ascending) at or before ``column``; -1 before the
    first. For buckets of any length, such as an account's local days (23 or 25 hours across
    a DST change, offsets of :30 or :45): the same SQL on both engines, and a binary search of
    nested CASEs, so each row costs about log2(buckets) comparisons, not one per bucket.
    """

    def search(low: int, high: int) -> ColumnElement[int]:
        if low == high:
            return literal(low, Integer())
        middle = (low + high + 1) // 2
        return case(
            (column < literal(starts[middle], UTCDateTime()), search(low, middle - 1)),
            else_=search(middle, high),
        )

    return search(-1, len(starts) - 1)


def as_utc(value: datetime | str) -> datetime:
    """A bucket start as the engines return it (naive datetime or SQLite text) → aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
