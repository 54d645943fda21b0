"""Visitors, sessions, pageviews and page events: Core statements, built once (hot path).

The visit API is public: a request is scoped by its site key, not an account, so every lookup
here is limited to the site the key names (another site's session id is unknown).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update

from callpool.db import Database
from callpool.models import Pageview, SessionEvent, Visitor, VisitSession
from callpool.models.base import UTCDateTime

visitors = Visitor.__table__
sessions = VisitSession.__table__
pageviews = Pageview.__table__
session_events = SessionEvent.__table__

_now = bindparam("now", type_=UTCDateTime())


@contextmanager
def writing(database: Database) -> Iterator[Connection]:
    """One write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
    with database.engine.begin() as conn:
        yield conn


VISITOR_LAST_TRACKER = select(visitors.c.last_tracker_id).where(
    visitors.c.id == bindparam("visitor_id"), visitors.c.site_id == bindparam("site_id")
)
INSERT_VISITOR = insert(visitors)
SET_LAST_TRACKER = (
    update(visitors)
    .where(visitors.c.id == bindparam("visitor_id"))
    .values(last_tracker_id=bindparam("tracker_id"))
)
INSERT_SESSION = insert(sessions)
FIND_SESSION = select(
    sessions.c.id,
    sessions.c.visitor_id,
    sessions.c.last_seen_at,
    sessions.c.source,
    sessions.c.medium,
    sessions.c.campaign,
    sessions.c.term,
    sessions.c.content,
    sessions.c.is_bot,
).where(sessions.c.id == bindparam("session_id"), sessions.c.site_id == bindparam("site_id"))
TOUCH_SESSION = (
    update(sessions)
    .where(sessions.c.id == bindparam("session_id"))
    .values(
        last_seen_at=_now,
        pageview_count=sessions.c.pageview_count + bindparam("views"),
    )
)
COUNT_PAGEVIEW = (
    update(sessions)
    .where(sessions.c.id == bindparam("session_id"))
    .values(pageview_count=sessions.c.pageview_count + 1)
)
INSERT_PAGEVIEW = insert(pageviews)
INSERT_EVENT = insert(session_events)


def visitor_exists(conn: Connection, visitor_id: str, site_id: int) -> tuple[bool, int | None]:
    """Whether the site knows the visitor, and the tracker it was shown last."""
    row = conn.execute(VISITOR_LAST_TRACKER, {"visitor_id": visitor_id, "site_id": site_id}).first()
    return (False, None) if row is None else (True, row.last_tracker_id)


def insert_visitor(
    conn: Connection, visitor_id: str, site_id: int, now: datetime, tracker_id: int | None
) -> None:
    conn.execute(
        INSERT_VISITOR,
        {"id": visitor_id, "site_id": site_id, "first_seen_at": now, "last_tracker_id": tracker_id},
    )


def set_last_tracker(conn: Connection, visitor_id: str, tracker_id: int) -> None:
    conn.execute(SET_LAST_TRACKER, {"visitor_id": visitor_id, "tracker_id": tracker_id})


def insert_session(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(INSERT_SESSION, values)


def find_session(conn: Connection, session_id: str, site_id: int) -> Row[Any] | None:
    row: Row[Any] | None = conn.execute(
        FIND_SESSION, {"session_id": session_id, "site_id": site_id}
    ).first()
    return row


def touch_session(conn: Connection, session_id: str, now: datetime, *, views: int) -> None:
    """Activity in a live session: it was last seen now, with ``views`` more pageviews."""
    conn.execute(TOUCH_SESSION, {"session_id": session_id, "now": now, "views": views})


def count_pageview(conn: Connection, session_id: str) -> None:
    conn.execute(COUNT_PAGEVIEW, {"session_id": session_id})


def insert_pageview(
    conn: Connection, session_id: str, url: str, title: str | None, now: datetime
) -> None:
    conn.execute(INSERT_PAGEVIEW, {"session_id": session_id, "url": url, "title": title, "at": now})


def insert_event(
    conn: Connection, session_id: str, kind: str, now: datetime, detail: dict[str, Any]
) -> None:
    conn.execute(
        INSERT_EVENT, {"session_id": session_id, "kind": kind, "at": now, "detail": detail}
    )
