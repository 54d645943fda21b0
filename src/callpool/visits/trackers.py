"""The statements that hand out trackers, built once (Core, not ORM: this is the hot path).

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
has to sweep them. Only ``active`` trackers are handed out (see ``claim.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Integer,
    Select,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    null,
    or_,
    select,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement

from callpool.models import Lease, Pool, PoolEvent, Tracker
from callpool.models.base import UTCDateTime
from callpool.models.tracker import ACTIVE, free_clause
from callpool.visits.sql import Prepared, Tx

trackers = cast(Table, Tracker.__table__)
leases = cast(Table, Lease.__table__)
pools = cast(Table, Pool.__table__)
pool_events = cast(Table, PoolEvent.__table__)

_now = bindparam("now", type_=UTCDateTime())
_until = bindparam("until", type_=UTCDateTime())

# The candidate is an alias: a subquery on the UPDATE's own table would be correlated to it.
_candidate = trackers.alias("candidate")
_in_service = and_(_candidate.c.pool_id == bindparam("pool"), _candidate.c.status == ACTIVE)
_free = free_clause(_candidate.c.leased_until, _now)


class _Unindexed(ColumnElement[Any]):
    """A column SQLite must not look up by index (``+column``, its documented way to say so).

    Without statistics SQLite's planner prefers (pool, status, leased_until) to (pool, holder)
    for the statements below, and then reads every live lease of the pool, thousands of rows
    a visit, instead of the address's few. PostgreSQL chooses by its statistics.
    """

    inherit_cache = True

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(_Unindexed)
def _plain(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(_Unindexed, "sqlite")
def _unary_plus(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.column, **kw)


# The trackers of the pool an address (hashed) claimed and still holds: an index lookup on
# (pool, holder). A tracker another address claimed since has that address as its holder.
_holding = trackers.alias("holding")
_held = and_(
    _holding.c.pool_id == bindparam("pool"),
    _holding.c.holder == bindparam("holder"),
    _Unindexed(_holding.c.status) == ACTIVE,
    _Unindexed(_holding.c.leased_until) > _now,
)
_holds = select(func.count()).select_from(_holding).where(_held).scalar_subquery()

# PostgreSQL: a lock on (pool, address), so that two transactions cannot both count N - 1
# and both claim. ``TRY_LOCK_ADDRESS`` (in a batch: it must not wait) or ``LOCK_ADDRESS`` (in
# a transaction of its own) goes first, as a statement of its own: the count in the claim
# that follows then reads what the lock's previous holder committed. The claim asks again
# (a transaction's advisory locks are re-entrant) to learn whether it holds it.
_address_key = (cast_(bindparam("pool"), Integer), func.hashtext(bindparam("holder")))
TRY_LOCK_ADDRESS = Prepared(select(func.pg_try_advisory_xact_lock(*_address_key)))
LOCK_ADDRESS = Prepared(select(func.pg_advisory_xact_lock(*_address_key)))


class _HoldsAddressLock(ColumnElement[bool]):
    """Whether this transaction holds the lock on (pool, address); SQLite's write lock is
    held by then anyway."""

    inherit_cache = True
    type = Boolean()


@compiles(_HoldsAddressLock)
def _try_lock(_element: _HoldsAddressLock, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(func.pg_try_advisory_xact_lock(*_address_key), **kw)


@compiles(_HoldsAddressLock, "sqlite")
def _locked_anyway(_element: _HoldsAddressLock, _compiler: SQLCompiler, **_kw: Any) -> str:
    return "1"


# A recording claim's gate: the address holds fewer than ``cap`` recorded numbers, and (on
# PostgreSQL) its lock. A scalar subquery, so that it is evaluated once, before any candidate
# row is read or locked. When it is closed, ``address_holds`` says why.
_address_may_claim = select(
    and_(_HoldsAddressLock(), _holds < bindparam("cap", type_=Integer()))
).scalar_subquery()
ADDRESS_HOLDS = Prepared(select(_HoldsAddressLock(), _holds))
CLEAR_HOLDER = Prepared(
    # null(), not None: a literal None becomes a parameter named after the column, which
    # the prepared statement is never given.
    update(trackers).where(trackers.c.id == bindparam("tracker")).values(holder=null())
)


@dataclass(frozen=True, slots=True)
class ClaimStatement:
    """One way of choosing a tracker, in two forms (see ``claim.claim``).

    ``recording`` claims only if the address may (``_address_may_claim``) and writes it on
    the tracker as its holder. ``plain`` does neither: the tracker's holder column (and its
    index, a random page per write) stays as it is, which is the common case, or is cleared
    afterwards if it named an earlier holder (``CLEAR_HOLDER``). Both write the lease's end.
    """

    recording: Prepared
    plain: Prepared


def _claim(candidate: Select[Any]) -> ClaimStatement:
    def claiming(chosen: Select[Any], **values: Any) -> Prepared:
        return Prepared(
            update(trackers)
            .where(trackers.c.id == chosen.scalar_subquery())
            .values(leased_until=_until, **values)
            .returning(trackers.c.id, trackers.c.number, trackers.c.holder)
        )

    return ClaimStatement(
        recording=claiming(candidate.where(_address_may_claim), holder=bindparam("holder")),
        plain=claiming(candidate),
    )


# The visitor's previous number, if it is still in the pool, in service and free.
CLAIM_PREVIOUS = _claim(
    select(_candidate.c.id)
    .where(_in_service, _candidate.c.id == bindparam("previous_id"), _free)
    .with_for_update(skip_locked=True, key_share=True)
)

# Never-leased trackers come first ("free the longest"); an index lookup on (pool, status, null).
CLAIM_NEVER_LEASED = _claim(
    select(_candidate.c.id)
    .where(_in_service, _candidate.c.leased_until.is_(None))
    .limit(1)
    .with_for_update(skip_locked=True, key_share=True)
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
)

# PostgreSQL, before overflowing (see ``claim._overflow``): any free tracker, waiting for the
# transactions that hold one. After a wait, PostgreSQL checks the row again and, if another
# transaction claimed it meanwhile, moves on to the next: so this finds a tracker that is
# free once the claims in flight have committed or rolled back, and only then none.
CLAIM_FREE_WAITING = _claim(
    select(_candidate.c.id)
    .where(_in_service, _free)
    .order_by(_candidate.c.leased_until.asc().nulls_first())
    .limit(1)
    .with_for_update(key_share=True)
)

# PostgreSQL: one overflow decision at a time per pool (a transaction-level advisory lock,
# released at COMMIT). The key space is the pool id; nothing else in callpool takes these.
LOCK_POOL = Prepared(select(func.pg_advisory_xact_lock(bindparam("pool"))))

# A tracker shared by several sessions is busy until the last of them goes idle.
_later_end = case((trackers.c.leased_until < _until, _until), else_=trackers.c.leased_until)

# Overflow "reuse": share the tracker whose holder has been idle longest. No lock is skipped:
# sharing is the point, and the row lock of the UPDATE serializes concurrent sharers. On
# PostgreSQL it waits, so it runs only in a transaction of its own (``claim._overflow``).
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
        == select(_holding.c.id)
        .where(_held)
        .order_by(_Unindexed(_holding.c.leased_until))
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

# Source-level pools (automated, manual): the active tracker of a source/medium, newest first.
ACTIVE_FOR_SOURCE = Prepared(
    select(trackers.c.id, trackers.c.number)
    .where(
        trackers.c.pool_id == bindparam("pool"),
        trackers.c.status == ACTIVE,
        trackers.c.source == bindparam("source"),
        trackers.c.medium == bindparam("medium"),
    )
    .order_by(trackers.c.activated_at.desc(), trackers.c.id.desc())
    .limit(1)
)


def claim(
    tx: Tx,
    statement: ClaimStatement,
    *,
    record: bool,
    pool_id: int,
    until: datetime,
    now: datetime,
    holder: str | None = None,
    cap: int = 0,
    **params: Any,
) -> tuple[int, str] | None:
    """Run one of the claim statements; the claimed tracker's ``(id, number)`` or ``None``.

    ``record``: count the claim against ``holder`` (the claiming address, hashed), which may
    hold ``cap`` recorded numbers of the pool."""
    values = {"pool": pool_id, "until": until, "now": now, "holder": holder, "cap": cap}
    row = (statement.recording if record else statement.plain).first(tx, {**values, **params})
    if row is None:
        return None
    if not record and row[2] is not None:
        CLEAR_HOLDER.send(tx, {"tracker": row[0]})
    return row[0], row[1]


def share(
    tx: Tx, statement: Prepared, *, pool_id: int, until: datetime, now: datetime, **params: Any
) -> tuple[int, str] | None:
    """Run ``SHARE_IDLEST`` or ``SHARE_OWN``: the shared tracker's ``(id, number)`` or ``None``."""
    row = statement.first(tx, {"pool": pool_id, "until": until, "now": now, **params})
    return None if row is None else (row[0], row[1])


