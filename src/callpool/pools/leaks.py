"""What an operator does about a leaked session-pool number (issue 15, item 4).

A number that keeps getting calls nobody was shown it for has been copied somewhere (a print
ad, a directory, a contact list). Handing it to visitors blurs their attribution with those
callers, so it leaves the session pool in one of two ways:

- **retire**: it goes ``retiring`` at once: never handed to a visitor again, but still routed
  (its callers still reach the business) and recorded. Its calls attribute as any session-pool
  call does, so a visitor shown it just before still gets theirs; later ones find no lease and
  stay unattributed. The worker releases it once it has had no call for ``quiet_days``
  (``release_quiet_numbers``), through the usual releasing flow.
- **move to a manual pool**: it keeps its number (no carrier call) and becomes a fixed source
  (``offline / print`` by default) of a manual pool of the same site, so its later calls are
  credited to that source. Its leases and earlier calls stay as they were.

Either way the session pool gets a replacement through the provisioning flow, so it keeps its
size: a number is searched for first (no transaction open), then the change and the
replacement's reservation commit together, then the carrier is asked. A slow or failing carrier
leaves the replacement ``provisioning``, which the worker's carrier job finishes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from callpool import clock
from callpool.calls.repository import last_call_at
from callpool.calls.routing import refresh_routing
from callpool.db import Database
from callpool.errors import Conflict, Invalid
from callpool.models import Call, Pool, PoolEvent, Tracker
from callpool.models.pool import MANUAL, SESSION
from callpool.models.tracker import (
    ACTIVE,
    PROVISIONING,
    RELEASED,
    RELEASING,
    RETIRING,
    retirement_ends,
)
from callpool.pools import repository
from callpool.pools.assignments import open_assignment
from callpool.pools.provisioning import buy, finish_releases, new_claim, reserve, search
from callpool.pools.schemas import MoveToManual
from callpool.pools.service import Deps, require_unserved
from callpool.settings import Settings
from callpool.telephony.base import Provider


@dataclass(frozen=True)
class LeakOutcome:
    tracker: Tracker
    replacement: Tracker | None


# A check of a session pool's tracker and what the action asks, run before the carrier is
# asked (a refusal answers at once) and again in the transaction that makes the change.
Check = Callable[[Session, Pool, Tracker], None]
# The change itself, in the transaction that reserves the replacement.
Change = Callable[[Session, Pool, Tracker], None]


def retire(
    deps: Deps, account_id: int, pool_id: int, tracker_id: int, quiet_days: int
) -> LeakOutcome:
    """Retire a session-pool number and buy its replacement."""

    def check(db: Session, pool: Pool, tracker: Tracker) -> None:
        _require_in_session_pool(pool, tracker, "retire")
        if tracker.status == RETIRING:
            raise Conflict(f"{tracker.number} is already retiring")

    def change(db: Session, pool: Pool, tracker: Tracker) -> None:
        tracker.status, tracker.retired_at, tracker.quiet_days = RETIRING, clock.now(), quiet_days
        # The visitor shown it now keeps it until their lease ends: their call still
        # attributes by it, and no new visitor gets it (only active trackers are handed out).
        _event(db, pool, "retired", tracker, quiet_days=quiet_days)

    return _with_replacement(deps, account_id, pool_id, tracker_id, check, change)


def cancel_retirement(deps: Deps, account_id: int, pool_id: int, tracker_id: int) -> Tracker:
    """Put a retiring number back in service. Its replacement stays too: the pool grows by
    one, which the operator can lower again (the size's usual way of releasing numbers)."""
    with deps.database.session() as db:
        pool = repository.get_pool(db, account_id, pool_id, lock=True)
        tracker = repository.get_tracker(db, account_id, pool_id, tracker_id)
        if tracker.status != RETIRING:
            raise Conflict(f"{tracker.number} is not retiring (it is {tracker.status})")
        tracker.status, tracker.retired_at, tracker.quiet_days = ACTIVE, None, None
        pool.size += 1
        pool.updated_at = clock.now()
        _event(db, pool, "retirement_cancelled", tracker)
    refresh_routing(deps.database, deps.settings)
    return tracker


def move_to_manual(
    deps: Deps, account_id: int, pool_id: int, tracker_id: int, data: MoveToManual
) -> LeakOutcome:
    """Move a session-pool number into a manual pool of the same site as a fixed source. A
    retiring number may be moved too: its replacement was bought when it was retired."""

    def check(db: Session, pool: Pool, tracker: Tracker) -> None:
        _require_in_session_pool(pool, tracker, "move")
        if data.pool_id is not None:  # a new pool serves nothing yet
            target = _existing_target(db, account_id, pool, data.pool_id)
            require_unserved(db, target, (data.source, data.medium), tracker)

    def change(db: Session, pool: Pool, tracker: Tracker) -> None:
        target = (
            _new_manual_pool(db, account_id, pool, data.new_pool_name)
            if data.pool_id is None
            else _existing_target(db, account_id, pool, data.pool_id)
        )
        now = clock.now()
        tracker.pool_id = target.id
        tracker.status, tracker.retired_at, tracker.quiet_days = ACTIVE, None, None
        tracker.leased_until = tracker.holder = None
        tracker.source, tracker.medium = data.source, data.medium
        tracker.original_number = target.original_number  # fixed at activation (FAQ)
        tracker.activated_at = now
        target.size += 1  # its rebalance keeps the number
        target.updated_at = now
        open_assignment(db, tracker, now)  # from now on its calls are this source's
        _event(db, pool, "moved_to_manual", tracker, to_pool_id=target.id)

    return _with_replacement(deps, account_id, pool_id, tracker_id, check, change)


# -- the worker ----------------------------------------------------------------------------


def release_quiet_numbers(database: Database, provider: Provider, settings: Settings) -> int:
    """Release the retiring numbers whose quiet period is over; returns how many were taken.

    Each is claimed by one conditional UPDATE that checks again, in the database, that no
    call came since the quiet period began: several workers take each number once, and a
    call recorded meanwhile keeps it. Then routing forgets them and the carrier is asked
    (``finish_releases``); a release the carrier fails stays ``releasing`` for the carrier job.
    """
    now = clock.now()
    claim = new_claim()
    with database.reader() as db:
        due = [
            (tracker_id, quiet_days)
            for tracker_id, retired_at, quiet_days, last_call in _retiring(db)
            if retirement_ends(retired_at, quiet_days, last_call) <= now
        ]
    taken = [tracker_id for tracker_id, days in due if _take(database, tracker_id, days, claim)]
    if taken:
        refresh_routing(database, settings)
        finish_releases(database, provider, taken, claim)
    return len(taken)


def quiet_release_job(database: Database, settings: Settings, provider: Provider) -> int:
    """The worker's job (``callpool.worker.Job``)."""
    return release_quiet_numbers(database, provider, settings)


def _retiring(db: Session) -> list[tuple[int, datetime, int, datetime | None]]:
    """(id, retired at, quiet days, last call) of every retiring number: install-wide, the
    worker serves every account. Few rows: only numbers an operator retired."""
    last_call = last_call_at()
    rows = db.execute(
        select(Tracker.id, Tracker.retired_at, Tracker.quiet_days, last_call)
        .where(Tracker.status == RETIRING)
        .order_by(Tracker.id)
    )
    return [(row[0], row[1], row[2] or 0, row[3]) for row in rows if row[1] is not None]


def _take(database: Database, tracker_id: int, quiet_days: int, claim: str) -> bool:
    now = clock.now()
    quiet_since = now - timedelta(days=quiet_days)
    with database.session() as db:
        called = exists().where(Call.tracker_id == tracker_id, Call.started_at > quiet_since)
        result = db.execute(
            update(Tracker)
            .where(
                Tracker.id == tracker_id,
                Tracker.status == RETIRING,
                Tracker.retired_at <= quiet_since,
                ~called,
            )
            .values(
                status=RELEASING,
                leased_until=None,
                claimed_by=claim,
                claimed_at=now,
                attempts=0,
                last_error=None,
            )
        )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


# -- helpers -------------------------------------------------------------------------------


def _with_replacement(
    deps: Deps, account_id: int, pool_id: int, tracker_id: int, check: Check, change: Change
) -> LeakOutcome:
    """``check``, search the carrier for a replacement, then commit ``change`` with the
    replacement reserved, and buy it with no transaction open. Only an active number needs a
    replacement: a retiring one got its own when it was retired."""
    with deps.database.reader() as db:  # a refusal answers before the carrier is asked
        pool = repository.get_pool(db, account_id, pool_id)
        tracker = repository.get_tracker(db, account_id, pool_id, tracker_id)
        check(db, pool, tracker)
        replace = tracker.status == ACTIVE
    offered = (
        search(
            deps.database,
            deps.provider,
            area_code=pool.area_code,
            toll_free=pool.toll_free,
            count=1,
        )
        if replace
        else []
    )
    claim = new_claim()
    with deps.database.session() as db:
        pool = repository.get_pool(db, account_id, pool_id, lock=True)
        tracker = repository.get_tracker(db, account_id, pool_id, tracker_id)
        check(db, pool, tracker)
        replace = tracker.status == ACTIVE
        if replace and not offered:  # put back in service meanwhile: nothing searched for it
            raise Conflict(f"{tracker.number} changed meanwhile: try again")
        change(db, pool, tracker)
        pool.updated_at = clock.now()
        reserved = reserve(db, deps.provider, pool, offered, 1, claim) if replace else []
    refresh_routing(deps.database, deps.settings)
    if reserved:
        # Like the worker's purchases: a carrier failure leaves the row ``provisioning`` for
        # the carrier job rather than undoing the operator's decision, already committed.
        buy(
            deps.database,
            deps.provider,
            reserved,
            claim,
            public_url=deps.public_url,
            all_or_nothing=False,
        )
        refresh_routing(deps.database, deps.settings)
    with deps.database.reader() as db:
        return LeakOutcome(
            tracker=db.get_one(Tracker, tracker_id),
            replacement=db.get(Tracker, reserved[0]) if reserved else None,
        )


def _require_in_session_pool(pool: Pool, tracker: Tracker, action: str) -> None:
    if pool.kind != SESSION:
        raise Conflict(
            f"only session-pool numbers are retired or moved; pool {pool.name!r} is {pool.kind} "
            "(flag or release its trackers instead)"
        )
    if tracker.status in (RELEASED, RELEASING):
        raise Conflict(f"cannot {action} {tracker.number}: it is already released")
    if tracker.status == PROVISIONING:
        raise Conflict(f"cannot {action} {tracker.number}: it is still being bought")
    if tracker.status not in (ACTIVE, RETIRING):
        raise Conflict(f"cannot {action} {tracker.number}: it is {tracker.status}")


def _existing_target(db: Session, account_id: int, pool: Pool, target_id: int) -> Pool:
    """A manual pool of ``pool``'s site (the account's own: another's is "not on this site")."""
    target = db.scalar(
        select(Pool).where(
            Pool.id == target_id,
            Pool.account_id == account_id,
            Pool.site_id == pool.site_id,
            Pool.deleted_at.is_(None),
        )
    )
    if target is None:
        raise Invalid(f"no pool {target_id} on this pool's site", field="pool_id")
    if target.kind != MANUAL:
        raise Invalid(
            f"pool {target.name!r} is {target.kind}: numbers move into manual pools only",
            field="pool_id",
        )
    return target


def _new_manual_pool(db: Session, account_id: int, pool: Pool, name: str) -> Pool:
    """A manual pool of the session pool's site that forwards to the same business number,
    holding no number yet (the moved one comes in)."""
    now = clock.now()
    target = Pool(
        account_id=account_id,
        site_id=pool.site_id,
        name=name,
        kind=MANUAL,
        original_number=pool.original_number,
        area_code=pool.area_code,
        toll_free=pool.toll_free,
        size=0,
        record_calls=pool.record_calls,
        whisper=pool.whisper,
        rules={},
        created_at=now,
        updated_at=now,
    )
    db.add(target)
    db.flush()
    return target


def _event(db: Session, pool: Pool, kind: str, tracker: Tracker, **detail: object) -> None:
    db.add(
        PoolEvent(
            pool_id=pool.id,
            kind=kind,
            at=clock.now(),
            detail={"tracker_id": tracker.id, "number": tracker.number, **detail},
        )
    )
