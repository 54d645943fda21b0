"""Group commit: how the visit API's units of work get their write transactions.

A commit is the largest share of a new session's cost. On SQLite it writes every page the
transaction touched (about twenty: the last leaf of each table and index, the tracker's row)
to the write-ahead log; on PostgreSQL it waits for the log's flush to disk. Visits that arrive
together touch mostly the same pages. So the units queued while the previous batch was being
committed, or during one turn of the event loop, run in one transaction: a unit that fails is
rolled back alone (see ``_commit``) and its caller gets its error, the others commit together.
No caller hears back before its unit is committed. Batches follow the load: a visit that
arrives alone commits alone, at once.

SQLite serializes writers, so its batches run one at a time on the event loop itself: a
thread would have to win the GIL back around every statement (measured against a writer
thread: docs/benchmarks.md). The loop must never wait for the write lock, though: another
process, the worker or a dashboard request in a thread may hold it for seconds. So a batch
asks for the lock without waiting (``busy_timeout`` 0) and, if it is taken, goes back to the
head of the queue and tries again a little later (``call_later``, backing off), the loop
serving everything else meanwhile. PostgreSQL's batches run in the thread pool, a few at once
(``LANES``), so that their round trips overlap; their statements give up at the deadline.

No unit waits for the database longer than ``DEADLINE``: its caller then gets
``DatabaseBusy`` (the visit API answers 503, and the page keeps its own number) and the unit
is not run. A PostgreSQL batch already in flight when its units' deadline passes is cancelled
by the server (``statement_timeout``, set to what was left of the deadline); its callers have
their answer already.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg.errors
from starlette.concurrency import run_in_threadpool

from callpool.db import Database
from callpool.visits.claim import MustWait
from callpool.visits.sql import Locked, Tx, transaction

R = TypeVar("R")
MAX_BATCH = 64  # bounds the wait of a batch's last unit behind the others
LANES = 2  # PostgreSQL: batches committed at once
CHECKPOINT_WAIT = 0.0005  # seconds between looks at a finishing checkpoint
DEADLINE = 2.0  # seconds a unit may wait for the database before its caller hears 503
WATCH_INTERVAL = 0.05  # seconds between looks for units past their deadline
# A PostgreSQL batch in flight is stopped by the server at the deadline (``statement_timeout``)
# and its callers then hear ``DatabaseBusy`` with nothing stored. Only a batch that cannot
# even reach the server (a connection being made) is given up on by the app, this much later,
# so that a batch the server let through in time is never answered 503.
IN_FLIGHT_GRACE = 0.5
# Seconds before asking again for a SQLite write lock another connection holds: doubled on
# each refusal up to the last figure. SQLite's own busy handler sleeps alike (1, 2, 5 … ms).
LOCK_RETRY_FIRST, LOCK_RETRY_MAX = 0.0005, 0.008

_Unit = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]", float]
_Outcome = tuple[bool, Any]  # (True, result) or (False, error)


class DatabaseBusy(Exception):
    """The database could not take the unit within ``DEADLINE``: nothing of it is stored."""

    def __init__(self) -> None:
        super().__init__(f"the database did not take this within {DEADLINE:g} s")


class Refused(Exception):
    """Raised by a unit before it wrote anything (reads are fine): its batch goes on without
    it, and its caller gets the error."""


class GroupCommit:
    def __init__(
        self,
        database: Database,
        max_batch: int = MAX_BATCH,
        lanes: int = LANES,
        deadline: float = DEADLINE,
    ) -> None:
        self._database = database
        self._max_batch = max_batch
        self._lanes = 1 if database.is_sqlite else lanes
        self._deadline = deadline
        self._busy_lanes = 0
        self._queue: list[_Unit] = []
        self._in_flight: list[list[_Unit]] = []  # PostgreSQL batches in the thread pool
        self._watching = False
        self._lock_retry = LOCK_RETRY_FIRST
        self._tasks: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak ones

    async def run(self, work: Callable[..., R], *args: Any) -> R:
        """``work(tx, *args)`` in a committed write transaction; its result, or its error
        (``DatabaseBusy`` after ``DEADLINE``).

        ``work`` may run more than once (see ``_commit``): its effects must all go through
        ``tx``.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((work, args, future, loop.time()))
        if len(self._queue) == 1:
            loop.call_soon(self._flush)
        if not self._watching:
            self._watching = True
            loop.call_later(WATCH_INTERVAL, self._watch)
        return await future

    def _watch(self) -> None:
        """Answer ``DatabaseBusy`` to the callers whose deadline passed; look again later
        while any unit waits."""
        loop = asyncio.get_running_loop()
        overdue = loop.time() - self._deadline
        _expire(self._queue, overdue)
        for batch in self._in_flight:
            _expire(batch, overdue - IN_FLIGHT_GRACE)
        if self._queue or self._in_flight:
            loop.call_later(WATCH_INTERVAL, self._watch)
        else:
            self._watching = False

    def _flush(self) -> None:
        if self._database.is_sqlite:
            self._flush_sqlite()
            return
        while self._queue and self._busy_lanes < self._lanes:
            self._busy_lanes += 1
            task = asyncio.get_running_loop().create_task(self._commit_in_thread(self._take()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _flush_sqlite(self) -> None:
        # A checkpoint finishing (``Database.checkpoint``) holds the lock for a few
        # milliseconds: wait for it without blocking the loop; the batch grows meanwhile.
        if not self._database.wal_lock.acquire(blocking=False):
            asyncio.get_running_loop().call_later(CHECKPOINT_WAIT, self._flush)
            return
        batch = self._take()
        try:
            outcomes = self._outcomes(batch, give_up_at=None)
        except Locked:
            self._database.wal_lock.release()
            self._retry_when_unlocked(batch)
            return
        except BaseException:
            self._database.wal_lock.release()
            _abandon(batch)
            self._flush_rest()
            raise
        self._database.wal_lock.release()
        self._lock_retry = LOCK_RETRY_FIRST
        self._flush_rest()
        _deliver(batch, outcomes)

    def _retry_when_unlocked(self, batch: list[_Unit]) -> None:
        """Another connection holds SQLite's write lock: the batch goes back to the head of
        the queue (units arriving meanwhile join it) and asks again later."""
        self._queue[:0] = batch
        asyncio.get_running_loop().call_later(self._lock_retry, self._flush)
        self._lock_retry = min(self._lock_retry * 2, LOCK_RETRY_MAX)

    async def _commit_in_thread(self, batch: list[_Unit]) -> None:
        self._in_flight.append(batch)
        # The loop's clock is ``time.monotonic``, which the thread reads too.
        give_up_at = _oldest(batch) + self._deadline
        try:
            outcomes = await run_in_threadpool(self._outcomes, batch, give_up_at)
        except BaseException:  # cancelled (the app stopping), or worse
            _abandon(batch)
            raise
        else:
            _deliver(batch, outcomes)
        finally:
            self._in_flight.remove(batch)
            self._busy_lanes -= 1
            self._flush_rest()

    def _flush_rest(self) -> None:
        if self._queue:
            asyncio.get_running_loop().call_soon(self._flush)

    def _take(self) -> list[_Unit]:
        batch = self._queue[: self._max_batch]
        del self._queue[: self._max_batch]
        # A caller that went away (its request cancelled, or answered 503) gets no work done.
        return [unit for unit in batch if not unit[2].done()]

    def _outcomes(self, batch: list[_Unit], give_up_at: float | None) -> list[_Outcome]:
        """``give_up_at``: when (``time.monotonic``) to stop waiting for locks; ``None``: do
        not wait at all (SQLite on the loop)."""
        if not batch:
            return []
        try:
            outcomes = self._commit(batch, give_up_at)
        except Locked:
            raise
        except Exception as error:  # BEGIN or COMMIT failed: nothing of the batch is stored
            return [(False, _as_busy(error))] * len(batch)
        return [
            self._alone(unit, give_up_at) if not ok and _needs_alone(value) else (ok, value)
            for unit, (ok, value) in zip(batch, outcomes, strict=True)
        ]

    def _commit(self, batch: list[_Unit], give_up_at: float | None) -> list[_Outcome]:
        """Run ``batch`` in one transaction: each unit's result or error.

        Units seldom fail, so they first run one after the other. If that transaction fails,
        it is rolled back and the batch runs again with a savepoint around each unit, so that
        only a failing unit is undone. Not every time: inside a transaction, SQLite copies each
        page a savepoint's unit changes to a journal, which made a visit ~25 % dearer; and on
        PostgreSQL a unit's error may only surface with a later statement or the ``COMMIT``.
        A batch that ran out of time is not run again.
        """
        try:
            with transaction(self._database, lock_wait=_lock_wait(give_up_at)) as tx:
                return [_unless_refused(tx, work, args) for work, args, _, _ in batch]
        except Locked:
            raise
        except Exception as error:
            if len(batch) == 1 or _gave_up(error):
                return [(False, _as_busy(error))] * len(batch)
        with transaction(self._database, lock_wait=_lock_wait(give_up_at)) as tx:
            return [_in_savepoint(tx, work, args) for work, args, _, _ in batch]

    def _alone(self, unit: _Unit, give_up_at: float | None) -> _Outcome:
        """Run a unit that must wait for a lock (``MustWait``), or that lost a deadlock, in a
        transaction of its own, after its batch: one that holds no other unit's locks."""
        work, args, _, _ = unit
        lock_wait = _lock_wait(give_up_at)
        try:
            with transaction(self._database, lock_wait=lock_wait, alone=True) as tx:
                return True, work(tx, *args)
        except Exception as error:
            return False, _as_busy(error)


def _unless_refused(tx: Tx, work: Callable[..., Any], args: tuple[Any, ...]) -> _Outcome:
    try:
        return True, work(tx, *args)
    except Refused as error:  # nothing of it to undo
        return False, error


def _in_savepoint(tx: Tx, work: Callable[..., Any], args: tuple[Any, ...]) -> _Outcome:
    tx.cursor.execute("SAVEPOINT unit")
    try:
        result = work(tx, *args)
        if tx.pipeline is not None:
            tx.pipeline.sync()  # PostgreSQL: this unit's errors surface here, not later
    except Exception as error:
        tx.cursor.execute("ROLLBACK TO unit")
        tx.cursor.execute("RELEASE unit")
        return False, error
    tx.cursor.execute("RELEASE unit")
    return True, result


def _lock_wait(give_up_at: float | None) -> float:
    if give_up_at is None:
        return 0.0
    return max(give_up_at - time.monotonic(), 0.001)


def _gave_up(error: Exception) -> bool:
    """The database stopped waiting for a lock at the deadline (or SQLite's lock was held
    all along, in a thread that waited for it)."""
    return isinstance(
        error, Locked | psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable
    )


def _as_busy(error: Exception) -> Exception:
    return DatabaseBusy() if _gave_up(error) else error


def _needs_alone(error: Any) -> bool:
    return isinstance(error, MustWait | psycopg.errors.DeadlockDetected)


def _expire(units: list[_Unit], overdue: float) -> None:
    for _, _, future, since in units:
        if since <= overdue and not future.done():
            future.set_exception(DatabaseBusy())


def _oldest(batch: list[_Unit]) -> float:
    return min((since for _, _, _, since in batch), default=0.0)


def _abandon(batch: list[_Unit]) -> None:
    """The batch's fate is unknown (something beyond an ``Exception`` interrupted it): its
    callers are cancelled rather than left waiting forever."""
    for _, _, future, _ in batch:
        future.cancel()


def _deliver(batch: list[_Unit], outcomes: list[_Outcome]) -> None:
    for (_, _, future, _), (ok, value) in zip(batch, outcomes, strict=True):
        if future.done():  # cancelled, or answered ``DatabaseBusy`` already
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
