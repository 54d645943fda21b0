"""Visitors, sessions, pageviews and page events: Core statements, built once (hot path).

The visit API is public: a request is scoped by its site key, not an account, so every lookup
here is limited to the site the key names (another site's session id is unknown).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update

from callpool.models import Pageview, SessionEvent, Visitor, VisitSession
from callpool.models.base import UTCDateTime
from callpool.models.visit import CLICK_IDS
from callpool.visits.sql import Prepared, Tx, read_time

visitors = cast(Table, Visitor.__table__)
sessions = cast(Table, VisitSession.__table__)
pageviews = cast(Table, Pageview.__table__)
session_events = cast(Table, SessionEvent.__table__)

_now = bindparam("now", type_=UTCDateTime())


VISITOR_LAST_TRACKER = Prepared(
    select(visitors.c.last_tracker_id).where(
        visitors.c.id == bindparam("visitor"), visitors.c.site_id == bindparam("site")
    )
)
INSERT_VISITOR = Prepared(insert(visitors), ["id", "site_id", "first_seen_at", "last_tracker_id"])
SET_LAST_TRACKER = Prepared(
    update(visitors)
    .where(visitors.c.id == bindparam("visitor"))
    .values(last_tracker_id=bindparam("tracker"))
)
SESSION_COLUMNS = (
    "id",
    "site_id",
    "visitor_id",
    "started_at",
    "last_seen_at",
    "source",
    "medium",
    "campaign",
    "term",
    "content",
    *CLICK_IDS,
    "ga_client_id",
    "ga_sessions",
    "referrer",
    "landing_url",
    "user_agent",
    "device",
    "ip_hash",
    "is_bot",
    "pageview_count",
)
INSERT_SESSION = Prepared(insert(sessions), SESSION_COLUMNS)
FIND_SESSION = Prepared(
    select(
        sessions.c.id,
        sessions.c.visitor_id,
        sessions.c.last_seen_at,
        sessions.c.source,
        sessions.c.medium,
        sessions.c.campaign,
        sessions.c.term,
        sessions.c.content,
        sessions.c.is_bot,
        sessions.c.ip_hash,
        sessions.c.ga_client_id,
    ).where(sessions.c.id == bindparam("session"), sessions.c.site_id == bindparam("site"))
)
TOUCH_SESSION = Prepared(
    update(sessions)
    .where(sessions.c.id == bindparam("session"))
    .values(last_seen_at=_now, pageview_count=sessions.c.pageview_count + bindparam("views"))
)
COUNT_PAGEVIEW = Prepared(
    update(sessions)
    .where(sessions.c.id == bindparam("session"))
    .values(pageview_count=sessions.c.pageview_count + 1)
)
INSERT_PAGEVIEW = Prepared(insert(pageviews), ["session_id", "url", "title", "at", "swaps"])
# The page on screen is the session's latest pageview; written only when the count changed, so
# a heartbeat repeating it reads an index entry and writes nothing.
_latest_pageview = (
    select(func.max(pageviews.c.id))
    .where(pageviews.c.session_id == bindparam("session"))
    .scalar_subquery()
)
SET_SWAPS = Prepared(
    update(pageviews)
    .where(
        pageviews.c.id == _latest_pageview,
        or_(pageviews.c.swaps.is_(None), pageviews.c.swaps != bindparam("swaps")),
    )
    .values(swaps=bindparam("swaps"))
)
INSERT_EVENT = Prepared(insert(session_events), ["session_id", "kind", "at", "detail"])
SET_GA = Prepared(
    update(sessions)
    .where(sessions.c.id == bindparam("session"), sessions.c.ga_client_id.is_(None))
    .values(ga_client_id=bindparam("client"), ga_sessions=bindparam("ga_sessions"))
)


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    visitor_id: str
    last_seen_at: datetime
    source: str
    medium: str
    campaign: str | None
    term: str | None
    content: str | None
    is_bot: bool
    ip_hash: str | None
    ga_client_id: str | None


def visitor_exists(tx: Tx, visitor_id: str, site_id: int) -> tuple[bool, int | None]:
    """Whether the site knows the visitor, and the tracker it was shown last."""
    row = VISITOR_LAST_TRACKER.first(tx, {"visitor": visitor_id, "site": site_id})
    return (False, None) if row is None else (True, row[0])


def insert_visitor(
    tx: Tx, visitor_id: str, site_id: int, now: datetime, tracker_id: int | None
) -> None:
    INSERT_VISITOR.send(
        tx,
        {"id": visitor_id, "site_id": site_id, "first_seen_at": now, "last_tracker_id": tracker_id},
    )


def set_last_tracker(tx: Tx, visitor_id: str, tracker_id: int) -> None:
    SET_LAST_TRACKER.send(tx, {"visitor": visitor_id, "tracker": tracker_id})


def insert_session(tx: Tx, values: dict[str, Any]) -> None:
    INSERT_SESSION.send(tx, values)


def find_session(tx: Tx, session_id: str, site_id: int) -> SessionRow | None:
    """The session if it is one of the site's."""
    row = FIND_SESSION.first(tx, {"session": session_id, "site": site_id})
    if row is None:
        return None
    values = list(row)
    values[2] = read_time(values[2])
    values[8] = bool(values[8])
    return SessionRow(*values)


def touch_session(tx: Tx, session_id: str, now: datetime, *, views: int) -> None:
    """Activity in a live session: it was last seen now, with ``views`` more pageviews."""
    TOUCH_SESSION.send(tx, {"session": session_id, "now": now, "views": views})


def count_pageview(tx: Tx, session_id: str) -> None:
    COUNT_PAGEVIEW.send(tx, {"session": session_id})


def set_ga(tx: Tx, session_id: str, client: str, ga_sessions: dict[str, str] | None) -> None:
    """GA's ids for a session that has none yet (the first ones found are kept)."""
    SET_GA.send(tx, {"session": session_id, "client": client, "ga_sessions": ga_sessions})


def insert_pageview(
    tx: Tx, session_id: str, url: str, title: str | None, now: datetime, swaps: int | None = None
) -> None:
    INSERT_PAGEVIEW.send(
        tx, {"session_id": session_id, "url": url, "title": title, "at": now, "swaps": swaps}
    )


def set_swaps(tx: Tx, session_id: str, swaps: int) -> None:
    """What the snippet swapped on the session's current page (see ``SET_SWAPS``)."""
    SET_SWAPS.send(tx, {"session": session_id, "swaps": swaps})


def insert_event(tx: Tx, session_id: str, kind: str, now: datetime, detail: dict[str, Any]) -> None:
    INSERT_EVENT.send(tx, {"session_id": session_id, "kind": kind, "at": now, "detail": detail})
