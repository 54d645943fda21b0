"""The assignment engine's statements, built once (Core, not ORM: this is the hot path).

Every claim is one ``UPDATE … WHERE id = (SELECT … LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING``:

- PostgreSQL locks the chosen row and skips rows other transactions are claiming, and re-checks
  the ``WHERE`` on rows changed since the statement began, so two processes never claim one
  tracker. Without ``FOR UPDATE SKIP LOCKED`` both would pick the same first row.
- SQLite ignores ``FOR UPDATE``; there the caller's transaction began with ``BEGIN IMMEDIATE``
  (see ``callpool.db``), so it holds the database's write lock from its first statement on.

The lock taken is ``FOR NO KEY UPDATE``: the claim changes no key, so it need not wait for or
skip a tracker that another transaction only references (a lease or a call being inserted
takes a ``KEY SHARE`` lock on its tracker, which ``FOR UPDATE`` would conflict with).

Free means ``leased_until`` is null (never leased) or in the past: leases expire lazily, no job
has to sweep them. Only ``active`` trackers are handed out (see ``service.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Integer,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy import cast as cast_

from callpool.assignment.prepared import Prepared, Tx
from callpool.models import Lease, Pool, PoolEvent, Tracker
from callpool.models.base import UTCDateTime
from callpool.models.tracker import ACTIVE

trackers = cast(Table, Tracker.__table__)
leases = cast(Table, Lease.__table__)
pools = cast(Table, Pool.__table__)
pool_events = cast(Table, PoolEvent.__table__)

_now = bindparam("now", type_=UTCDateTime())
_until = bindparam("until", type_=UTCDateTime())

# The candidate is an alias: a subquery on the UPDATE's own table would be correlated to it.
_candidate = trackers.alias("candidate")
_in_service = and_(_candidate.c.pool_id == bindparam("pool"), _candidate.c.status == ACTIVE)
_free = or_(_candidate.c.leased_until.is_(None), _candidate.c.leased_until <= _now)


def _claim(candidate_id: Any) -> Prepared:
    """A claim writes the lease's end and the claiming address (hashed; null if unknown) on
    the tracker: how many numbers an address holds is then read from the pool's trackers."""
    return Prepared(
        update(trackers)
        .where(trackers.c.id == candidate_id)
        .values(leased_until=_until, holder=bindparam("holder"))
        .returning(trackers.c.id, trackers.c.number)
    )


# The visitor's previous number, if it is still in the pool, in service and free.
CLAIM_PREVIOUS = _claim(
    select(_candidate.c.id)
    .where(
        _in_service,
        _candidate.c.id == bindparam("previous_id"),
        _free,
    )
    .with_for_update(skip_locked=True, key_share=True)
    .scalar_subquery()
)

# Never-leased trackers come first ("free the longest"); an index lookup on (pool, status, null).
CLAIM_NEVER_LEASED = _claim(
    select(_candidate.c.id)
    .where(_in_service, _candidate.c.leased_until.is_(None))
    .limit(1)
    .with_for_update(skip_locked=True, key_share=True)
    .scalar_subquery()
)

# Then the one whose lease ended the longest ago: the first entry of the (pool, status,
# leased_until) index at or before now. Two statements rather than ``ORDER BY … NULLS FIRST``
# because PostgreSQL's index keeps nulls last and would have to sort the whole pool.
CLAIM_LEAST_RECENTLY_USED = _claim(
    select(_candidate.c.id)
    .where(_in_service, _candidate.c.leased_until <= _now)
    .order_by(_candidate.c.leased_until)
    .limit(1)
    .with_for_update(skip_locked=True, key_share=True)
    .scalar_subquery()
)

# PostgreSQL, before overflowing (see ``service._overflow``): any free tracker, waiting for the
# transactions that hold one. After a wait, PostgreSQL checks the row again and, if another
# transaction claimed it meanwhile, moves on to the next: so this finds a tracker that is
# free once the claims in flight have committed or rolled back, and only then none.
CLAIM_FREE_WAITING = _claim(
    select(_candidate.c.id)
    .where(_in_service, _free)
    .order_by(_candidate.c.leased_until.asc().nulls_first())
    .limit(1)
    .with_for_update(key_share=True)
    .scalar_subquery()
)

# PostgreSQL: one overflow decision at a time per pool (a transaction-level advisory lock,
# released at COMMIT). The key space is the pool id; nothing else in callpool takes these.
LOCK_POOL = Prepared(select(func.pg_advisory_xact_lock(bindparam("pool"))))

# The trackers of the pool an address (hashed) claimed and still holds: an index lookup on
# (pool, holder). A tracker another address claimed since has that address as its holder.
_held = and_(
    _in_service, _candidate.c.holder == bindparam("holder"), _candidate.c.leased_until > _now
)
_holds = select(func.count()).select_from(_candidate).where(_held).scalar_subquery()
ADDRESS_HOLDS = Prepared(select(literal(True), _holds))
# PostgreSQL: first a lock on (pool, address), without waiting, so that two transactions
# cannot both count N - 1 and both claim. Taken by a statement of its own: the count that
# follows then reads what the lock's last holder committed. ``ADDRESS_HOLDS_PG`` asks again
# (a transaction's advisory locks are re-entrant) to learn whether it got the lock.
_address_key = (cast_(bindparam("pool"), Integer), func.hashtext(bindparam("holder")))
TRY_LOCK_ADDRESS = Prepared(select(func.pg_try_advisory_xact_lock(*_address_key)))
ADDRESS_HOLDS_PG = Prepared(select(func.pg_try_advisory_xact_lock(*_address_key), _holds))
LOCK_ADDRESS = Prepared(select(func.pg_advisory_xact_lock(*_address_key)))