def lock_pool(tx: Tx, pool_id: int) -> None:
    LOCK_POOL.rows(tx, {"pool": pool_id})


def lock_address(tx: Tx, pool_id: int, holder: str, *, wait: bool) -> None:
    """PostgreSQL: take the lock on (pool, address) before the claims that count on it; with
    ``wait`` false only if it is free. Queued with the next statement: no round trip."""
    statement = LOCK_ADDRESS if wait else TRY_LOCK_ADDRESS
    statement.send(tx, {"pool": pool_id, "holder": holder})


def address_holds(tx: Tx, pool_id: int, holder: str, now: datetime) -> int | None:
    """How many trackers of the pool ``holder`` holds; ``None`` on PostgreSQL if another
    transaction holds the lock on (pool, address)."""
    row = ADDRESS_HOLDS.first(tx, {"pool": pool_id, "holder": holder, "now": now})
    assert row is not None
    return int(row[1]) if row[0] else None


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


def offer_for_source(tx: Tx, pool_id: int, source: str, medium: str) -> tuple[int, str] | None:
    """``(tracker id, number)`` of the active tracker serving ``source``/``medium`` in the pool,
    or None. No lease is taken: calls to a source-level tracker are attributed by its
    assignment history, not by sessions."""
    row = ACTIVE_FOR_SOURCE.first(tx, {"pool": pool_id, "source": source, "medium": medium})
    return None if row is None else (int(row[0]), str(row[1]))
