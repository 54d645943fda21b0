"""Automated pools, one test per scenario of the pools FAQ (seeds/pools-faq.txt)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from callpool.calls.routing import routing_table
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, PoolEvent, Tracker
from callpool.pools import service
from callpool.pools.rebalance import rebalance_due_pools, rebalance_job
from callpool.pools.schemas import PoolOut, PoolUpdate
from callpool.pools.service import Deps
from callpool.visits.sql import transaction
from callpool.visits.trackers import offer_for_source
from tests.pools.conftest import (
    BUSINESS,
    NEW_BUSINESS,
    AddVisits,
    MakePool,
    RecordingSandbox,
    served_at,
)

GOOGLE, BING, FACEBOOK, NEWSLETTER = (
    ("google", "cpc"),
    ("bing", "cpc"),
    ("facebook", "social"),
    ("newsletter", "email"),
)


def trackers(database: Database, pool_id: int) -> list[Tracker]:
    with database.reader() as db:
        query = select(Tracker).where(Tracker.pool_id == pool_id, Tracker.status != "released")
        return list(db.scalars(query.order_by(Tracker.id)))


def serving(database: Database, pool_id: int, status: str) -> set[tuple[str, str]]:
    return {
        (t.source or "", t.medium or "") for t in trackers(database, pool_id) if t.status == status
    }


def statuses(database: Database, pool_id: int) -> list[str]:
    return sorted(t.status for t in trackers(database, pool_id))


def update(deps: Deps, account: Account, pool: PoolOut, **fields: object) -> PoolOut:
    return service.update_pool(deps, account.id, pool.id, PoolUpdate.model_validate(fields))


def rebalance(deps: Deps, account: Account, pool: PoolOut) -> None:
    service.rebalance_now(deps, account.id, pool.id)


def test_a_new_pool_is_filled_with_available_trackers(
    make_pool: MakePool, database: Database
) -> None:
    pool = make_pool(size=4)
    assert statuses(database, pool.id) == ["available"] * 4


def test_size_change_without_trackers_only_changes_how_many_are_created(
    make_pool: MakePool, deps: Deps, account: Account, database: Database, visits: AddVisits
) -> None:
    pool = make_pool(size=1)
    [only] = trackers(database, pool.id)
    service.release(deps, account.id, pool.id, only.id)
    assert trackers(database, pool.id) == []

    changed = update(deps, account, pool, size=3)

    assert changed.size == 3
    assert statuses(database, pool.id) == ["available"] * 3


def test_top_source_mediums_get_active_trackers_with_the_pool_number(
    make_pool: MakePool, database: Database, visits: AddVisits, deps: Deps, account: Account
) -> None:
    pool = make_pool(size=5, utilization=0.6)  # top list: floor(3.0) = 3
    for key, count in ((GOOGLE, 400), (BING, 300), (FACEBOOK, 200), (NEWSLETTER, 150)):
        visits(*key, count)
    rebalance(deps, account, pool)
    assert serving(database, pool.id, "active") == {GOOGLE, BING, FACEBOOK}
    assert statuses(database, pool.id) == ["active"] * 3 + ["available"] * 2
    assert {t.original_number for t in trackers(database, pool.id)} == {BUSINESS}


def test_smaller_size_flags_then_frees_then_deletes_down_to_size(
    make_pool: MakePool,
    database: Database,
    visits: AddVisits,
    deps: Deps,
    account: Account,
    clock: FrozenClock,
    provider: RecordingSandbox,
) -> None:
    pool = make_pool(size=5, utilization=0.6, window_days=90, timeline_days=30)
    for key, count in ((GOOGLE, 400), (BING, 300), (FACEBOOK, 200)):
        visits(*key, count)
    rebalance(deps, account, pool)
    assert serving(database, pool.id, "active") == {GOOGLE, BING, FACEBOOK}

    update(deps, account, pool, size=2)  # top list: max(floor(1.2), 1) = 1

    # Fewer tracked source/mediums: the others are flagged, and still route calls.
    assert serving(database, pool.id, "active") == {GOOGLE}
    assert serving(database, pool.id, "flagged") == {BING, FACEBOOK}
    # The two available trackers beyond the size are deleted at once.
    assert statuses(database, pool.id) == ["active", "flagged", "flagged"]
    assert len(provider.released) == 2

    clock.advance(days=29)
    rebalance(deps, account, pool)
    assert statuses(database, pool.id) == ["active", "flagged", "flagged"]

    clock.advance(days=1)
    rebalance(deps, account, pool)
    # Flagged became available after the timeline, then were deleted down to the size.
    assert statuses(database, pool.id) == ["active", "available"]
    assert len(provider.released) == 3


def test_larger_size_creates_and_activates_by_the_new_list_size(
    make_pool: MakePool, database: Database, visits: AddVisits, deps: Deps, account: Account
) -> None:
    pool = make_pool(size=2, utilization=1.0)
    for key, count in ((GOOGLE, 400), (BING, 300), (FACEBOOK, 200), (NEWSLETTER, 150)):
        visits(*key, count)
    rebalance(deps, account, pool)
    assert serving(database, pool.id, "active") == {GOOGLE, BING}

    update(deps, account, pool, size=4)

    assert serving(database, pool.id, "active") == {GOOGLE, BING, FACEBOOK, NEWSLETTER}
    assert len(trackers(database, pool.id)) == 4


def test_utilization_change_flags_but_never_deletes_available_trackers(
    make_pool: MakePool,
    database: Database,
    visits: AddVisits,
    deps: Deps,
    account: Account,
    clock: FrozenClock,
    provider: RecordingSandbox,
) -> None:
    pool = make_pool(size=4, utilization=1.0, window_days=90)
    for key, count in ((GOOGLE, 400), (BING, 300), (FACEBOOK, 200), (NEWSLETTER, 150)):
        visits(*key, count)
    rebalance(deps, account, pool)

    update(deps, account, pool, utilization=0.5)  # top list: 2

    assert serving(database, pool.id, "active") == {GOOGLE, BING}
    assert serving(database, pool.id, "flagged") == {FACEBOOK, NEWSLETTER}
    clock.advance(days=31)
    rebalance(deps, account, pool)
    assert statuses(database, pool.id) == ["active", "active", "available", "available"]
    assert provider.released == []


def test_flagged_tracker_comes_back_when_its_source_returns(
    make_pool: MakePool,
    database: Database,
    visits: AddVisits,
    deps: Deps,
    account: Account,
    clock: FrozenClock,
) -> None:
    pool = make_pool(size=2, utilization=0.5, window_days=90)  # top list: 1
    visits(*GOOGLE, 200)
    rebalance(deps, account, pool)
    [google_tracker] = [t for t in trackers(database, pool.id) if t.status == "active"]
    clock.advance(days=1)
    visits(*BING, 300)
    rebalance(deps, account, pool)
    assert serving(database, pool.id, "flagged") == {GOOGLE}
    clock.advance(days=1)
    visits(*GOOGLE, 200)  # 400 now, ahead of bing again
    rebalance(deps, account, pool)
    assert serving(database, pool.id, "active") == {GOOGLE}
    assert serving(database, pool.id, "flagged") == {BING}
    [back] = [t for t in trackers(database, pool.id) if t.source == "google"]
    assert back.id == google_tracker.id
    assert back.dropped_at is None


def test_original_number_change_applies_to_trackers_activated_afterwards(
    make_pool: MakePool,
    database: Database,
    visits: AddVisits,
    deps: Deps,
    account: Account,
    clock: FrozenClock,
) -> None:
    pool = make_pool(size=3, utilization=1.0)
    visits(*GOOGLE, 200)
    rebalance(deps, account, pool)

    update(deps, account, pool, original_number=NEW_BUSINESS)
    clock.advance(hours=1)
    visits(*BING, 200)
    rebalance(deps, account, pool)

    numbers = {t.source: t.original_number for t in trackers(database, pool.id) if t.source}
    assert numbers == {"google": BUSINESS, "bing": NEW_BUSINESS}


def test_reassigning_moves_active_trackers_to_the_new_number(
    make_pool: MakePool,
    database: Database,
    visits: AddVisits,
    deps: Deps,
    account: Account,
    clock: FrozenClock,
) -> None:
    pool = make_pool(size=3, utilization=1.0)
    visits(*GOOGLE, 200)
    rebalance(deps, account, pool)
    update(deps, account, pool, original_number=NEW_BUSINESS)
    before = clock.now()
    clock.advance(hours=1)

    assert service.reassign_original_number(deps, account.id, pool.id) == 1

    [google] = [t for t in trackers(database, pool.id) if t.status == "active"]
    assert google.original_number == NEW_BUSINESS
    # Calls are still attributed to google/cpc on both sides of the change.
    with database.reader() as db:
        assert served_at(db, google.id, before) == GOOGLE
        assert served_at(db, google.id, clock.now()) == GOOGLE
    assert service.reassign_original_number(deps, account.id, pool.id) == 0


def test_no_tracker_under_the_visit_threshold_and_bots_do_not_count(
    make_pool: MakePool, database: Database, visits: AddVisits, deps: Deps, account: Account
) -> None:
    pool = make_pool(size=3, utilization=1.0)
    visits(*GOOGLE, 150)
    visits(*BING, 99)
    visits(*BING, 50, bot=True)
    rebalance(deps, account, pool)

    assert serving(database, pool.id, "active") == {GOOGLE}
    report = service.diagnostics(deps, account.id, pool.id)
    reasons = {(s.source, s.medium): s.reason for s in report.sources}
    assert reasons[GOOGLE].startswith("active tracker +1512")
    assert reasons[BING] == (
        "under the visit threshold: 99 visits in 30 days, 100 needed; at this pace it gets a "
        "number in about 1 day"
    )
    assert "only 1 reach 100 visits" in report.summary


def test_no_tracker_when_none_is_available(
    make_pool: MakePool,
    database: Database,
    visits: AddVisits,
    deps: Deps,
    account: Account,
    clock: FrozenClock,
) -> None:
    pool = make_pool(size=2, utilization=1.0, window_days=90)
    visits(*GOOGLE, 300)
    visits(*BING, 200)
    rebalance(deps, account, pool)
    clock.advance(days=1)
    visits(*FACEBOOK, 250)  # pushes bing out; bing's tracker is flagged, not free
    rebalance(deps, account, pool)

    assert serving(database, pool.id, "active") == {GOOGLE}
    assert serving(database, pool.id, "flagged") == {BING}
    report = service.diagnostics(deps, account.id, pool.id)
    reasons = {(s.source, s.medium): s.reason for s in report.sources}
    assert reasons[FACEBOOK].startswith("no available tracker")
    assert reasons[BING].startswith("flagged tracker")
    assert "not enough available trackers" in report.summary


def test_diagnostics_name_sources_outside_the_top_list(
    make_pool: MakePool, visits: AddVisits, deps: Deps, account: Account
) -> None:
    pool = make_pool(size=2, utilization=0.5)  # top list: 1
    visits(*GOOGLE, 300)
    visits(*BING, 200)
    rebalance(deps, account, pool)
    report = service.diagnostics(deps, account.id, pool.id)
    assert report.top_list_length == 1
    [google, bing] = report.sources
    assert (google.in_top_list, bing.in_top_list) == (True, False)
    assert bing.reason == "outside the top list of 1 source/medium"


def test_rebalancing_twice_changes_nothing_the_second_time(
    make_pool: MakePool,
    database: Database,
    visits: AddVisits,
    deps: Deps,
    account: Account,
    clock: FrozenClock,
) -> None:
    # Size 2: the newcomer can only take the tracker that bing's expiry frees in step 5,
    # which a single pass of the six steps would leave for the next run.
    pool = make_pool(size=2, utilization=1.0, timeline_days=0, window_days=90)
    visits(*GOOGLE, 300)
    visits(*BING, 200)
    visits(*FACEBOOK, 100)
    service.rebalance_now(deps, account.id, pool.id)
    clock.advance(days=1)
    visits(*NEWSLETTER, 400)
    first = service.rebalance_now(deps, account.id, pool.id)
    assert first.changed()
    snapshot = [(t.id, t.status, t.source) for t in trackers(database, pool.id)]

    second = service.rebalance_now(deps, account.id, pool.id)

    assert not second.changed()
    assert [(t.id, t.status, t.source) for t in trackers(database, pool.id)] == snapshot


def test_calls_attribute_to_what_the_tracker_served_at_the_time(
    make_pool: MakePool,
    database: Database,
    visits: AddVisits,
    deps: Deps,
    account: Account,
    clock: FrozenClock,
) -> None:
    pool = make_pool(size=1, utilization=1.0, window_days=10, timeline_days=0)
    start = clock.now()
    visits(*GOOGLE, 200)
    rebalance(deps, account, pool)
    [tracker] = trackers(database, pool.id)
    clock.advance(days=11)  # google's visits left the window
    visits(*BING, 200)
    rebalance(deps, account, pool)

    with database.reader() as db:
        assert served_at(db, tracker.id, start - timedelta(minutes=1)) is None
        assert served_at(db, tracker.id, start + timedelta(days=5)) == GOOGLE
        assert served_at(db, tracker.id, clock.now()) == BING


def test_the_visit_engine_sees_active_trackers_only(
    make_pool: MakePool,
    database: Database,
    visits: AddVisits,
    deps: Deps,
    account: Account,
    clock: FrozenClock,
) -> None:
    # What a visit of each source/medium is offered, through the query the visit engine runs;
    # what the others see is tests/pools/test_visits_see_source_trackers.py's, end to end.
    pool = make_pool(size=2, utilization=0.5, window_days=90)
    visits(*GOOGLE, 200)
    rebalance(deps, account, pool)
    [google] = [t for t in trackers(database, pool.id) if t.status == "active"]
    assert google.source == "google"
    with transaction(database) as tx:
        assert offer_for_source(tx, pool.id, *GOOGLE) == (google.id, google.number)
        assert offer_for_source(tx, pool.id, *BING) is None
    clock.advance(days=1)
    visits(*BING, 300)
    rebalance(deps, account, pool)
    with transaction(database) as tx:
        assert offer_for_source(tx, pool.id, *GOOGLE) is None  # flagged: not shown


def test_the_worker_rebalances_due_pools_once(
    make_pool: MakePool,
    account: Account,
    database: Database,
    visits: AddVisits,
    deps: Deps,
    clock: FrozenClock,
    provider: RecordingSandbox,
) -> None:
    pool = make_pool(size=2, utilization=1.0)
    deleted = make_pool(size=1, name="gone")
    service.delete_pool(deps, account.id, deleted.id)
    visits(*GOOGLE, 200)
    clock.advance(minutes=5)
    url = deps.settings.public_url

    assert rebalance_due_pools(database, provider, public_url=url) == 1
    assert serving(database, pool.id, "active") == {GOOGLE}
    assert rebalance_due_pools(database, provider, public_url=url) == 0  # just done
    with database.reader() as db:
        events = db.scalars(select(PoolEvent.kind).where(PoolEvent.pool_id == pool.id)).all()
    assert events == ["rebalanced"]


def test_the_worker_job_refreshes_routing_for_newly_activated_trackers(
    make_pool: MakePool,
    database: Database,
    visits: AddVisits,
    deps: Deps,
    clock: FrozenClock,
    provider: RecordingSandbox,
) -> None:
    pool = make_pool(size=1, utilization=1.0)
    visits(*GOOGLE, 200)
    clock.advance(minutes=5)

    assert rebalance_job(database, deps.settings, provider) == 1

    [tracker] = trackers(database, pool.id)
    route = routing_table(deps.settings).lookup(tracker.number)
    assert route is not None
    assert (route.forward_to, tracker.status) == (BUSINESS, "active")


def test_a_new_automated_pool_says_in_words_when_it_will_assign_numbers(
    make_pool: MakePool, visits: AddVisits, deps: Deps, account: Account
) -> None:
    pool = make_pool(size=3, utilization=1.0)
    visits(*GOOGLE, 20)
    visits(*BING, 1)
    rebalance(deps, account, pool)
    report = service.diagnostics(deps, account.id, pool.id)
    assert report.summary.startswith(
        "The 3 busiest source/mediums each get a number of their own (3 numbers × utilization 1, "
        "at least "
    )
    source, medium = GOOGLE
    assert report.summary.endswith(
        f"so the pool assigns no number yet: the busiest, {source} / {medium}, has 20 visits; "
        "at this pace it gets a number in about 120 days"
    )
    reasons = {(s.source, s.medium): s.reason for s in report.sources}
    assert reasons[BING].startswith("under the visit threshold: 1 visit in 30 days, 100 needed")