# A tracker shared by several sessions is busy until the last of them goes idle.
_later_end = case((trackers.c.leased_until < _until, _until), else_=trackers.c.leased_until)

# Overflow "reuse": share the tracker whose holder has been idle longest. No lock is skipped:
# sharing is the point, and the row lock of the UPDATE serializes concurrent sharers. On
# PostgreSQL it waits, so it runs only in a transaction of its own (``service._overflow``).
SHARE_IDLEST = Prepared(
    update(trackers)
    .where(
        trackers.c.id
        == select(_candidate.c.id)
        .where(_in_service)
        .order_by(_candidate.c.leased_until)
        .limit(1)
        .scalar_subquery()
    )
    .values(leased_until=_later_end)
    .returning(trackers.c.id, trackers.c.number)
)

# An address at its limit: its new session shares the number it has held idle the longest.
SHARE_OWN = Prepared(
    update(trackers)
    .where(
        trackers.c.id
        == select(_candidate.c.id)
        .where(_held)
        .order_by(_candidate.c.leased_until)
        .limit(1)
        .scalar_subquery()
    )
    .values(leased_until=_later_end)
    .returning(trackers.c.id, trackers.c.number)
)

INSERT_POOL_EVENT = Prepared(insert(pool_events), ["pool_id", "kind", "at", "detail"])

INSERT_LEASE = Prepared(
    insert(leases), ["tracker_id", "session_id", "started_at", "leased_until", "shared"]
)

LIVE_LEASES = Prepared(
    select(
        leases.c.id,
        leases.c.tracker_id,
        trackers.c.pool_id,
        trackers.c.number,
        pools.c.lease_minutes,
    )
    .join(trackers, trackers.c.id == leases.c.tracker_id)
    .join(pools, pools.c.id == trackers.c.pool_id)
    .where(
        leases.c.session_id == bindparam("session"),
        # Live, or ended with the tracker untouched since: no one else has had it.
        or_(leases.c.leased_until > _now, trackers.c.leased_until == leases.c.leased_until),
    )
    .order_by(leases.c.id)
)

EXTEND_LEASE = Prepared(
    update(leases).where(leases.c.id == bindparam("lease")).values(leased_until=_until)
)
EXTEND_TRACKER = Prepared(
    update(trackers).where(trackers.c.id == bindparam("tracker")).values(leased_until=_later_end)
)


def claim(
    tx: Tx,
    statement: Prepared,
    *,
    pool_id: int,
    until: datetime,
    holder: str | None = None,
    **params: Any,
) -> tuple[int, str] | None:
    """Run one of the claim statements; the claimed tracker's ``(id, number)`` or ``None``.

    ``holder``: the claiming address (hashed), or the address whose number is shared."""
    row = statement.first(tx, {"pool": pool_id, "until": until, "holder": holder, **params})
    return None if row is None else (row[0], row[1])


def lock_pool(tx: Tx, pool_id: int) -> None:
    LOCK_POOL.rows(tx, {"pool": pool_id})


def address_holds(tx: Tx, pool_id: int, holder: str, now: datetime) -> int | None:
    """How many trackers of the pool ``holder`` holds; on PostgreSQL ``None`` if another
    transaction is claiming for the same address in this pool (see ``TRY_LOCK_ADDRESS``)."""
    values = {"pool": pool_id, "holder": holder, "now": now}
    if tx.pipeline is None:
        statement = ADDRESS_HOLDS
    else:
        TRY_LOCK_ADDRESS.send(tx, values)
        statement = ADDRESS_HOLDS_PG
    row = statement.first(tx, values)
    assert row is not None
    return int(row[1]) if row[0] else None


def lock_address(tx: Tx, pool_id: int, holder: str) -> None:
    """PostgreSQL: wait for the lock on (pool, address)."""
    LOCK_ADDRESS.rows(tx, {"pool": pool_id, "holder": holder})


def insert_lease(
    tx: Tx,
    *,
    tracker_id: int,
    session_id: str,
    started_at: datetime,
    leased_until: datetime,
    shared: bool,
) -> None:
    values = {
        "tracker_id": tracker_id,
        "session_id": session_id,
        "started_at": started_at,
        "leased_until": leased_until,
        "shared": shared,
    }
    INSERT_LEASE.send(tx, values)


def insert_pool_event(
    tx: Tx, *, pool_id: int, kind: str, at: datetime, detail: dict[str, Any]
) -> None:
    INSERT_POOL_EVENT.send(tx, {"pool_id": pool_id, "kind": kind, "at": at, "detail": detail})


def live_leases(tx: Tx, session_id: str, now: datetime) -> list[tuple[int, int, int, str, int]]:
    """The session's leases that have not ended, or whose tracker no one has leased since they
    ended: ``(id, tracker_id, pool_id, number, minutes)``."""
    return [
        (row[0], row[1], row[2], row[3], row[4])
        for row in LIVE_LEASES.rows(tx, {"session": session_id, "now": now})
    ]


def extend(tx: Tx, *, lease_id: int, tracker_id: int, until: datetime) -> None:
    EXTEND_LEASE.send(tx, {"lease": lease_id, "until": until})
    EXTEND_TRACKER.send(tx, {"tracker": tracker_id, "until": until})
