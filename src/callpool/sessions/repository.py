"""Queries on visit sessions, always scoped to one account."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from callpool.accounts.repository import get_scoped, scoped
from callpool.models import Lease, Pageview, Tracker, VisitSession


def latest_sessions(
    db: Session, account_id: int, *, site_id: int | None, limit: int, offset: int
) -> Sequence[VisitSession]:
    query = scoped(VisitSession, account_id)
    if site_id is not None:
        query = query.where(VisitSession.site_id == site_id)
    query = query.order_by(VisitSession.started_at.desc(), VisitSession.id)
    return db.scalars(query.limit(limit).offset(offset)).all()


def numbers_shown(db: Session, session_ids: Sequence[str]) -> dict[str, str]:
    """The tracking number each session was shown last (sessions without a lease are absent)."""
    rows = db.execute(
        select(Lease.session_id, Tracker.number)
        .join(Tracker, Tracker.id == Lease.tracker_id)
        .where(Lease.session_id.in_(session_ids))
        .order_by(Lease.started_at)
    )
    return dict(rows.all())


def session_with_pageviews(
    db: Session, account_id: int, session_id: str
) -> tuple[VisitSession, Sequence[Pageview]]:
    visit: VisitSession = get_scoped(db, VisitSession, account_id, session_id)
    pageviews = db.scalars(
        select(Pageview).where(Pageview.session_id == visit.id).order_by(Pageview.at, Pageview.id)
    ).all()
    return visit, pageviews
