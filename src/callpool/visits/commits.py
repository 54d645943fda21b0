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
thread would have to win the GIL back around every statement. PostgreSQL's run in the thread
pool, a few at once (``LANES``), so that their round trips overlap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from callpool.assignment.prepared import Tx, transaction
from callpool.db import Database

R = TypeVar("R")
MAX_BATCH = 64  # bounds the wait of a batch's last unit behind the others
LANES = 2  # PostgreSQL: batches committed at once
CHECKPOINT_WAIT = 0.0005  # seconds between looks at a finishing checkpoint

_Unit = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]
_Outcome = tuple[bool, Any]  # (True, result) or (False, error)


class GroupCommit:
    def __init__(self, database: Database, max_batch: int = MAX_BATCH, lanes: int = LANES) -> None:
        self._database = database
        self._max_batch = max_batch
        self._lanes = 1 if database.is_sqlite else lanes
        self._busy_lanes = 0
        self._queue: list[_Unit] = []
        self._tasks: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak ones

    async def run(self, work: Callable[..., R], *args: Any) -> R:
        """``work(tx, *args)`` in a committed write transaction; its result, or its error.

        ``work`` may run twice (see ``_commit``): its effects must all go through ``tx``.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((work, args, future))
        if len(self._queue) == 1:
            loop.call_soon(self._flush)
        return await future

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
            outcomes = self._outcomes(batch)
        except BaseException:
            _abandon(batch)
            raise
        finally:
            self._database.wal_lock.release()
            self._flush_rest()
        _deliver(batch, outcomes)

    async def _commit_in_thread(self, batch: list[_Unit]) -> None:
        try:
            outcomes = await run_in_threadpool(self._outcomes, batch)
        except BaseException:  # cancelled (the app stopping), or worse
            _abandon(batch)
            raise
        else:
            _deliver(batch, outcomes)
        finally:
            self._busy_lanes -= 1
            self._flush_rest()

    def _flush_rest(self) -> None:
        if self._queue:
            asyncio.get_running_loop().call_soon(self._flush)

    def _take(self) -> list[_Unit]:
        batch = self._queue[: self._max_batch]
        del self._queue[: self._max_batch]
        # A caller that went away (its request cancelled) gets no work done for it.
        return [unit for unit in batch if not unit[2].cancelled()]

    def _outcomes(self, batch: list[_Unit]) -> list[_Outcome]:
        if not batch:
            return []
        try:
            return self._commit(batch)
        except Exception as error:  # BEGIN or COMMIT failed: nothing of the batch is stored
            return [(False, error)] * len(batch)

    def _commit(self, batch: list[_Unit]) -> list[_Outcome]:
        """Run ``batch`` in one transaction: each unit's result or error.

        Units seldom fail, so they first run one after the other. If that transaction fails,
        it is rolled back and the batch runs again with a savepoint around each unit, so that
        only a failing unit is undone. Not every time: inside a transaction, SQLite copies each
        page a savepoint's unit changes to a journal, which made a visit ~25 % dearer; and on
        PostgreSQL a unit's error may only surface with a later statement or the ``COMMIT``.
        """
        try:
            with transaction(self._database) as tx:
                return [(True, work(tx, *args)) for work, args, _ in batch]
        except Exception as error:
            if len(batch) == 1:
                return [(False, error)]
        with transaction(self._database) as tx:
            return [_in_savepoint(tx, work, args) for work, args, _ in batch]


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


def _abandon(batch: list[_Unit]) -> None:
    """The batch's fate is unknown (something beyond an ``Exception`` interrupted it): its
    callers are cancelled rather than left waiting forever."""
    for _, _, future in batch:
        future.cancel()


def _deliver(batch: list[_Unit], outcomes: list[_Outcome]) -> None:
    for (_, _, future), (ok, value) in zip(batch, outcomes, strict=True):
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
