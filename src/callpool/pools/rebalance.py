"""The automated-pool rebalance (DESIGN.md "Automated pools") and manual-pool housekeeping.

One rebalance runs the six steps in order: fill, flag, unflag, activate, deactivate, delete.
Fill buys from the carrier, so it runs before the transaction that decides the rest, and the
numbers step 6 lets go are released at the carrier after it (DESIGN.md "Carriers"). Step 5
can free trackers that step 4 of the same pass has already looked at, so a rebalance repeats
the pass until one changes nothing: running it twice in a row then changes nothing the second
time (idempotent), and the order of the steps is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import update
from sqlalchemy.orm import Session

from callpool import clock
from callpool.calls.routing import refresh_routing
from callpool.db import Database
from callpool.errors import Conflict
from callpool.models import Pool, PoolEvent, Tracker
from callpool.models.pool import AUTOMATED, MANUAL
from callpool.models.tracker import ACTIVE, AVAILABLE, FLAGGED, PROVISIONING, ROUTED_STATUSES
from callpool.pools import repository
from callpool.pools.assignments import close_assignment, open_assignment
from callpool.pools.provisioning import (
    buy,
    finish_releases,
    mark_releasing,
    new_claim,
    reserve,
    search,
)
from callpool.pools.repository import SourceMediumKey
from callpool.settings import Settings
from callpool.telephony.base import Provider, ProviderError

log = logging.getLogger(__name__)

MAX_PASSES = 4  # two always suffice (see the module docstring); the rest is a safety margin


@dataclass
class Outcome:
    created: int = 0
    flagged: int = 0
    unflagged: int = 0
    activated: int = 0
    deactivated: int = 0
    released: int = 0

    def changed(self) -> bool:
        return any(asdict(self).values())

    def add(self, other: Outcome) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


def top_list_length(pool: Pool) -> int:
    """max(floor(size × utilization), minimum), never more than the pool's size.

    Decimal, because in floats 100 × 0.29 is 28.999…, which would floor to 28.
    """
    utilization = Decimal(str(pool.utilization if pool.utilization is not None else 1))
    by_share = int((pool.size * utilization).to_integral_value(rounding=ROUND_FLOOR))
    return min(max(by_share, pool.min_sources), pool.size)


def ranked_sources(db: Session, pool: Pool, now: datetime) -> list[tuple[SourceMediumKey, int]]:
    """Visits per source/medium over the pool's window, most first."""
    return repository.visit_counts(db, pool.site_id, now - timedelta(days=pool.window_days))


def top_list(db: Session, pool: Pool, now: datetime) -> list[SourceMediumKey]:
    eligible = [
        key for key, visits in ranked_sources(db, pool, now) if visits >= pool.visit_threshold
    ]
    return eligible[: top_list_length(pool)]


def timeline_expired(pool: Pool, tracker: Tracker, now: datetime) -> bool:
    assert tracker.dropped_at is not None
    return tracker.dropped_at + timedelta(days=pool.timeline_days) <= now


def rebalance_pool(
    database: Database,
    provider: Provider,
    pool_id: int,
    *,
    public_url: str,
    strict: bool = False,
    routing_changed: Callable[[], object] | None = None,
) -> Outcome:
    """Bring a pool in line with its settings and traffic, with no carrier call inside a
    transaction: buy what step 1 (fill) needs, then decide steps 2-6 in one transaction (the
    pool's row locked), then release at the carrier what step 6 (or a manual pool's expiry)
    let go, after ``routing_changed`` took those numbers out of the routing table.

    ``strict``: a failed purchase raises (an API call shows it) instead of being recorded as a
    ``provision_failed`` event and retried at the next rebalance (the worker).
    """
    created = fill(database, provider, pool_id, public_url=public_url, strict=strict)
    claim = new_claim()
    with database.session() as db:
        pool = repository.lock_pool(db, pool_id)
        if pool is None:  # deleted meanwhile
            return Outcome(created=created)
        outcome, releasing = decide(db, pool, claim, created=created)
    if releasing:
        if routing_changed is not None:
            routing_changed()
        finish_releases(database, provider, releasing, claim)
    return outcome


