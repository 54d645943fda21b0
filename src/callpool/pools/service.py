"""Pools: what the API (and the dashboard) may do to pools and their trackers.

Each function is one unit of work: it commits, or raises and leaves nothing behind. Anything
that changes where a tracker's calls go refreshes the routing table after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callpool import clock
from callpool.calls.routing import refresh_routing
from callpool.db import Database
from callpool.errors import Conflict, Invalid
from callpool.models import Pool, Tracker
from callpool.models.pool import AUTOMATED, MANUAL, SESSION
from callpool.models.tracker import ACTIVE, AVAILABLE, FLAGGED, RELEASED
from callpool.pools import repository
from callpool.pools.assignments import open_assignment
from callpool.pools.provisioning import buy_given_number, buy_trackers, release_tracker
from callpool.pools.rebalance import Outcome, activate, rebalance_pool
from callpool.pools.schemas import (
    AddTrackers,
    Diagnostics,
    PoolCreate,
    PoolOut,
    PoolUpdate,
    TrackerCounts,
)
from callpool.pools.sourcelevel import diagnose
from callpool.settings import Settings
from callpool.telephony.base import Provider

DEFAULT_UTILIZATION = 1.0
# Settings an update may clear with null; the others always have a value.
CLEARABLE = {"area_code", "overflow_number", "whisper", "swap_number", "swap_selector"}


@dataclass(frozen=True)
class Deps:
    """What pool operations need from the running app."""

    database: Database
    provider: Provider
    settings: Settings

    @property
    def public_url(self) -> str:
        return self.settings.public_url


# -- pools ---------------------------------------------------------------------------------


def create_pool(deps: Deps, account_id: int, data: PoolCreate) -> PoolOut:
    with deps.database.session() as db:
        if repository.site_of_account(db, account_id, data.site_id) is None:
            raise Invalid(f"site {data.site_id} not found in this account", field="site_id")
        now = clock.now()
        pool = Pool(account_id=account_id, created_at=now, updated_at=now, **data.model_dump())
        if pool.kind == AUTOMATED and pool.utilization is None:
            pool.utilization = DEFAULT_UTILIZATION
        if pool.kind != AUTOMATED:
            pool.utilization = None  # meaningful for automated pools only
        _check(db, pool)
        db.add(pool)
        db.flush()
        buy_trackers(db, deps.provider, pool, pool.size, public_url=deps.public_url)
        rebalance_pool(db, deps.provider, pool, public_url=deps.public_url, strict=True)
        out = _pool_out(db, pool)
    _routing_changed(deps)
    return out


def list_pools(deps: Deps, account_id: int, site_id: int | None = None) -> list[PoolOut]:
    with deps.database.reader() as db:
        pools = repository.list_pools(db, account_id, site_id)
        counts = repository.tracker_counts(db, [pool.id for pool in pools])
        return [_with_counts(pool, counts[pool.id]) for pool in pools]


def get_pool(deps: Deps, account_id: int, pool_id: int) -> PoolOut:
    with deps.database.reader() as db:
        return _pool_out(db, repository.get_pool(db, account_id, pool_id))


def update_pool(deps: Deps, account_id: int, pool_id: int, data: PoolUpdate) -> PoolOut:
    changes = data.model_dump(exclude_unset=True)
    with deps.database.session() as db:
        pool = repository.get_pool(db, account_id, pool_id, lock=True)
        if pool.kind != AUTOMATED:
            changes.pop("utilization", None)  # ignored outside automated pools
        for name, value in changes.items():
            if value is None and name not in CLEARABLE:
                raise Invalid(f"{name} cannot be null", field=name)
        old_size, old_number = pool.size, pool.original_number
        for name, value in changes.items():
            setattr(pool, name, value)
        pool.updated_at = clock.now()
        _check(db, pool)
        if pool.original_number != old_number:
            _follow_new_original_number(db, pool)
        if pool.kind == SESSION and pool.size != old_size:
            _resize_session_pool(db, deps, pool)
        elif pool.kind == MANUAL and pool.size != old_size:
            _resize_manual_pool(db, deps, pool)
        if pool.kind != SESSION:  # every change of a source-level pool rebalances it
            rebalance_pool(db, deps.provider, pool, public_url=deps.public_url, strict=True)
        out = _pool_out(db, pool)
    _routing_changed(deps)
    return out


def delete_pool(deps: Deps, account_id: int, pool_id: int) -> None:
    """Release every tracker at the provider; the pool row stays (deleted_at) for history."""
    with deps.database.session() as db:
        pool = repository.get_pool(db, account_id, pool_id, lock=True)
        users = [
            p.name for p in repository.list_pools(db, account_id) if p.others == f"pool:{pool.id}"
        ]
        if users:
            raise Conflict(
                f"pool {pool.name!r} serves the other visitors of {', '.join(users)}: "
                "change their 'others' setting first"
            )
        for tracker in repository.live_trackers(db, pool):
            release_tracker(db, deps.provider, tracker)
        pool.deleted_at = pool.updated_at = clock.now()
    _routing_changed(deps)


def rebalance_now(deps: Deps, account_id: int, pool_id: int) -> Outcome:
    with deps.database.session() as db:
        pool = repository.get_pool(db, account_id, pool_id, lock=True)
        outcome = rebalance_pool(db, deps.provider, pool, public_url=deps.public_url, strict=True)
    if outcome.changed():
        _routing_changed(deps)
    return outcome


def reassign_original_number(deps: Deps, account_id: int, pool_id: int) -> int:
    """Point active and flagged trackers at the pool's current original number.

    The FAQ's default keeps an activated tracker on the number it was activated with; this is
    the explicit action that moves them too. Returns how many trackers changed.
    """
    with deps.database.session() as db:
        pool = repository.get_pool(db, account_id, pool_id, lock=True)
        now = clock.now()
        moved = 0
        for tracker in repository.live_trackers(db, pool):
            if (
                tracker.status in (ACTIVE, FLAGGED)
                and tracker.original_number != pool.original_number
            ):
                tracker.original_number = pool.original_number
                if tracker.source is not None:
                    open_assignment(db, tracker, now)  # the history records the number too
                moved += 1
    _routing_changed(deps)
    return moved


def diagnostics(deps: Deps, account_id: int, pool_id: int) -> Diagnostics:
    with deps.database.reader() as db:
        return diagnose(db, repository.get_pool(db, account_id, pool_id))


# -- trackers ------------------------------------------------------------------------------


def list_trackers(
    deps: Deps, account_id: int, pool_id: int, status: str | None = None
) -> Sequence[Tracker]:
    with deps.database.reader() as db:
        repository.get_pool(db, account_id, pool_id)
        return repository.list_trackers(db, account_id, pool_id, status)


def add_trackers(deps: Deps, account_id: int, pool_id: int, data: AddTrackers) -> list[Tracker]:
    """Grow the pool: buy ``count`` numbers, or one given ``number``. The size grows with it,
    so the next rebalance keeps them."""
    if (data.count is None) == (data.number is None):
        raise Invalid("send either count or number", field="count")
    with deps.database.session() as db:
        pool = repository.get_pool(db, account_id, pool_id, lock=True)
        if data.number is not None:
            trackers = [
                buy_given_number(db, deps.provider, pool, data.number, public_url=deps.public_url)
            ]
        else:
            assert data.count is not None
            trackers = buy_trackers(db, deps.provider, pool, data.count, public_url=deps.public_url)
        pool.size += len(trackers)
        pool.updated_at = clock.now()
        rebalance_pool(db, deps.provider, pool, public_url=deps.public_url, strict=True)
    _routing_changed(deps)
    return trackers


def release(deps: Deps, account_id: int, pool_id: int, tracker_id: int) -> Tracker:
    """Give one number back. The pool shrinks by one, so a rebalance does not buy it again."""
    with deps.database.session() as db:
        pool = repository.get_pool(db, account_id, pool_id, lock=True)
        tracker = repository.get_tracker(db, account_id, pool_id, tracker_id)
        if tracker.status == RELEASED:
            raise Conflict(f"tracker {tracker.number} is already released")
        release_tracker(db, deps.provider, tracker)
        pool.size = max(pool.size - 1, 0)
        pool.updated_at = clock.now()
        rebalance_pool(db, deps.provider, pool, public_url=deps.public_url, strict=True)
    _routing_changed(deps)
    return tracker


def manual_action(
    deps: Deps,
    account_id: int,
    pool_id: int,
    tracker_id: int,
    action: str,
    source_medium: tuple[str, str] | None = None,
) -> Tracker:
    """An operator's activate / flag / unflag / assign on a manual pool's tracker."""
    with deps.database.session() as db:
        pool = repository.get_pool(db, account_id, pool_id, lock=True)
        if pool.kind != MANUAL:
            raise Conflict(
                f"{pool.kind} pools manage their trackers themselves; "
                "only manual pools take tracker actions"
            )
        tracker = repository.get_tracker(db, account_id, pool_id, tracker_id)
        MANUAL_ACTIONS[action](db, pool, tracker, source_medium)
        pool.updated_at = clock.now()
    _routing_changed(deps)
    return tracker


def _activate(db: Session, pool: Pool, tracker: Tracker, key: tuple[str, str] | None) -> None:
    _require_status(tracker, AVAILABLE, "activate")
    assert key is not None
    _require_unserved(db, pool, key, tracker)
    activate(db, pool, tracker, key, clock.now())


def _flag(db: Session, pool: Pool, tracker: Tracker, _key: tuple[str, str] | None) -> None:
    _require_status(tracker, ACTIVE, "flag")
    tracker.status, tracker.dropped_at = FLAGGED, clock.now()


def _unflag(db: Session, pool: Pool, tracker: Tracker, _key: tuple[str, str] | None) -> None:
    _require_status(tracker, FLAGGED, "unflag")
    assert tracker.source is not None
    assert tracker.medium is not None
    _require_unserved(db, pool, (tracker.source, tracker.medium), tracker)
    tracker.status, tracker.dropped_at = ACTIVE, None


def _assign(db: Session, pool: Pool, tracker: Tracker, key: tuple[str, str] | None) -> None:
    _require_status(tracker, ACTIVE, "assign")
    assert key is not None
    if key == (tracker.source, tracker.medium):
        return
    _require_unserved(db, pool, key, tracker)
    tracker.source, tracker.medium = key
    open_assignment(db, tracker, clock.now())  # closes the previous source/medium's range


MANUAL_ACTIONS: dict[str, Any] = {
    "activate": _activate,
    "flag": _flag,
    "unflag": _unflag,
    "assign": _assign,
}


def _require_status(tracker: Tracker, status: str, action: str) -> None:
    if tracker.status != status:
        raise Conflict(f"cannot {action} tracker {tracker.number}: it is {tracker.status}")


def _require_unserved(db: Session, pool: Pool, key: tuple[str, str], tracker: Tracker) -> None:
    other = repository.active_tracker_for(db, pool.id, *key)
    if other is not None and other.id != tracker.id:
        raise Conflict(f"{key[0]}/{key[1]} already has the active tracker {other.number}")


# -- helpers -------------------------------------------------------------------------------


def _check(db: Session, pool: Pool) -> None:
    """Rules across fields, on the pool as it would be stored."""
    if pool.overflow_policy == "fallback" and not pool.overflow_number:
        raise Invalid("overflow_policy fallback needs an overflow_number", field="overflow_number")
    if pool.others != "original":
        _check_others_target(db, pool)


def _check_others_target(db: Session, pool: Pool) -> None:
    if pool.kind == SESSION:
        raise Invalid("others applies to automated and manual pools only", field="others")
    target_id = int(pool.others.removeprefix("pool:"))
    target = db.scalar(
        select(Pool).where(
            Pool.id == target_id,
            Pool.account_id == pool.account_id,
            Pool.site_id == pool.site_id,
            Pool.kind == SESSION,
            Pool.deleted_at.is_(None),
        )
    )
    if target is None:
        raise Invalid(f"others: no session pool {target_id} on this site", field="others")


def _follow_new_original_number(db: Session, pool: Pool) -> None:
    """Only trackers activated from now on take a new number (the FAQ); those serving nobody
    yet follow it so a stray call reaches the business. Session-pool trackers have no
    activation of their own: they always forward to the pool's number."""
    for tracker in repository.live_trackers(db, pool):
        if pool.kind == SESSION or tracker.status == AVAILABLE:
            tracker.original_number = pool.original_number


