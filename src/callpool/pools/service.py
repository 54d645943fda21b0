"""Pools: what the API (and the dashboard) may do to pools and their trackers.

Each function commits, or raises and leaves nothing behind. No carrier call runs inside a
transaction (``provisioning``): a change is committed with its numbers reserved or marked for
release, the carrier is called, and the result is committed. Numbers are bought in the
request's own thread, holding no lock, so the request answers once its numbers are in service
(or with the carrier's error and nothing bought): an operator sees the outcome, not a promise,
and every other request (visits, calls) goes on meanwhile. Anything that changes where a
tracker's calls go refreshes the routing table after the commit, before a release reaches the
carrier.

Transactions: the functions the REST API and the dashboard call take ``Deps`` (the database and
the provider) and open their own transactions; handlers never open one. Those taking a
``Session`` are steps inside a transaction already open (``retire_pool`` for a site's delete).
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
from callpool.errors import Conflict, Invalid, NotFound
from callpool.models import Pool, Tracker
from callpool.models.pool import AUTOMATED, MANUAL, SESSION
from callpool.models.tracker import (
    ACTIVE,
    AVAILABLE,
    FLAGGED,
    RELEASED,
    RELEASING,
    RETIRING,
    is_free,
)
from callpool.pools import repository
from callpool.pools.assignments import open_assignment
from callpool.pools.provisioning import (
    buy,
    finish_releases,
    mark_releasing,
    new_claim,
    reserve,
    reserve_given,
    search,
)
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
from callpool.telephony.base import Provider, ProviderError

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
    with deps.database.reader() as db:
        _new_pool(db, account_id, data)  # bad input: 4xx before asking the carrier anything
    offered = search(
        deps.database,
        deps.provider,
        area_code=data.area_code,
        toll_free=data.toll_free,
        count=data.size,
    )
    claim = new_claim()
    with deps.database.session() as db:
        pool = _new_pool(db, account_id, data)
        db.add(pool)
        db.flush()
        reserved = reserve(db, deps.provider, pool, offered, pool.size, claim)
        pool_id = pool.id
    try:
        _buy(deps, reserved, claim)
    except ProviderError:
        _forget_pool(deps, pool_id)
        raise
    _rebalance(deps, pool_id)
    _routing_changed(deps)
    return get_pool(deps, account_id, pool_id)


def _new_pool(db: Session, account_id: int, data: PoolCreate) -> Pool:
    if repository.site_of_account(db, account_id, data.site_id) is None:
        raise Invalid(f"site {data.site_id} not found in this account", field="site_id")
    now = clock.now()
    pool = Pool(account_id=account_id, created_at=now, updated_at=now, **data.columns())
    if pool.kind == AUTOMATED and pool.utilization is None:
        pool.utilization = DEFAULT_UTILIZATION
    if pool.kind != AUTOMATED:
        pool.utilization = None  # meaningful for automated pools only
    _check(db, pool)
    return pool


def _forget_pool(deps: Deps, pool_id: int) -> None:
    """A pool whose numbers could not be bought is not created. If a number bought for it
    could not be given back yet (or the worker took a purchase over after a long stall), the
    pool stays as deleted and the worker releases what is left."""
    with deps.database.session() as db:
        pool = db.get_one(Pool, pool_id)
        if db.scalar(select(Tracker.id).where(Tracker.pool_id == pool_id).limit(1)) is None:
            db.delete(pool)
        else:
            pool.deleted_at = clock.now()


def list_pools(deps: Deps, account_id: int, site_id: int | None = None) -> list[PoolOut]:
    with deps.database.reader() as db:
        pools = repository.list_pools(db, account_id, site_id)
        counts = repository.tracker_counts(db, [pool.id for pool in pools])
        return [_with_counts(pool, counts[pool.id]) for pool in pools]


def get_pool(deps: Deps, account_id: int, pool_id: int) -> PoolOut:
    with deps.database.reader() as db:
        return _pool_out(db, repository.get_pool(db, account_id, pool_id))


def update_pool(deps: Deps, account_id: int, pool_id: int, data: PoolUpdate) -> PoolOut:
    changes = data.columns(exclude_unset=True)
    claim = new_claim()
    with deps.database.session() as db:
        pool = repository.get_pool(db, account_id, pool_id, lock=True)
        if pool.kind != AUTOMATED:
            changes.pop("utilization", None)  # ignored outside automated pools
        for name, value in changes.items():
            if value is None and name not in CLEARABLE:
                raise Invalid(f"{name} cannot be null", field=name)
        old_size, old_number, kind = pool.size, pool.original_number, pool.kind
        for name, value in changes.items():
            setattr(pool, name, value)
        pool.updated_at = clock.now()
        _check(db, pool)
        if pool.original_number != old_number:
            _follow_new_original_number(db, pool)
        missing, releasing = 0, list[int]()
        if pool.kind == SESSION and pool.size != old_size:
            missing, releasing = _resize_session_pool(db, pool, claim)
        elif pool.kind == MANUAL and pool.size != old_size:
            missing, releasing = _resize_manual_pool(db, pool, claim)
    _release(deps, releasing, claim)
    if missing > 0:
        try:
            _grow(deps, pool_id, missing)
        except (ProviderError, Conflict):
            _set_size(deps, pool_id, old_size)
            raise
    if kind != SESSION:  # every change of a source-level pool rebalances it
        _rebalance(deps, pool_id)
    _routing_changed(deps)
    return get_pool(deps, account_id, pool_id)


def delete_pool(deps: Deps, account_id: int, pool_id: int) -> None:
    """Release every tracker at the provider; the pool row stays (deleted_at) for history."""
    claim = new_claim()
    with deps.database.session() as db:
        pool = repository.get_pool(db, account_id, pool_id, lock=True)
        users = [
            p.name for p in repository.list_pools(db, account_id) if p.others_pool_id == pool.id
        ]
        if users:
            raise Conflict(
                f"pool {pool.name!r} serves the other visitors of {', '.join(users)}: "
                "change their 'others' setting first"
            )
        releasing = retire_pool(db, pool, claim)
    _release(deps, releasing, claim)


def retire_pool(db: Session, pool: Pool, claim: str) -> list[int]:
    """Delete ``pool`` in the caller's transaction: out of every list, its trackers out of
    service and marked for release under ``claim`` (see ``finish_retiring``). Calls, leases,
    sessions and report figures keep pointing at the rows, which stay."""
    releasing = [t.id for t in repository.live_trackers(db, pool) if mark_releasing(db, t, claim)]
    pool.deleted_at = pool.updated_at = clock.now()
    return releasing


def finish_retiring(deps: Deps, releasing: list[int], claim: str) -> None:
    """After ``retire_pool``'s commit: stop routing the numbers, then release them at the
    carrier. A release the carrier fails is retried by the worker; the number is out of
    service meanwhile."""
    _release(deps, releasing, claim)


def rebalance_now(deps: Deps, account_id: int, pool_id: int) -> Outcome:
    with deps.database.reader() as db:
        repository.get_pool(db, account_id, pool_id)
    outcome = _rebalance(deps, pool_id)
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
    with deps.database.reader() as db:
        pool = repository.get_pool(db, account_id, pool_id)
    if data.number is not None:
        reserved = _grow(deps, pool_id, 1, given=data.number, count_in_size=True)
    else:
        assert data.count is not None
        reserved = _grow(deps, pool_id, data.count, count_in_size=True)
    if pool.kind != SESSION:
        _rebalance(deps, pool_id)
    _routing_changed(deps)
    with deps.database.reader() as db:
        return [db.get_one(Tracker, tracker_id) for tracker_id in reserved]


def release(deps: Deps, account_id: int, pool_id: int, tracker_id: int) -> Tracker:
    """Give one number back. The pool shrinks by one, so a rebalance does not buy it again.
    If the carrier fails, the number is out of service and ``releasing`` until the worker's
    retry gets through."""
    claim = new_claim()
    with deps.database.session() as db:
        pool = repository.get_pool(db, account_id, pool_id, lock=True)
        tracker = repository.get_tracker(db, account_id, pool_id, tracker_id)
        if tracker.status in (RELEASED, RELEASING):
            raise Conflict(f"tracker {tracker.number} is already released")
        if not mark_releasing(db, tracker, claim):
            raise Conflict(f"tracker {tracker.number} is still being bought")
        pool.size = max(pool.size - 1, 0)
        pool.updated_at = clock.now()
        kind = pool.kind
    _release(deps, [tracker_id], claim)
    if kind != SESSION:
        _rebalance(deps, pool_id)
    _routing_changed(deps)
    with deps.database.reader() as db:
        return db.get_one(Tracker, tracker_id)


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
    require_unserved(db, pool, key, tracker)
    activate(db, pool, tracker, key, clock.now())


def _flag(db: Session, pool: Pool, tracker: Tracker, _key: tuple[str, str] | None) -> None:
    _require_status(tracker, ACTIVE, "flag")
    tracker.status, tracker.dropped_at = FLAGGED, clock.now()


def _unflag(db: Session, pool: Pool, tracker: Tracker, _key: tuple[str, str] | None) -> None:
    _require_status(tracker, FLAGGED, "unflag")
    assert tracker.source is not None
    assert tracker.medium is not None
    require_unserved(db, pool, (tracker.source, tracker.medium), tracker)
    tracker.status, tracker.dropped_at = ACTIVE, None


def _assign(db: Session, pool: Pool, tracker: Tracker, key: tuple[str, str] | None) -> None:
    _require_status(tracker, ACTIVE, "assign")
    assert key is not None
    if key == (tracker.source, tracker.medium):
        return
    require_unserved(db, pool, key, tracker)
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


def require_unserved(db: Session, pool: Pool, key: tuple[str, str], tracker: Tracker) -> None:
    """One active tracker per source/medium in a pool: the visit engine shows a source its
    one active tracker."""
    # Read from the pool's trackers (a few): the visit engine's one query for "the active
    # tracker of a source" stays the only one (visits.trackers.offer_for_source).
    for other in repository.live_trackers(db, pool):
        if (
            other.status == ACTIVE
            and (other.source, other.medium) == key
            and other.id != tracker.id
        ):
            raise Conflict(f"{key[0]}/{key[1]} already has the active tracker {other.number}")


# -- helpers -------------------------------------------------------------------------------


def _check(db: Session, pool: Pool) -> None:
    """Rules across fields, on the pool as it would be stored."""
    if pool.overflow_policy == "fallback" and not pool.overflow_number:
        raise Invalid("overflow_policy fallback needs an overflow_number", field="overflow_number")
    if pool.others_pool_id is not None:
        _check_others_target(db, pool, pool.others_pool_id)


def _check_others_target(db: Session, pool: Pool, target_id: int) -> None:
    if pool.kind == SESSION:
        raise Invalid("others applies to automated and manual pools only", field="others")
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


def _resize_session_pool(db: Session, pool: Pool, claim: str) -> tuple[int, list[int]]:
    """Larger: how many to buy. Smaller: mark for release trackers no visitor holds now
    (newest first); a tracker in front of a visitor is kept, and the pool shrinks further on
    a later size change. Returns (how many to buy, trackers marked for release). Retiring
    numbers are not counted: their replacement already is."""
    trackers = [t for t in repository.live_trackers(db, pool) if t.status != RETIRING]
    missing = pool.size - len(trackers)
    if missing > 0:
        return missing, []
    now = clock.now()
    free = [t for t in trackers if is_free(t.leased_until, now)]
    return 0, _mark_newest(db, free, -missing, claim)


def _resize_manual_pool(db: Session, pool: Pool, claim: str) -> tuple[int, list[int]]:
    """Larger: how many available trackers to buy. Smaller: release available ones only; the
    operator decides about active and flagged ones."""
    trackers = repository.live_trackers(db, pool)
    missing = pool.size - len(trackers)
    if missing > 0:
        return missing, []
    available = [t for t in trackers if t.status == AVAILABLE]
    return 0, _mark_newest(db, available, -missing, claim)


def _mark_newest(db: Session, trackers: list[Tracker], count: int, claim: str) -> list[int]:
    chosen = list(reversed(trackers))[:count]
    return [tracker.id for tracker in chosen if mark_releasing(db, tracker, claim)]


def _grow(
    deps: Deps, pool_id: int, count: int, *, given: str | None = None, count_in_size: bool = False
) -> list[int]:
    """Buy ``count`` numbers (or the ``given`` one) for a pool, all or nothing, with no
    transaction open while the carrier works. ``count_in_size``: the pool's size grows by
    what was bought (an operator adding numbers)."""
    with deps.database.reader() as db:
        pool = db.get_one(Pool, pool_id)
    offered = (
        [given]
        if given is not None
        else search(
            deps.database,
            deps.provider,
            area_code=pool.area_code,
            toll_free=pool.toll_free,
            count=count,
        )
    )
    claim = new_claim()
    with deps.database.session() as db:
        locked = repository.lock_pool(db, pool_id)
        if locked is None:
            raise NotFound(f"pool {pool_id} not found")
        if given is not None:
            reserved = [reserve_given(db, deps.provider, locked, given, claim)]
        else:
            reserved = reserve(db, deps.provider, locked, offered, count, claim)
        if count_in_size:
            locked.size += len(reserved)
            locked.updated_at = clock.now()
    try:
        _buy(deps, reserved, claim)
    except ProviderError:
        if count_in_size:
            _set_size(deps, pool_id, None, shrink_by=len(reserved))
        raise
    return reserved


def _buy(deps: Deps, reserved: list[int], claim: str) -> None:
    buy(
        deps.database,
        deps.provider,
        reserved,
        claim,
        public_url=deps.public_url,
        all_or_nothing=True,
    )


def _release(deps: Deps, releasing: list[int], claim: str) -> None:
    """Numbers marked for release: out of the routing table first, then back to the carrier."""
    if not releasing:
        return
    _routing_changed(deps)
    finish_releases(deps.database, deps.provider, releasing, claim)


def _set_size(deps: Deps, pool_id: int, size: int | None, *, shrink_by: int = 0) -> None:
    """Undo a size change whose purchases failed."""
    with deps.database.session() as db:
        pool = db.get_one(Pool, pool_id)
        pool.size = size if size is not None else max(pool.size - shrink_by, 0)


def _pool_out(db: Session, pool: Pool) -> PoolOut:
    return _with_counts(pool, repository.tracker_counts(db, [pool.id])[pool.id])


def _with_counts(pool: Pool, counts: dict[str, int]) -> PoolOut:
    out = PoolOut.model_validate(pool)
    out.trackers = TrackerCounts(**counts)
    return out


def _rebalance(deps: Deps, pool_id: int) -> Outcome:
    """An operator's rebalance: a failed purchase raises (the request shows it); numbers it
    lets go leave the routing table before they go back to the carrier."""
    return rebalance_pool(
        deps.database,
        deps.provider,
        pool_id,
        public_url=deps.public_url,
        strict=True,
        routing_changed=lambda: _routing_changed(deps),
    )


def _routing_changed(deps: Deps) -> None:
    """The single place pools tell call routing that forward numbers may have changed."""
    refresh_routing(deps.database, deps.settings)
