"""Group commit: how the visit API's units of work get their write transactions.

On SQLite the commit is the largest share of a new session's cost: it writes every page the
transaction touched (about twenty: the last leaf of each table and index, the tracker's row)
to the write-ahead log, and the next checkpoint copies them again. Visits that arrive together
touch mostly the same pages. So the units queued during one turn of the event loop run in one
``BEGIN IMMEDIATE … COMMIT``: a unit that fails is rolled back alone (see ``_commit``) and its
caller gets its error, the others commit together. No caller hears back before its
unit is committed. Batches follow the load: a visit that arrives alone commits alone, in the
next turn of the loop. Batches run on the event loop itself: SQLite serializes writers anyway,
and a thread would have to win the GIL back around every statement.

On PostgreSQL each unit runs in its own transaction in the thread pool, so that requests
overlap their round trips.
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
CHECKPOINT_WAIT = 0.0005  # seconds between looks at a finishing checkpoint

_Unit = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]


class GroupCommit:
    def __init__(self, database: Database, max_batch: int = MAX_BATCH) -> None:
        self._database = database
        self._max_batch = max_batch
        self._queue: list[_Unit] = []

    async def run(self, work: Callable[..., R], *args: Any) -> R:
        """``work(tx, *args)`` in a committed write transaction; its result, or its error.

        ``work`` may run twice (see ``_commit``): its effects must all go through ``tx``.
        """
        if not self._database.is_sqlite:
            return await run_in_threadpool(self._alone, work, *args)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((work, args, future))
        if len(self._queue) == 1:
            loop.call_soon(self._flush)
        return await future

    def _alone(self, work: Callable[..., R], *args: Any) -> R:
        with transaction(self._database) as tx:
            return work(tx, *args)

    def _flush(self) -> None:
        # A checkpoint finishing (``Database.checkpoint``) holds the lock for about a
        # millisecond: wait for it without blocking the loop; the batch grows meanwhile.
        if not self._database.wal_lock.acquire(blocking=False):
            asyncio.get_running_loop().call_later(CHECKPOINT_WAIT, self._flush)
            return
        try:
            self._flush_locked()
        finally:
            self._database.wal_lock.release()

    def _flush_locked(self) -> None:
        batch = self._queue[: self._max_batch]
        del self._queue[: self._max_batch]
        if self._queue:
            asyncio.get_running_loop().call_soon(self._flush)
        # A caller that went away (its request cancelled) gets no work done for it.
        batch = [unit for unit in batch if not unit[2].cancelled()]
        if not batch:
            return
        try:
            outcomes = self._commit(batch)
        except Exception as error:  # BEGIN or COMMIT failed: nothing of the batch is stored
            outcomes = [(False, error)] * len(batch)
        for (_, _, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future.cancelled():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _commit(self, batch: list[_Unit]) -> list[tuple[bool, Any]]:
        """Run ``batch`` in one transaction: each unit's result or error.

        Units seldom fail, so they first run one after the other. If one fails, that
        transaction is rolled back and the batch runs again with a savepoint around each unit,
        so that only the failing one is undone. Not every time: inside a transaction, SQLite
        copies each page a savepoint's unit changes to a journal, which made a visit ~15 %
        dearer.
        """
        try:
            with transaction(self._database) as tx:
                try:
                    return [(True, work(tx, *args)) for work, args, _ in batch]
                except Exception as error:
                    raise _UnitFailed from error
        except _UnitFailed as failed:
            if len(batch) == 1:
                return [(False, failed.__cause__)]
        with transaction(self._database) as tx:
            return [_in_savepoint(tx, work, args) for work, args, _ in batch]


class _UnitFailed(Exception):
    """A unit of a batch raised (its error is the cause): the batch runs again, unit by unit."""


def _in_savepoint(tx: Tx, work: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
    tx.cursor.execute("SAVEPOINT unit")
    try:
        result = work(tx, *args)
    except Exception as error:
        tx.cursor.execute("ROLLBACK TO unit")
        tx.cursor.execute("RELEASE unit")
        return False, error
    tx.cursor.execute("RELEASE unit")
    return True, result
