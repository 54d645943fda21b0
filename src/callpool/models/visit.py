from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from callpool.models.base import Base


class Visitor(Base):
    """A browser, known by a long-lived first-party id the server hands out."""

    __tablename__ = "visitors"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    first_seen_at: Mapped[datetime]
    last_tracker_id: Mapped[int | None]  # offered again when free: a returning visitor's number


# The ad click ids a session keeps, one column each below: read from the landing page's
# address (visits/classify.py), returned with a call's attribution (calls API).
CLICK_IDS = ("gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid")


class VisitSession(Base):
    """One visit: where it came from and what it saw."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_site_started", "site_id", "started_at"),
        Index("ix_sessions_site_source", "site_id", "source", "medium", "started_at"),
        # Reports count human sessions by time, source and medium from this index alone …
        Index(
            "ix_sessions_humans",
            "site_id",
            "started_at",
            postgresql_include=["source", "medium"],
            postgresql_where=text("is_bot = false"),
            sqlite_where=text("is_bot = 0"),
        ),
        # … and by campaign and keyword from this one. Kept apart from the one above so that
        # an index entry stays under PostgreSQL's 2,704-byte limit even for 4-byte UTF-8 text.
        # SQLite has no INCLUDE: there it would repeat the one above at the cost of a write per
        # new session, so it is kept empty (WHERE 0).
        Index(
            "ix_sessions_humans_campaign",
            "site_id",
            "started_at",
            postgresql_include=["campaign", "term"],
            postgresql_where=text("is_bot = false"),
            sqlite_where=text("0"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    visitor_id: Mapped[str] = mapped_column(
        ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(200))
    medium: Mapped[str] = mapped_column(String(200))
    campaign: Mapped[str | None] = mapped_column(String(300))
    term: Mapped[str | None] = mapped_column(String(300))
    content: Mapped[str | None] = mapped_column(String(300))
    gclid: Mapped[str | None] = mapped_column(String(300))
    gbraid: Mapped[str | None] = mapped_column(String(300))
    wbraid: Mapped[str | None] = mapped_column(String(300))
    fbclid: Mapped[str | None] = mapped_column(String(300))
    msclkid: Mapped[str | None] = mapped_column(String(300))
    ttclid: Mapped[str | None] = mapped_column(String(300))
    # Google Analytics' ids for this browser, read by the snippet from the site's own _ga
    # cookies: GA4 events about the visit's calls join the visitor's GA session with them.
    ga_client_id: Mapped[str | None] = mapped_column(String(64))
    ga_sessions: Mapped[dict[str, Any] | None]  # {"<stream id>": "<GA session id>"}
    referrer: Mapped[str | None] = mapped_column(Text)
    landing_url: Mapped[str] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(Text)
    device: Mapped[str | None] = mapped_column(String(20))  # desktop | mobile | tablet | bot
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    is_bot: Mapped[bool] = mapped_column(default=False)
    pageview_count: Mapped[int] = mapped_column(default=0)


class Pageview(Base):
    __tablename__ = "pageviews"
    __table_args__ = (Index("ix_pageviews_session_at", "session_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime]
    # Places the snippet swapped on this page (0: the business number was not found there);
    # None until the snippet reports it (with the next pageview or heartbeat).
    swaps: Mapped[int | None]


class SessionEvent(Base):
    """Evidence from the page, such as a click on a ``tel:`` link shortly before a call."""

    __tablename__ = "session_events"
    __table_args__ = (Index("ix_session_events_session_at", "session_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))  # tel_click
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Lease(Base):
    """Tracker × session × [started_at, leased_until). Kept forever: calls are attributed by it."""

    __tablename__ = "leases"
    __table_args__ = (Index("ix_leases_tracker_time", "tracker_id", "started_at", "leased_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id"))
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime]
    leased_until: Mapped[datetime]
    shared: Mapped[bool] = mapped_column(default=False)  # overflow "reuse": overlaps another lease