def _resize_session_pool(db: Session, deps: Deps, pool: Pool) -> None:
    """Larger: buy. Smaller: release trackers no visitor holds now (newest first); a tracker in
    front of a visitor is kept, and the pool shrinks further on a later size change."""
    trackers = repository.live_trackers(db, pool)
    missing = pool.size - len(trackers)
    if missing > 0:
        buy_trackers(db, deps.provider, pool, missing, public_url=deps.public_url)
        return
    now = clock.now()
    free = [t for t in trackers if t.leased_until is None or t.leased_until <= now]
    for tracker in reversed(free):
        if missing >= 0:
            break
        release_tracker(db, deps.provider, tracker)
        missing += 1


def _resize_manual_pool(db: Session, deps: Deps, pool: Pool) -> None:
    """Larger: buy available trackers. Smaller: release available ones only; the operator
    decides about active and flagged ones."""
    trackers = repository.live_trackers(db, pool)
    missing = pool.size - len(trackers)
    if missing > 0:
        buy_trackers(db, deps.provider, pool, missing, public_url=deps.public_url)
        return
    for tracker in reversed([t for t in trackers if t.status == AVAILABLE]):
        if missing >= 0:
            break
        release_tracker(db, deps.provider, tracker)
        missing += 1


def _pool_out(db: Session, pool: Pool) -> PoolOut:
    return _with_counts(pool, repository.tracker_counts(db, [pool.id])[pool.id])


def _with_counts(pool: Pool, counts: dict[str, int]) -> PoolOut:
    out = PoolOut.model_validate(pool)
    out.trackers = TrackerCounts(**counts)
    return out


def _routing_changed(deps: Deps) -> None:
    """The single place pools tell call routing that forward numbers may have changed."""
    refresh_routing(deps.database, deps.settings)
