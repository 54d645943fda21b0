"""Group commit: the visit API's units of work share transactions on SQLite, never their fate."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar, cast

import pytest
from sqlalchemy import Table, func, insert, select

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, Pageview
from callpool.visits import repository
from callpool.visits.group_commit import GroupCommit
from callpool.visits.sql import Prepared, Tx

T = TypeVar("T")
accounts = cast(Table, Account.__table__)
# Every column with a model default is given: the prepared layer applies none.
ADD_ACCOUNT = Prepared(insert(accounts), ["name", "created_at", "time_zone", "accuracy_target"])


def add_account(tx: Tx, name: str, now: datetime) -> Tx:
    """A unit of work: one row; it answers with its transaction, to see who shared it."""
    ADD_ACCOUNT.send(
        tx, {"name": name, "created_at": now, "time_zone": "UTC", "accuracy_target": 0.99}
    )
    return tx


def add_account_then_fail(tx: Tx, name: str, now: datetime) -> Tx:
    add_account(tx, name, now)
    raise ValueError(f"{name} went wrong")


def names(database: Database) -> list[str]:
    with database.reader() as db:
        return sorted(db.scalars(select(Account.name)))


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: the browser tests leave an event loop running
    in the main thread."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def run_together(commits: GroupCommit, *units: tuple[Any, ...]) -> list[Any]:
    """Start ``units`` (each ``(work, *args)``) at once; their results or errors, in order."""

    async def together() -> list[Any]:
        runs = (commits.run(work, *args) for work, *args in units)
        # A unit never answered fails the test rather than hanging it.
        return await asyncio.wait_for(asyncio.gather(*runs, return_exceptions=True), 30)

    return run(together())


def test_units_that_arrive_together_are_all_committed(
    database: Database, clock: FrozenClock
) -> None:
    commits = GroupCommit(database)
    now = clock.now()
    answers = run_together(commits, *((add_account, f"shop {n}", now) for n in range(5)))
    assert names(database) == [f"shop {n}" for n in range(5)]
    assert len({id(tx) for tx in answers}) == 1  # one transaction for the lot


def test_a_failing_unit_is_rolled_back_alone_and_its_caller_gets_the_error(
    database: Database, clock: FrozenClock
) -> None:
    now = clock.now()
    answers = run_together(
        GroupCommit(database),
        (add_account, "first", now),
        (add_account_then_fail, "broken", now),
        (add_account, "last", now),
    )
    assert isinstance(answers[1], ValueError)
    assert str(answers[1]) == "broken went wrong"
    assert names(database) == ["first", "last"]


def test_batches_are_bounded(database: Database, clock: FrozenClock) -> None:
    commits = GroupCommit(database, max_batch=2)
    now = clock.now()
    answers = run_together(commits, *((add_account, f"shop {n}", now) for n in range(5)))
    assert len(names(database)) == 5
    assert len({id(tx) for tx in answers}) == 3  # 2 + 2 + 1


def test_a_batch_waiting_for_a_free_lane_is_committed_when_one_frees(
    database: Database, clock: FrozenClock
) -> None:
    commits = GroupCommit(database, max_batch=2, lanes=1)  # lanes: PostgreSQL's
    now = clock.now()
    answers = run_together(commits, *((add_account, f"shop {n}", now) for n in range(5)))
    assert names(database) == [f"shop {n}" for n in range(5)]
    assert len({id(tx) for tx in answers}) == 3


def test_a_caller_that_went_away_gets_no_work_done(database: Database, clock: FrozenClock) -> None:
    commits = GroupCommit(database)
    now = clock.now()

    async def scenario() -> None:
        gone = asyncio.create_task(commits.run(add_account, "gone", now))
        await asyncio.sleep(0)  # it is queued; the batch runs on the loop's next turn
        gone.cancel()
        await commits.run(add_account, "stayed", now)

    run(scenario())
    assert names(database) == ["stayed"]


class Interrupted(BaseException):
    """Something beyond an ``Exception``, raised inside a unit."""


def add_account_then_interrupt(tx: Tx, name: str, now: datetime) -> None:
    add_account(tx, name, now)
    raise Interrupted


def test_a_batch_interrupted_by_more_than_an_error_cancels_its_callers(
    database: Database, clock: FrozenClock
) -> None:
    commits = GroupCommit(database, max_batch=2)
    now = clock.now()
    answers = run_together(
        commits,
        (add_account, "first", now),
        (add_account_then_interrupt, "broken", now),
        (add_account, "queued behind", now),  # the next batch
    )
    # Not left waiting forever (``run_together`` would fail after 30 s), and nothing stored
    # of the interrupted batch; the batch queued behind it goes through.
    assert [type(answer) for answer in answers[:2]] == [asyncio.CancelledError] * 2
    assert names(database) == ["queued behind"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_callers_of_a_batch_cancelled_in_its_thread_are_cancelled_too(
    database: Database, clock: FrozenClock
) -> None:
    commits = GroupCommit(database)
    now = clock.now()
    started, finish = threading.Event(), threading.Event()

    def slow_unit(tx: Tx, name: str, now: datetime) -> None:
        started.set()
        finish.wait(10)
        add_account(tx, name, now)

    async def scenario() -> BaseException | None:
        caller = asyncio.create_task(commits.run(slow_unit, "slow", now))
        await asyncio.to_thread(started.wait, 10)
        for task in asyncio.all_tasks():  # the batch's task, as a stopping app cancels it
            if task not in (caller, asyncio.current_task()):
                task.cancel()
        try:
            await asyncio.wait_for(caller, 30)
        except BaseException as error:  # the outcome is what is asserted
            return error
        finally:
            finish.set()
        return None

    assert isinstance(run(scenario()), asyncio.CancelledError)


def add_pageview_of_no_session(tx: Tx, now: datetime) -> None:
    """Breaks a foreign key. On PostgreSQL the insert is only queued: the error comes back
    with a later statement of the batch, or with its ``COMMIT``."""
    repository.insert_pageview(tx, "no-such-session", "https://shop.example/", None, now)


def add_pageview_of_no_session_noticed_at_commit(tx: Tx, now: datetime) -> None:
    """Breaks a foreign key in a way SQLite only notices at COMMIT."""
    tx.cursor.execute("PRAGMA defer_foreign_keys = ON")
    add_pageview_of_no_session(tx, now)


def test_a_unit_whose_error_surfaces_later_is_still_the_only_one_undone(
    database: Database, clock: FrozenClock
) -> None:
    now = clock.now()
    answers = run_together(
        GroupCommit(database),
        (add_account, "first", now),
        (add_pageview_of_no_session, now),
        (add_account, "last", now),
    )
    assert "foreign key" in str(answers[1]).lower()
    assert not isinstance(answers[0], Exception)
    assert not isinstance(answers[2], Exception)
    assert names(database) == ["first", "last"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_when_the_commit_fails_every_caller_of_the_batch_hears_it_and_nothing_is_stored(
    database: Database, clock: FrozenClock
) -> None:
    now = clock.now()
    answers = run_together(
        GroupCommit(database),
        (add_account, "innocent", now),
        (add_pageview_of_no_session_noticed_at_commit, now),
    )
    assert all(isinstance(answer, Exception) for answer in answers)
    assert "FOREIGN KEY" in str(answers[0])
    assert names(database) == []
    with database.reader() as db:
        assert db.scalar(select(func.count()).select_from(Pageview)) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_batch_waits_for_a_finishing_checkpoint_without_blocking_the_loop(
    database: Database, clock: FrozenClock
) -> None:
    commits = GroupCommit(database)
    now = clock.now()
    database.wal_lock.acquire()  # a checkpoint finishing its copy

    async def scenario() -> list[str]:
        unit = asyncio.create_task(commits.run(add_account, "waited", now))
        # Ten turns of the loop (not a wait): the batch tried the lock on the second. It
        # waits for it, and the loop keeps turning: this coroutine, on the same loop, is the
        # one that lets the checkpoint finish (a batch blocking the loop would hang here).
        for _ in range(10):
            await asyncio.sleep(0)
        assert not unit.done()
        database.wal_lock.release()
        await asyncio.wait_for(unit, 30)
        return names(database)

    assert run(scenario()) == ["waited"]


def log_frames(database: Database) -> int:
    """How many frames SQLite's write-ahead log holds (a checkpoint copies but keeps them)."""
    raw = database.engine.raw_connection()
    try:
        [(_busy, frames, _copied)] = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        raw.close()
    return int(frames)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_checkpoint_finishes_between_batches_and_the_log_then_starts_over(
    database: Database, clock: FrozenClock
) -> None:
    commits = GroupCommit(database)
    now = clock.now()
    for n in range(20):
        run_together(commits, *((add_account, f"shop {n}.{m}", now) for m in range(5)))
    grown = log_frames(database)

    database.wal_lock.acquire()  # a batch is writing
    checkpoint = threading.Thread(target=database.checkpoint)
    checkpoint.start()
    checkpoint.join(0.1)
    assert checkpoint.is_alive()  # its last frames wait for the batch: none can be missed
    database.wal_lock.release()
    checkpoint.join(5)
    assert not checkpoint.is_alive()

    run_together(commits, (add_account, "after", now))
    assert log_frames(database) < grown / 5  # rewritten from its start, not appended to
    assert len(names(database)) == 101