def fill(
    database: Database, provider: Provider, pool_id: int, *, public_url: str, strict: bool
) -> int:
    """Step 1 of an automated pool: buy available trackers up to its size. Numbers being
    bought count as there, so two rebalances at once do not both buy the missing ones."""
    with database.reader() as db:
        pool = db.get_one(Pool, pool_id)
        if pool.kind != AUTOMATED or _missing(db, pool) <= 0:
            return 0
        missing = _missing(db, pool)
    claim = new_claim()
    try:
        offered = search(
            database, provider, area_code=pool.area_code, toll_free=pool.toll_free, count=missing
        )
        with database.session() as db:
            locked = repository.lock_pool(db, pool_id)
            if locked is None:
                return 0
            reserved = reserve(db, provider, locked, offered, _missing(db, locked), claim)
    except (ProviderError, Conflict) as error:
        if strict:
            raise
        with database.session() as db:
            detail = {"missing": missing, "error": str(error)}
            db.add(
                PoolEvent(pool_id=pool_id, kind="provision_failed", at=clock.now(), detail=detail)
            )
        return 0
    return buy(database, provider, reserved, claim, public_url=public_url, all_or_nothing=strict)


def _missing(db: Session, pool: Pool) -> int:
    return pool.size - repository.count_trackers(db, pool.id, (*ROUTED_STATUSES, PROVISIONING))


def decide(db: Session, pool: Pool, claim: str, *, created: int = 0) -> tuple[Outcome, list[int]]:
    """Steps 2-6 (automated) or a manual pool's housekeeping, in the caller's transaction.
    Returns what changed and the trackers marked for release (under ``claim``)."""
    now = clock.now()
    outcome = Outcome(created=created)
    releasing: list[int] = []
    if pool.kind == AUTOMATED:
        for _ in range(MAX_PASSES):
            one_pass = _automated_pass(db, pool, now, claim, releasing)
            outcome.add(one_pass)
            if not one_pass.changed():
                break
    elif pool.kind == MANUAL:
        outcome.add(_manual_housekeeping(db, pool, now, claim, releasing))
    pool.rebalanced_at = now
    if outcome.changed():
        db.add(PoolEvent(pool_id=pool.id, kind="rebalanced", at=now, detail=asdict(outcome)))
    db.flush()
    return outcome, releasing


def _automated_pass(
    db: Session, pool: Pool, now: datetime, claim: str, releasing: list[int]
) -> Outcome:
    outcome = Outcome()
    trackers = repository.live_trackers(db, pool)
    top = top_list(db, pool, now)
    in_top = set(top)
    # (1. Fill happened before this transaction: see ``fill``.)
    # 2. Flag active trackers whose source/medium left the top list.
    for tracker in _with_status(trackers, ACTIVE):
        if _key(tracker) not in in_top:
            tracker.status, tracker.dropped_at = FLAGGED, now
            outcome.flagged += 1
    served = {_key(tracker) for tracker in _with_status(trackers, ACTIVE)}
    # 3. Unflag flagged trackers whose source/medium is back (the latest dropped first).
    flagged = sorted(_with_status(trackers, FLAGGED), key=_dropped_at, reverse=True)
    for tracker in flagged:
        if _key(tracker) in in_top and _key(tracker) not in served:
            tracker.status, tracker.dropped_at = ACTIVE, None
            served.add(_key(tracker))
            outcome.unflagged += 1
    # 4. Activate an available tracker for each top source/medium without one.
    available = _with_status(trackers, AVAILABLE)
    for key in top:
        if key not in served and available:
            activate(db, pool, available.pop(0), key, now)
            served.add(key)
            outcome.activated += 1
    # 5. Deactivate flagged trackers whose timeline expired.
    for tracker in _with_status(trackers, FLAGGED):
        if timeline_expired(pool, tracker, now):
            deactivate(db, pool, tracker, now)
            outcome.deactivated += 1
    # 6. Delete available trackers beyond the size, the newest first: out of service now,
    # released at the carrier after the commit.
    excess = len(trackers) - pool.size
    for tracker in reversed(_with_status(trackers, AVAILABLE)):
        if excess <= 0:
            break
        mark_releasing(db, tracker, claim)
        releasing.append(tracker.id)
        excess -= 1
        outcome.released += 1
    db.flush()
    return outcome


