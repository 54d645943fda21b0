"""The routing table: refreshed from the database, persisted atomically, loaded at start."""

from __future__ import annotations

import json
from dataclasses import replace

from callpool.calls.routing import RoutingTable, refresh_routing, routing_table
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Pool, Tracker
from callpool.models.site import Site
from callpool.settings import Settings
from tests.factories import BUSINESS, Factory


def test_refresh_follows_pool_changes_and_drops_released_trackers(
    settings: Settings, database: Database, factory: Factory, site: Site, clock: FrozenClock
) -> None:
    pool = factory.pool(site, record=False)
    kept = factory.tracker(pool)
    released = factory.tracker(pool)
    table = refresh_routing(database, settings)
    route = table.lookup(kept.number)
    assert route is not None
    assert (route.forward_to, route.record) == (BUSINESS, False)

    with database.session() as db:
        db.get_one(Pool, pool.id).original_number = "+15125551111"
        db.get_one(Pool, pool.id).record_calls = True
        db.get_one(Tracker, released.id).status = "released"
    refresh_routing(database, settings)

    assert routing_table(settings) is table
    route = table.lookup(kept.number)
    assert route is not None
    assert (route.forward_to, route.record) == ("+15125551111", True)
    assert table.lookup(released.number) is None
    on_disk = json.loads(settings.routing_cache_path.read_text())
    assert set(on_disk["routes"]) == {kept.number}
    assert on_disk["routes"][kept.number]["forward_to"] == "+15125551111"
    assert list(settings.routing_cache_path.parent.glob("*.tmp")) == []


def test_a_fresh_table_loads_the_file_and_survives_a_damaged_one(
    settings: Settings, database: Database, factory: Factory, site: Site
) -> None:
    tracker = factory.tracker(factory.pool(site))
    refresh_routing(database, settings)

    fresh = RoutingTable(settings.routing_cache_path)
    assert fresh.load()
    assert fresh.lookup(tracker.number) is not None

    settings.routing_cache_path.write_text('{"routes": {"+1": {"numb')
    damaged = RoutingTable(settings.routing_cache_path)
    assert not damaged.load()
    assert len(damaged) == 0


def test_an_unchanged_table_is_not_rewritten_and_a_refresh_undoes_a_stale_route(
    settings: Settings, database: Database, factory: Factory, site: Site
) -> None:
    tracker = factory.tracker(factory.pool(site))
    table = refresh_routing(database, settings)
    written = settings.routing_cache_path.stat()

    refresh_routing(database, settings)  # nothing changed in the database
    again = settings.routing_cache_path.stat()
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)

    route = table.lookup(tracker.number)
    assert route is not None
    table.remember(replace(route, forward_to="+15125559999"))  # e.g. seen just before a change
    refresh_routing(database, settings)  # the database says otherwise: it wins
    route = table.lookup(tracker.number)
    assert route is not None
    assert route.forward_to == BUSINESS
