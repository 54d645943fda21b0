"""Session-level DNI: which tracker a visit gets from a session pool, and for how long.

The rules (DESIGN.md "Session pools"):

- A tracker is free when its lease has ended (``leased_until`` null or not after now). Nothing
  sweeps expired leases; a claim simply treats them as free.
- Only ``active`` trackers are handed out. The pool service creates session-pool trackers
  ``active``; ``available`` there means "bought, not in service yet" and ``flagged`` means
  "being retired": such trackers keep routing and attributing calls but get no new visitors.
  ``released`` trackers are gone. One status also keeps the LRU choice a single index range.
- Choice: the visitor's previous tracker if it is free, else the one free the longest (never
  leased first, then the oldest ``leased_until``).
- A lease lasts ``pool.lease_minutes`` after the last activity; pageviews and heartbeats extend
  it. Each assignment adds a ``Lease`` row (kept forever: calls are attributed by it); the
  claim itself writes the lease's end on the tracker, so the next choice reads one table.
- No tracker free: the pool's overflow policy decides (``reuse``: share the tracker whose holder
  has been idle longest, the lease is marked ``shared``; ``fallback``: show the pool's overflow
  number; ``original``: no swap), and a ``PoolEvent("exhausted")`` is recorded either way.

Everything here runs inside the caller's write transaction: the claim, the session rows and the
lease commit together or not at all.

Overflow on PostgreSQL, with several processes, without deadlocks or needless sharing. The
claims skip trackers other transactions hold (``SKIP LOCKED``): they never wait, so they can
never be part of a deadlock, but "nothing found" may only mean "every free tracker is being
claimed, or held by a transaction that will roll back". Deciding to share (or to show the
fallback or original number) needs the truth, so it waits: for the pool's advisory lock (one
overflow decision at a time per pool), then for the row lock of every tracker that is free
(``CLAIM_FREE_WAITING``), and shares (``SHARE_IDLEST``, a wait for the idlest row) only if none
is. Waiting is safe only in a transaction that holds no other row locks: a group commit's batch
holds the trackers its earlier units claimed, and two batches each waiting for a row the other
holds was the deadlock. So in a batch (``Tx.alone`` false) an exhausted pool raises
``MustWait``: the unit is rolled back to its savepoint and run again after the batch, in a
transaction of its own, where it may wait. There it holds at most the trackers it claimed
before (free ones, which no one else waits for: claims skip them and nobody extends a lease on
a free tracker) and the pool locks, taken in the order of the visit's pools. The lease and the
"exhausted" event are dated after the waits: every tracker was then leased. SQLite has one
writer at a time: its claims see everything and never wait, so it overflows in place.

What still waits in a batch: extending leases (``extend_session``) updates trackers that are
leased, so never one a claim holds; only two batches extending the same shared trackers in
opposite orders could deadlock. PostgreSQL then ends one of them, and its units run again,
each alone (``callpool.visits.group_commit``), rather than failing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from callpool import clock
from callpool.visits import trackers
from callpool.visits.sql import Tx

REUSE, FALLBACK, ORIGINAL = "reuse", "fallback", "original"
EXHAUSTED = "exhausted"
CAPPED = "capped"  # an address at its limit of numbers in a pool: see ``_own_number``
# A new lease lasts this long (or the pool's lease, if shorter) until the visit shows it has a
# visible page: a heartbeat (sent only while the page is visible), a second pageview or a
# click extends it to the full lease (``extend_session``). A script that only posts visits
# then holds each number for two minutes, not thirty. Two minutes leave a visible page time
# for two heartbeats (the snippet sends one every 45 s at most: ``visits.site_cache``), so one
# lost heartbeat does not cost a real visitor the number; and the snippet is told the
# provisional end, so it asks again rather than keep showing a number that may be gone.
PROVISIONAL = timedelta(minutes=2)
HEARTBEAT_MAX_SECONDS = 45


def heartbeat_seconds(lease_minutes: int) -> int:
    """How often the snippet sends heartbeats where the shortest lease lasts ``lease_minutes``:
    several per lease, so a throttled background timer cannot let it lapse, and at least two
    before a new lease's provisional end (``PROVISIONAL``)."""
    return max(30, min(HEARTBEAT_MAX_SECONDS, lease_minutes * 60 // 6))


class MustWait(Exception):
    """A pool is exhausted in a transaction that may not wait for locks (a group commit's
    batch on PostgreSQL): run the unit again in a transaction of its own (``Tx.alone``)."""

    def __init__(self, pool_id: int) -> None:
        super().__init__(f"pool {pool_id} is exhausted: its overflow is decided alone")


@dataclass(frozen=True, slots=True)
class SessionPool:
    """What the engine needs to know about a pool of kind ``session``."""

    id: int
    lease_minutes: int = 30
    overflow_policy: str = REUSE
    overflow_number: str | None = None
    max_per_address: int = 3  # live numbers one client address may hold; 0: no limit

    def lease_end(self, now: datetime) -> datetime:
        return now + timedelta(minutes=self.lease_minutes)

    def provisional_end(self, now: datetime) -> datetime:
        return min(now + PROVISIONAL, self.lease_end(now))


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of asking a pool for a number.

    ``number`` is ``None`` when the visit keeps the original number (policy ``original``, or a
    pool with no tracker in service). ``tracker_id`` is ``None`` when no lease is taken.
    """

    pool_id: int
    number: str | None
    tracker_id: int | None = None
    leased_until: datetime | None = None
    shared: bool = False
    overflow: str | None = None  # the policy applied when the pool was exhausted
    started_at: datetime | None = None  # when the lease starts, if not at the visit's time
    # What the lease becomes once the page is seen (``PROVISIONAL``): what the snippet is told.
    seen_until: datetime | None = None


def claim(
    tx: Tx,
    pool: SessionPool,
    *,
    previous_tracker_id: int | None,
    now: datetime,
    address: str | None = None,
    repeat: bool = True,
) -> Claim:
    """Take a tracker of ``pool`` for a new (provisional) lease starting ``now`` (see
    ``record_lease``), for a visit from ``address`` (hashed; None if unknown), which has
    (``repeat``) or has not started a session in this process before.

    Numbers per address. Counting them costs a write to an index on (pool, address), a page
    picked at random by the address's hash: at full load that was a third more written to
    SQLite's log per visit, and a third fewer visits a second. So only claims that may matter
    are recorded: an address's first session in this app process is not (nearly every
    visitor's only one); its further ones are, each in the statement that claims
    (``trackers.ClaimStatement``), and only while the address holds fewer than
    ``max_per_address - 1`` recorded numbers. An address at its limit shares its own
    (``_own_number``). An address holds at most ``max_per_address`` numbers then, plus one
    for each further app process it reaches (whose first session from it is not recorded).
    On PostgreSQL the count holds a lock on (pool, address), taken first; in a group commit's
    batch only if it is free (``MustWait`` otherwise, as for overflow: the unit runs again in
    a transaction of its own, which waits for it).
    """
    until = pool.provisional_end(now)
    record = address is not None and pool.max_per_address > 0 and repeat
    if record and tx.pipeline is not None:
        assert address is not None
        trackers.lock_address(tx, pool.id, address, wait=tx.alone)
    take = partial(
        trackers.claim,
        tx,
        pool_id=pool.id,
        until=until,
        now=now,
        holder=address,
        cap=pool.max_per_address - 1,
    )
    row = _free_tracker(partial(take, record=record), previous_tracker_id)
    if row is None and record:  # the pool is exhausted, or the address at its limit
        assert address is not None
        at_limit, own = _own_number(tx, pool, address, until=until, now=now)
        if own is not None:
            return own
        if at_limit:  # its one number was its first, unrecorded (a limit of 1): one more
            row = _free_tracker(partial(take, record=False), previous_tracker_id)
    if row is not None:
        tracker_id, number = row
        return Claim(pool.id, number, tracker_id, until, seen_until=pool.lease_end(now))
    return _overflow(tx, pool, partial(take, record=record), until=until, now=now)


def _free_tracker(
    take: Callable[..., tuple[int, str] | None], previous_tracker_id: int | None
) -> tuple[int, str] | None:
    """The visitor's previous tracker if it is free, else the one free the longest."""
    row = None
    if previous_tracker_id is not None:
        row = take(trackers.CLAIM_PREVIOUS, previous_id=previous_tracker_id)
    if row is None:
        row = take(trackers.CLAIM_NEVER_LEASED)
    if row is None:
        row = take(trackers.CLAIM_LEAST_RECENTLY_USED)
    return row


def _own_number(
    tx: Tx, pool: SessionPool, address: str, *, until: datetime, now: datetime
) -> tuple[bool, Claim | None]:
    """Whether the address is at its limit and, if it is, a share of its own recorded number
    idle the longest: never another visitor's, so a few clients cannot drain a pool."""
    held = trackers.address_holds(tx, pool.id, address, now)
    if held is None:  # PostgreSQL: another transaction holds the lock on (pool, address)
        raise MustWait(pool.id)
    if held < pool.max_per_address - 1:
        return False, None
    row = trackers.share(
        tx, trackers.SHARE_OWN, pool_id=pool.id, until=until, now=now, holder=address
    )
    if row is None:
        return True, None
    trackers.insert_pool_event(
        tx, pool_id=pool.id, kind=CAPPED, at=now, detail={"address": address[:16]}
    )
    seen_until = pool.lease_end(now)
    return True, Claim(pool.id, row[1], row[0], until, True, CAPPED, seen_until=seen_until)


def _overflow(
    tx: Tx,
    pool: SessionPool,
    take: Callable[..., tuple[int, str] | None],
    *,
    until: datetime,
    now: datetime,
) -> Claim:
    """No free tracker, or none the claims could see: the pool's overflow policy. ``take``
    claims as ``claim`` did (for the same address, recorded or not)."""
    if tx.pipeline is not None:  # PostgreSQL: see the module's note
        if not tx.alone:
            raise MustWait(pool.id)
        trackers.lock_pool(tx, pool.id)
        row = take(trackers.CLAIM_FREE_WAITING)
        if row is not None:
            return Claim(pool.id, row[1], row[0], until, seen_until=pool.lease_end(now))
        now = clock.now()  # after the waits: what was claimed meanwhile has a lease by now
        until = pool.provisional_end(now)
    policy = pool.overflow_policy
    outcome = Claim(pool.id, None, overflow=policy)
    if policy == REUSE:
        row = trackers.share(tx, trackers.SHARE_IDLEST, pool_id=pool.id, until=until, now=now)
        if row is not None:
            tracker_id, number = row
            outcome = Claim(
                pool.id,
                number,
                tracker_id,
                until,
                shared=True,
                overflow=policy,
                started_at=now,
                seen_until=pool.lease_end(now),
            )
    elif policy == FALLBACK:
        # Without an overflow number, falling back can only mean the original number.
        outcome = Claim(pool.id, pool.overflow_number, overflow=policy)
    trackers.insert_pool_event(
        tx,
        pool_id=pool.id,
        kind=EXHAUSTED,
        at=now,
        detail={"policy": policy, "shared_tracker_id": outcome.tracker_id},
    )
    return outcome


def record_lease(tx: Tx, claimed: Claim, *, session_id: str, now: datetime) -> None:
    """Store the lease of a claim for ``session_id`` (which must exist), if it took one."""
    if claimed.tracker_id is None or claimed.leased_until is None:
        return
    trackers.insert_lease(
        tx,
        tracker_id=claimed.tracker_id,
        session_id=session_id,
        started_at=claimed.started_at or now,
        leased_until=claimed.leased_until,
        shared=claimed.shared,
    )


@dataclass(frozen=True, slots=True)
class LiveLease:
    lease_id: int
    tracker_id: int
    pool_id: int
    number: str
    leased_until: datetime


def extend_session(tx: Tx, session_id: str, now: datetime) -> list[LiveLease]:
    """Activity in a session: push its live leases to ``lease_minutes`` after ``now``.

    A lease that already ended stays ended if its tracker may be someone else's by now; one
    nobody has leased since (a provisional lease whose page is seen only now, a background
    tab looked at after minutes) is taken up again: the page shows that number still.
    """
    extended = []
    for lease_id, tracker_id, pool_id, number, minutes in trackers.live_leases(tx, session_id, now):
        until = now + timedelta(minutes=minutes)
        trackers.extend(tx, lease_id=lease_id, tracker_id=tracker_id, until=until)
        extended.append(LiveLease(lease_id, tracker_id, pool_id, number, until))
    return extended
