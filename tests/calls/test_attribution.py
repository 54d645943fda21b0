"""Which visit a call is attributed to, placed through the real voice webhook."""

from __future__ import annotations

from fastapi.testclient import TestClient

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Call, Site, Tracker
from callpool.settings import Settings
from tests.calls.conftest import CALLER, Factory, ago, calls_in, post_webhook, voice_params


def place_call(
    client: TestClient,
    settings: Settings,
    database: Database,
    tracker: Tracker,
    *,
    call_id: str = "CA1",
    caller: str = CALLER,
) -> Call:
    answer = post_webhook(
        client,
        settings,
        "/webhooks/twilio/voice",
        voice_params(tracker.number, call_id=call_id, caller=caller),
    )
    assert answer.status_code == 200
    assert "<Dial" in answer.text
    return next(call for call in calls_in(database) if call.provider_call_id == call_id)


def test_a_live_lease_attributes_the_call_to_its_session(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    visit = factory.session(site, source="google", medium="cpc", campaign="spring")
    factory.lease(tracker, visit, ago(clock, minutes=5), clock.now().replace(hour=13))

    call = place_call(client, settings, database, tracker)

    assert call.session_id == visit.id
    assert (call.source, call.medium) == ("google", "cpc")
    assert call.confidence == 1.0
    assert call.attribution_reason == "lease"
    assert call.candidates == []
    assert call.first_call_id is None


def test_a_lease_that_ended_within_the_window_still_attributes(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    visit = factory.session(site, source="bing", medium="organic")
    factory.lease(tracker, visit, ago(clock, hours=5), ago(clock, hours=4))

    call = place_call(client, settings, database, tracker)

    assert call.session_id == visit.id
    assert call.attribution_reason == "recent_lease"
    assert 0.5 < call.confidence < 1.0


def test_a_lease_that_ended_outside_the_window_does_not(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    visit = factory.session(site)
    factory.lease(tracker, visit, ago(clock, hours=26), ago(clock, hours=25))

    call = place_call(client, settings, database, tracker)

    assert call.session_id is None
    assert call.source is None
    assert call.confidence == 0.0
    assert call.attribution_reason == "no_lease"


def test_a_later_holder_of_the_number_takes_the_call_from_an_earlier_one(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    earlier = factory.session(site, source="facebook", medium="social")
    later = factory.session(site, source="google", medium="organic")
    factory.lease(tracker, earlier, ago(clock, hours=3), ago(clock, hours=2, minutes=30))
    factory.lease(tracker, later, ago(clock, hours=2), ago(clock, hours=1))

    call = place_call(client, settings, database, tracker)

    assert call.session_id == later.id
    assert call.candidates == []


def test_shared_number_goes_to_the_visitor_who_clicked_it(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    clicker = factory.session(
        site, source="google", medium="cpc", last_seen_at=ago(clock, minutes=9)
    )
    reader = factory.session(site, source="facebook", medium="social", last_seen_at=clock.now())
    until = clock.now().replace(hour=13)
    factory.lease(tracker, clicker, ago(clock, minutes=20), until)
    factory.lease(tracker, reader, ago(clock, minutes=10), until)
    factory.tel_click(clicker, ago(clock, minutes=1), tracker.number)

    call = place_call(client, settings, database, tracker)

    assert call.session_id == clicker.id
    assert call.attribution_reason == "shared_lease_tel_click"
    assert call.confidence < 1.0
    assert call.candidates == [reader.id]


def test_shared_number_without_a_click_goes_to_the_most_recently_active_visitor(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    idle = factory.session(site, source="google", medium="cpc", last_seen_at=ago(clock, minutes=15))
    busy = factory.session(
        site, source="facebook", medium="social", last_seen_at=ago(clock, minutes=1)
    )
    until = clock.now().replace(hour=13)
    factory.lease(tracker, idle, ago(clock, minutes=20), until)
    factory.lease(tracker, busy, ago(clock, minutes=10), until)
    # A click long before the call is no evidence.
    factory.tel_click(idle, ago(clock, hours=1), tracker.number)

    call = place_call(client, settings, database, tracker)

    assert call.session_id == busy.id
    assert (call.source, call.medium) == ("facebook", "social")
    assert call.attribution_reason == "shared_lease_recent_activity"
    assert call.confidence == 0.5
    assert call.candidates == [idle.id]


def test_a_repeat_caller_without_a_visit_keeps_first_touch(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    visit = factory.session(site, source="google", medium="cpc")
    factory.lease(tracker, visit, ago(clock, minutes=5), clock.now().replace(hour=13))
    first = place_call(client, settings, database, tracker, call_id="CA1")

    clock.advance(days=3)
    again = place_call(client, settings, database, tracker, call_id="CA2")
    clock.advance(days=1)
    third = place_call(client, settings, database, tracker, call_id="CA3")

    assert again.first_call_id == first.id
    assert again.session_id == visit.id
    assert (again.source, again.medium) == ("google", "cpc")
    assert again.attribution_reason == "repeat_caller_first_touch"
    assert 0 < again.confidence < first.confidence
    assert third.first_call_id == first.id


def test_a_repeat_caller_with_a_new_visit_is_attributed_to_it_and_linked(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    old_visit = factory.session(site, source="google", medium="cpc")
    factory.lease(tracker, old_visit, ago(clock, minutes=5), clock.now().replace(hour=13))
    first = place_call(client, settings, database, tracker, call_id="CA1")
    clock.advance(days=2)
    new_visit = factory.session(site, source="newsletter", medium="email")
    factory.lease(tracker, new_visit, ago(clock, minutes=5), clock.now().replace(hour=13))

    again = place_call(client, settings, database, tracker, call_id="CA2")

    assert again.session_id == new_visit.id
    assert again.attribution_reason == "lease"
    assert again.first_call_id == first.id


def test_withheld_callers_are_never_linked_as_repeat_callers(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    visit = factory.session(site)
    factory.lease(tracker, visit, ago(clock, minutes=5), ago(clock, minutes=-5))
    place_call(client, settings, database, tracker, call_id="CA1", caller="anonymous")
    clock.advance(days=2)

    again = place_call(client, settings, database, tracker, call_id="CA2", caller="anonymous")

    assert again.first_call_id is None
    assert again.session_id is None


def test_automated_tracker_attributes_to_its_source_at_call_time(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site, kind="automated"), source="yahoo", medium="cpc")
    factory.assignment(tracker, "google", "organic", ago(clock, days=10), ago(clock, days=2))
    factory.assignment(tracker, "facebook", "social", ago(clock, days=2), None)

    current = place_call(client, settings, database, tracker, call_id="CA1", caller="+14155550001")

    assert (current.source, current.medium) == ("facebook", "social")
    assert current.session_id is None
    assert current.attribution_reason == "source_assignment"
    assert current.confidence == 1.0


def test_automated_tracker_call_during_an_earlier_assignment_gets_that_source(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site, kind="manual"))
    start = clock.now()
    factory.assignment(tracker, "google", "organic", start, start.replace(hour=14))
    factory.assignment(tracker, "facebook", "social", start.replace(hour=14), None)

    clock.advance(hours=1)
    during_first = place_call(client, settings, database, tracker, call_id="CA1")
    clock.advance(hours=2)
    during_second = place_call(client, settings, database, tracker, call_id="CA2", caller="+1")

    assert (during_first.source, during_first.medium) == ("google", "organic")
    assert (during_second.source, during_second.medium) == ("facebook", "social")


def test_automated_tracker_with_no_assignment_at_call_time_is_unattributed(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site, kind="automated"), status="available")
    factory.assignment(tracker, "google", "organic", ago(clock, days=10), ago(clock, days=2))

    call = place_call(client, settings, database, tracker)

    assert call.source is None
    assert call.attribution_reason == "no_assignment"


def test_a_click_on_another_tracking_number_is_no_evidence(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    idle = factory.session(site, source="google", medium="cpc", last_seen_at=ago(clock, minutes=15))
    busy = factory.session(site, source="bing", medium="cpc", last_seen_at=ago(clock, minutes=1))
    until = clock.now().replace(hour=13)
    factory.lease(tracker, idle, ago(clock, minutes=20), until)
    factory.lease(tracker, busy, ago(clock, minutes=10), until)
    # The idle visitor clicked the number of another pool on the same page.
    factory.tel_click(idle, ago(clock, minutes=1), "+15125559876")

    call = place_call(client, settings, database, tracker)

    assert call.session_id == busy.id
    assert call.attribution_reason == "shared_lease_recent_activity"
