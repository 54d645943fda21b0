"""Queries on calls. Tenant reads start from ``scoped``; the webhooks' lookups by tracker
number or provider call id are not tenant reads: the number itself says whose call it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ScalarSelect, and_, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from callpool.accounts.repository import get_scoped, scoped
from callpool.models import Call, Pageview, Pool, Tracker, VisitSession
from callpool.models.base import UTCDateTime
from callpool.models.tracker import ROUTED_STATUSES


def live_tracker(db: Session, number: str) -> tuple[Tracker, Pool] | None:
    """The tracker that owns ``number`` now (flagged trackers still route), with its pool."""
    row = db.execute(
        select(Tracker, Pool)
        .join(Pool, Pool.id == Tracker.pool_id)
        .where(Tracker.number == number, Tracker.status.in_(ROUTED_STATUSES))
    ).first()
    return (row[0], row[1]) if row else None


def call_by_provider_id(db: Session, provider_call_id: str, *, lock: bool = False) -> Call | None:
    query = select(Call).where(Call.provider_call_id == provider_call_id)
    # Two callbacks of one call at once must not both read the old status (PostgreSQL);
    # SQLite's BEGIN IMMEDIATE already serializes writers.
    return db.scalar(query.with_for_update() if lock else query)


@dataclass(frozen=True)
class CallRow:
    call: Call
    session: VisitSession | None
    tracker: Tracker | None
    pool: Pool | None


def list_calls(
    db: Session, account_id: int, *, limit: int, before: tuple[datetime, int] | None
) -> list[CallRow]:
    """Newest first; ``before`` = (started_at, id) of the last call of the previous page."""
    query = (
        scoped(Call, account_id)
        .add_columns(VisitSession, Tracker, Pool)
        .outerjoin(VisitSession, VisitSession.id == Call.session_id)
        .outerjoin(Tracker, Tracker.id == Call.tracker_id)
        .outerjoin(Pool, Pool.id == Call.pool_id)
        .order_by(Call.started_at.desc(), Call.id.desc())
        .limit(limit)
    )
    if before is not None:
        started_at, call_id = before
        query = query.where(
            or_(
                Call.started_at < started_at, and_(Call.started_at == started_at, Call.id < call_id)
            )
        )
    return [CallRow(*row) for row in db.execute(query).all()]


def get_call(db: Session, account_id: int, call_id: int) -> CallRow:
    call = get_scoped(db, Call, account_id, call_id)
    return CallRow(
        call,
        db.get(VisitSession, call.session_id) if call.session_id else None,
        db.get(Tracker, call.tracker_id) if call.tracker_id else None,
        db.get(Pool, call.pool_id) if call.pool_id else None,
    )


def sessions_by_id(db: Session, session_ids: list[str]) -> dict[str, VisitSession]:
    # Reached only through a call already scoped to the account (its ranking's sessions).
    if not session_ids:
        return {}
    found = db.scalars(select(VisitSession).where(VisitSession.id.in_(session_ids)))
    return {session.id: session for session in found}


def pageviews(db: Session, session_id: str) -> list[Pageview]:
    # Reached only through a call already scoped to the account.
    return list(
        db.scalars(select(Pageview).where(Pageview.session_id == session_id).order_by(Pageview.at))
    )


def previous_calls(db: Session, account_id: int, call: Call) -> list[Call]:
    """The same caller's earlier calls to this account, newest first."""
    return list(
        db.scalars(
            scoped(Call, account_id)
            .where(
                Call.from_number == call.from_number,
                Call.id != call.id,
                Call.started_at <= call.started_at,
            )
            .order_by(Call.started_at.desc(), Call.id.desc())
            .limit(50)
        )
    )


def last_call_at() -> ScalarSelect[datetime]:
    """When the tracker of the enclosing query (on ``Tracker``) last rang: a correlated
    subquery. Typed, so that SQLite's text comes back as an aware datetime like the column's."""
    return (
        select(type_coerce(func.max(Call.started_at), UTCDateTime()))
        .where(Call.tracker_id == Tracker.id)
        .correlate(Tracker)
        .scalar_subquery()
    )