def _manual_housekeeping(
    db: Session, pool: Pool, now: datetime, claim: str, releasing: list[int]
) -> Outcome:
    """Manual trackers change only by the operator, except that a flagged one whose
    timeline expired is deleted."""
    outcome = Outcome()
    for tracker in _with_status(repository.live_trackers(db, pool), FLAGGED):
        if timeline_expired(pool, tracker, now):
            mark_releasing(db, tracker, claim)
            releasing.append(tracker.id)
            outcome.released += 1
    return outcome


def activate(
    db: Session, pool: Pool, tracker: Tracker, key: SourceMediumKey, now: datetime
) -> None:
    """``tracker`` serves ``key`` from now on, forwarding to the pool's current number."""
    tracker.status = ACTIVE
    tracker.source, tracker.medium = key
    tracker.original_number = pool.original_number
    tracker.activated_at, tracker.dropped_at = now, None
    open_assignment(db, tracker, now)


def deactivate(db: Session, pool: Pool, tracker: Tracker, now: datetime) -> None:
    """Back to available: it serves nobody, and a stray call still reaches the business."""
    close_assignment(db, tracker, now)
    tracker.status = AVAILABLE
    tracker.source = tracker.medium = None
    tracker.original_number = pool.original_number
    tracker.dropped_at = None


def rebalance_due_pools(
    database: Database,
    provider: Provider,
    *,
    public_url: str,
    min_interval: timedelta = timedelta(minutes=1),
    limit: int = 100,
    routing_changed: Callable[[], object] | None = None,
) -> int:
    """Rebalance automated pools and tidy manual ones not rebalanced for ``min_interval``.

    Called periodically by ``callpool worker`` (and in-process by ``callpool serve`` on SQLite).
    Each pool is claimed with a conditional UPDATE on ``rebalanced_at`` whose row count says
    whether this worker won it: with several workers on PostgreSQL, the loser's UPDATE waits for
    the winner's commit, then no longer matches, so a pool is rebalanced by one worker at a time.
    The claim is committed before the carrier work, which holds no transaction.
    Returns how many pools this call rebalanced.
    """
    now = clock.now()
    before = now - min_interval
    with database.reader() as db:
        pool_ids = repository.due_pool_ids(db, (AUTOMATED, MANUAL), before, limit)
    done = 0
    for pool_id in pool_ids:
        try:
            with database.session() as db:
                if not _claim(db, pool_id, before, now):
                    continue
            rebalance_pool(
                database, provider, pool_id, public_url=public_url, routing_changed=routing_changed
            )
            done += 1
        except Exception:
            # One broken pool must not stop the rest; it is due again after ``min_interval``,
            # and carrier work it left half-done is finished by ``finish_carrier_work``.
            log.exception("rebalancing pool %s failed", pool_id)
    return done


def rebalance_job(database: Database, settings: Settings, provider: Provider) -> int:
    """The worker's job (``callpool.worker.Job``): rebalance due pools, then refresh routing
    if any was rebalanced (a tracker may have been activated, freed or released)."""
    done = rebalance_due_pools(
        database,
        provider,
        public_url=settings.public_url,
        routing_changed=lambda: refresh_routing(database, settings),
    )
    if done:
        refresh_routing(database, settings)
    return done


def _claim(db: Session, pool_id: int, before: datetime, now: datetime) -> bool:
    result = db.execute(
        update(Pool)
        .where(
            Pool.id == pool_id,
            Pool.deleted_at.is_(None),
            (Pool.rebalanced_at.is_(None)) | (Pool.rebalanced_at < before),
        )
        .values(rebalanced_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _with_status(trackers: list[Tracker], status: str) -> list[Tracker]:
    return [tracker for tracker in trackers if tracker.status == status]


def _key(tracker: Tracker) -> SourceMediumKey:
    return (tracker.source or "", tracker.medium or "")


def _dropped_at(tracker: Tracker) -> datetime:
    assert tracker.dropped_at is not None
    return tracker.dropped_at
