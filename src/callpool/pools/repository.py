"""Queries of the pools domain. Tenant data always starts from ``scoped``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callpool.accounts.repository import scoped
from callpool.errors import NotFound
from callpool.models import Pool, Site, Tracker, TrackerAssignment, VisitSession
from callpool.models.tracker import RELEASED, ROUTED_STATUSES

SourceMediumKey = tuple[str, str]


def get_pool(db: Session, account_id: int, pool_id: int, *, lock: bool = False) -> Pool:
    """A live pool of the account, or ``NotFound``. ``lock`` holds the row until commit
    (PostgreSQL), so an API change and a worker never rebalance the same pool at once."""
    query = scoped(Pool, account_id).where(Pool.id == pool_id, Pool.deleted_at.is_(None))
    if lock:
        query = query.with_for_update()
    pool = db.scalar(query)
    if pool is None:
        raise NotFound(f"pool {pool_id} not found")
    return pool


def lock_pool(db: Session, pool_id: int) -> Pool | None:
    """A live pool by id, its row held until commit (PostgreSQL), for the worker's and the
    services' decisions after carrier work; None once deleted."""
    pool: Pool | None = db.scalar(
        select(Pool).where(Pool.id == pool_id, Pool.deleted_at.is_(None)).with_for_update()
    )
    return pool


def list_pools(db: Session, account_id: int, site_id: int | None = None) -> Sequence[Pool]:
    query = scoped(Pool, account_id).where(Pool.deleted_at.is_(None))
    if site_id is not None:
        query = query.where(Pool.site_id == site_id)
    return db.scalars(query.order_by(Pool.id)).all()


def site_of_account(db: Session, account_id: int, site_id: int) -> Site | None:
    site: Site | None = db.scalar(
        scoped(Site, account_id).where(Site.id == site_id, Site.deleted_at.is_(None))
    )
    return site


def get_tracker(db: Session, account_id: int, pool_id: int, tracker_id: int) -> Tracker:
    tracker: Tracker | None = db.scalar(
        scoped(Tracker, account_id).where(
            Tracker.id == tracker_id, Tracker.pool_id == pool_id, Pool.deleted_at.is_(None)
        )
    )
    if tracker is None:
        raise NotFound(f"tracker {tracker_id} not found")
    return tracker


def list_trackers(
    db: Session, account_id: int, pool_id: int, status: str | None = None
) -> Sequence[Tracker]:
    query = scoped(Tracker, account_id).where(Tracker.pool_id == pool_id)
    if status is not None:
        query = query.where(Tracker.status == status)
    return db.scalars(query.order_by(Tracker.id)).all()


def live_trackers(db: Session, pool: Pool) -> list[Tracker]:
    """Every tracker of ``pool`` in service (available, active, flagged), oldest first: not
    those being bought or released, whose carrier work is in flight."""
    query = select(Tracker).where(Tracker.pool_id == pool.id, Tracker.status.in_(ROUTED_STATUSES))
    return list(db.scalars(query.order_by(Tracker.id)))


def count_trackers(db: Session, pool_id: int, statuses: Sequence[str]) -> int:
    query = select(func.count()).where(Tracker.pool_id == pool_id, Tracker.status.in_(statuses))
    return db.scalar(query) or 0


def tracker_counts(db: Session, pool_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """``{pool_id: {status: count}}`` of trackers not released (those being bought or
    released too: a pool's progress), in one query for a whole list."""
    counts: dict[int, dict[str, int]] = {pool_id: {} for pool_id in pool_ids}
    if not pool_ids:
        return counts
    rows = db.execute(
        select(Tracker.pool_id, Tracker.status, func.count())
        .where(Tracker.pool_id.in_(pool_ids), Tracker.status != RELEASED)
        .group_by(Tracker.pool_id, Tracker.status)
    )
    for pool_id, status, count in rows:
        counts[pool_id][status] = count
    return counts


def taken_numbers(db: Session, candidates: Sequence[str]) -> set[str]:
    """Which of ``candidates`` are live trackers anywhere in this install.

    Deliberately not scoped to an account: a number can be live in one pool only, whoever
    owns it, and no tenant data leaves this function (only which candidates to skip).
    """
    if not candidates:
        return set()
    query = select(Tracker.number).where(Tracker.number.in_(candidates), Tracker.status != RELEASED)
    return set(db.scalars(query))


def count_live_numbers(db: Session) -> int:
    return db.scalar(select(func.count()).where(Tracker.status != RELEASED)) or 0


def visit_counts(db: Session, site_id: int, since: datetime) -> list[tuple[SourceMediumKey, int]]:
    """Visits per source/medium of a site since ``since``, bots excluded, most visits first
    (ties by name, so the top list is the same on every run and engine)."""
    visits = func.count().label("visits")
    rows = db.execute(
        select(VisitSession.source, VisitSession.medium, visits)
        .where(
            VisitSession.site_id == site_id,
            VisitSession.started_at >= since,
            VisitSession.is_bot.is_(False),
        )
        .group_by(VisitSession.source, VisitSession.medium)
        .order_by(visits.desc(), VisitSession.source, VisitSession.medium)
    )
    return [((source, medium), count) for source, medium, count in rows]


def open_assignment(db: Session, tracker_id: int) -> TrackerAssignment | None:
    assignment: TrackerAssignment | None = db.scalar(
        select(TrackerAssignment)
        .where(TrackerAssignment.tracker_id == tracker_id, TrackerAssignment.ended_at.is_(None))
        .order_by(TrackerAssignment.started_at.desc(), TrackerAssignment.id.desc())
        .limit(1)
    )
    return assignment


def due_pool_ids(db: Session, kinds: Sequence[str], before: datetime, limit: int) -> list[int]:
    """Live pools of ``kinds`` not rebalanced since ``before``, longest waiting first.
    Install-wide on purpose: the worker serves every account."""
    query = (
        select(Pool.id)
        .where(
            Pool.kind.in_(kinds),
            Pool.deleted_at.is_(None),
            (Pool.rebalanced_at.is_(None)) | (Pool.rebalanced_at < before),
        )
        .order_by(Pool.rebalanced_at.is_(None).desc(), Pool.rebalanced_at, Pool.id)
        .limit(limit)
    )
    return list(db.scalars(query))
