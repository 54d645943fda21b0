"""The automated pool's invariants over random visits, time, settings and rebalances.

The test keeps its own model of the visits and computes the top list itself, so the checks do
not lean on the code under test. The database is created once per test (per engine) and
emptied between examples.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Base, Tracker
from callpool.pools import service
from callpool.pools.schemas import PoolCreate, PoolUpdate
from callpool.pools.service import Deps
from tests.factories import Factory
from tests.pools.conftest import served_at

SOURCES = [
    ("google", "cpc"),
    ("google", "organic"),
    ("facebook", "social"),
    ("newsletter", "email"),
    ("(direct)", "(none)"),
]
NUMBERS = ["+15125550199", "+15125550142", "+17375550123"]
THRESHOLD, WINDOW_DAYS, TIMELINE_DAYS, MIN_SOURCES = 3, 10, 5, 1
START = datetime.fromisoformat("2026-03-02T09:00:00+00:00")

Key = tuple[str, str]


def run_machine(deps: Deps, clock: FrozenClock, factory: Factory) -> None:
    database = deps.database

    class AutomatedPool(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            empty(database)
            clock.set(START)
            account = factory.account("Prop")
            self.account_id = account.id
            self.site = factory.site(account)
            self.size, self.utilization, self.number = 3, 0.67, NUMBERS[0]
            pool = service.create_pool(
                deps,
                account.id,
                PoolCreate(
                    site_id=self.site.id,
                    name="prop",
                    kind="automated",
                    original_number=self.number,
                    size=self.size,
                    utilization=self.utilization,
                    min_sources=MIN_SOURCES,
                    visit_threshold=THRESHOLD,
                    window_days=WINDOW_DAYS,
                    timeline_days=TIMELINE_DAYS,
                ),
            )
            self.pool_id = pool.id
            self.visits: list[tuple[datetime, Key]] = []
            self.fresh = True  # the pool was rebalanced since the last visit or time step
            self.flagged_seen: dict[int, datetime] = {}
            self.expected_number: dict[int, str] = {}
            self.history: dict[tuple[datetime, int], Key | None] = {}

        # -- rules ---------------------------------------------------------------------

        @initialize(
            counts=st.lists(st.integers(0, 8), min_size=len(SOURCES), max_size=len(SOURCES))
        )
        def traffic_so_far(self, counts: list[int]) -> None:
            """Start from a site with traffic, so that few steps reach interesting states."""
            for source, count in zip(SOURCES, counts, strict=True):
                self.visit(source, count)
            self.rebalance()

        @rule(key=st.sampled_from(SOURCES), count=st.integers(1, 6))
        def visit(self, key: Key, count: int) -> None:
            if count == 0:
                return
            factory.sessions(self.site, count, source=key[0], medium=key[1])
            self.visits += [(clock.now(), key)] * count
            self.fresh = False

        @rule(hours=st.integers(1, 24 * 7))
        def time_passes(self, hours: int) -> None:
            clock.advance(hours=hours)
            self.fresh = False

        @rule()
        def rebalance(self) -> None:
            service.rebalance_now(deps, self.account_id, self.pool_id)
            self.fresh = True
            again = service.rebalance_now(deps, self.account_id, self.pool_id)
            assert not again.changed(), "a second rebalance changed something"

        @rule(size=st.integers(1, 5))
        def change_size(self, size: int) -> None:
            self.size = size
            self.update(size=size)

        @rule(utilization=st.sampled_from([0.2, 0.34, 0.5, 0.67, 0.8, 1.0]))
        def change_utilization(self, utilization: float) -> None:
            self.utilization = utilization
            self.update(utilization=utilization)

        @rule(number=st.sampled_from(NUMBERS))
        def change_original_number(self, number: str) -> None:
            self.number = number
            self.update(original_number=number)

        @rule()
        def reassign(self) -> None:
            service.reassign_original_number(deps, self.account_id, self.pool_id)
            for tracker in self.trackers():
                if tracker.status in ("active", "flagged"):
                    self.expected_number[tracker.id] = self.number

        @precondition(lambda self: self.history)
        @rule(data=st.data())
        def call_at_some_time(self, data: st.DataObject) -> None:
            (at, tracker_id), served = data.draw(st.sampled_from(sorted(self.history.items())))
            with database.reader() as db:
                assert served_at(db, tracker_id, at) == served

        def update(self, **fields: object) -> None:
            change = PoolUpdate.model_validate(fields)
            service.update_pool(deps, self.account_id, self.pool_id, change)
            self.fresh = True

        # -- invariants ----------------------------------------------------------------

        @invariant()
        def check_then_observe(self) -> None:
            trackers = self.trackers()
            live = [t for t in trackers if t.status != "released"]
            active = [key(t) for t in live if t.status == "active"]
            assert len(active) == len(set(active)), "a source/medium has two active trackers"
            if self.fresh:
                self.check_after_rebalance(live)
            for tracker in live:
                if tracker.status in ("active", "flagged"):
                    expected = self.expected_number.setdefault(tracker.id, self.number)
                    assert tracker.original_number == expected
                else:
                    self.expected_number.pop(tracker.id, None)
            self.observe(trackers)

        def check_after_rebalance(self, live: list[Tracker]) -> None:
            now = clock.now()
            top = self.top_list()
            active = {key(t) for t in live if t.status == "active"}
            assert active <= set(top), "an active tracker serves a source outside the top list"
            flagged = [t for t in live if t.status == "flagged"]
            returned = {key(t) for t in flagged} & set(top)
            assert not returned, f"{returned} came back to the top list but stayed flagged"
            for tracker in live:
                dropped = self.flagged_seen.get(tracker.id)
                recently = dropped is not None and now - dropped < timedelta(days=TIMELINE_DAYS)
                if tracker.status == "flagged":
                    assert recently or dropped is None, "flagged past its timeline"
                elif recently:
                    # Dropped within the timeline and no longer flagged: only its return to
                    # the top list may end a flag early.
                    assert tracker.status == "active", "a flag ended before its timeline"
            for tracker in flagged:
                if tracker.id in self.flagged_seen:
                    assert tracker.dropped_at == self.flagged_seen[tracker.id]
            assert len(live) >= self.size, "the pool was not filled up to its size"
            assert len(live) <= self.size + len(flagged), "available trackers beyond the size"
            if any(t.status == "available" for t in live):
                assert set(top) <= active, "a top source has no tracker though one is free"

        def observe(self, trackers: list[Tracker]) -> None:
            now = clock.now()
            for tracker in trackers:
                if tracker.status == "flagged":
                    self.flagged_seen.setdefault(tracker.id, now)
                else:
                    self.flagged_seen.pop(tracker.id, None)
                serving = tracker.status in ("active", "flagged")
                self.history[(now, tracker.id)] = key(tracker) if serving else None

        # -- the test's own model ------------------------------------------------------

        def top_list(self) -> list[Key]:
            since = clock.now() - timedelta(days=WINDOW_DAYS)
            counts: dict[Key, int] = {}
            for at, source in self.visits:
                if at >= since:
                    counts[source] = counts.get(source, 0) + 1
            ranked = sorted(counts, key=lambda k: (-counts[k], k))
            eligible = [k for k in ranked if counts[k] >= THRESHOLD]
            by_share = math.floor(self.size * Fraction(str(self.utilization)))
            return eligible[: min(max(by_share, MIN_SOURCES), self.size)]

        def trackers(self) -> list[Tracker]:
            with database.reader() as db:
                query = select(Tracker).where(Tracker.pool_id == self.pool_id)
                return list(db.scalars(query.order_by(Tracker.id)))

    run_state_machine_as_test(
        AutomatedPool,
        settings=settings(
            max_examples=15,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def key(tracker: Tracker) -> Key:
    return (tracker.source or "", tracker.medium or "")


def empty(database: Database) -> None:
    with database.session() as db:
        for table in reversed(Base.metadata.sorted_tables):
            db.execute(table.delete())


@pytest.mark.slow
def test_automated_pool_invariants_hold_over_random_histories(
    deps: Deps, clock: FrozenClock, factory: Factory
) -> None:
    run_machine(deps, clock, factory)
