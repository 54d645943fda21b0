"""A shared number's visits ranked by every signal, with the reasons stored: calls placed
through the real Twilio voice webhook (signed), on both engines."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from callpool.app import create_app
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, Call, Site, Tracker, VisitSession
from callpool.settings import Settings
from callpool.telephony.sandbox.simulate import addons_document
from tests.calls.conftest import CALLER, Factory, ago, calls_in, post_webhook, voice_params


def place_call(
    client: TestClient,
    settings: Settings,
    database: Database,
    tracker: Tracker,
    *,
    call_id: str = "CA1",
    caller: str = CALLER,
    line_type: str | None = None,
) -> Call:
    params = voice_params(tracker.number, call_id=call_id, caller=caller)
    if line_type is not None:
        params["AddOns"] = addons_document(line_type)
    answer = post_webhook(client, settings, "/webhooks/twilio/voice", params)
    assert answer.status_code == 200
    assert "<Dial" in answer.text
    return next(call for call in calls_in(database) if call.provider_call_id == call_id)


def shared_by_two(
    factory: Factory, site: Site, clock: FrozenClock, **quiet_fields: object
) -> tuple[Tracker, VisitSession, VisitSession]:
    """One number held by two visits: ``quiet`` idle for 9 minutes, ``busy`` active a minute
    ago (the latest activity speaks for ``busy``)."""
    tracker = factory.tracker(factory.pool(site))
    quiet = factory.session(
        site,
        source="google",
        medium="cpc",
        last_seen_at=ago(clock, minutes=9),
        **quiet_fields,
    )
    busy = factory.session(
        site, source="facebook", medium="social", last_seen_at=ago(clock, minutes=1)
    )
    until = clock.now() + timedelta(minutes=20)
    factory.lease(tracker, quiet, ago(clock, minutes=20), until)
    factory.lease(tracker, busy, ago(clock, minutes=10), until)
    return tracker, quiet, busy


def test_a_caller_seen_before_beats_the_latest_activity(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    account: Account,
    clock: FrozenClock,
) -> None:
    # Yesterday this caller's call was attributed to a visit of the visitor now back as ``quiet``.
    yesterday = factory.session(site, started_at=ago(clock, days=1))
    factory.call(account, CALLER, session_id=yesterday.id, started_at=ago(clock, days=1))
    tracker, quiet, busy = shared_by_two(factory, site, clock, visitor_id=yesterday.visitor_id)

    call = place_call(client, settings, database, tracker)

    assert call.session_id == quiet.id
    assert call.attribution_reason == "shared_lease_caller_seen_before"
    assert call.confidence == 0.75
    assert call.candidates == [busy.id]
    assert call.ranking == [
        {"session_id": quiet.id, "reasons": ["caller_seen_before"]},
        {"session_id": busy.id, "reasons": ["latest_activity"]},
    ]


def test_another_caller_or_a_withheld_one_is_not_seen_before(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    account: Account,
    clock: FrozenClock,
) -> None:
    yesterday = factory.session(site, started_at=ago(clock, days=1))
    factory.call(account, "anonymous", session_id=yesterday.id, started_at=ago(clock, days=1))
    tracker, _, busy = shared_by_two(factory, site, clock, visitor_id=yesterday.visitor_id)

    withheld = place_call(client, settings, database, tracker, caller="anonymous")
    other = place_call(client, settings, database, tracker, call_id="CA2", caller="+14155550999")

    for call in (withheld, other):
        assert call.session_id == busy.id
        assert call.attribution_reason == "shared_lease_recent_activity"
        assert call.ranking[0] == {"session_id": busy.id, "reasons": ["latest_activity"]}


def test_a_landline_caller_demotes_the_visit_on_a_phone(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    desk = factory.session(site, device="desktop", last_seen_at=ago(clock, minutes=9))
    phone = factory.session(site, device="mobile", last_seen_at=ago(clock, minutes=1))
    until = clock.now() + timedelta(minutes=20)
    factory.lease(tracker, desk, ago(clock, minutes=20), until)
    factory.lease(tracker, phone, ago(clock, minutes=10), until)

    call = place_call(client, settings, database, tracker, line_type="landline")

    assert call.caller_line_type == "landline"
    assert call.session_id == desk.id
    assert call.attribution_reason == "shared_lease_line_type"
    assert call.confidence < 1.0  # unlikely is not impossible: still a shared number
    assert call.ranking == [
        {"session_id": desk.id, "reasons": ["line_type"]},
        {"session_id": phone.id, "reasons": ["line_type_mismatch", "latest_activity"]},
    ]


def test_a_mobile_caller_fits_any_device(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker, quiet, busy = shared_by_two(factory, site, clock, device="desktop")

    call = place_call(client, settings, database, tracker, line_type="mobile")

    assert call.caller_line_type == "mobile"
    assert call.session_id == busy.id
    assert call.ranking == [
        {"session_id": busy.id, "reasons": ["latest_activity"]},
        {"session_id": quiet.id, "reasons": []},
    ]


def test_a_tel_click_that_placed_an_earlier_call_is_no_evidence_for_the_next(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker, quiet, busy = shared_by_two(factory, site, clock)
    factory.tel_click(quiet, ago(clock, seconds=5), tracker.number)

    tapped = place_call(client, settings, database, tracker, caller="+14155550111")
    clock.advance(minutes=3)
    next_caller = place_call(client, settings, database, tracker, call_id="CA2")

    assert tapped.session_id == quiet.id
    assert tapped.attribution_reason == "shared_lease_tel_click"
    assert next_caller.session_id == busy.id
    assert next_caller.attribution_reason == "shared_lease_recent_activity"


def test_one_candidate_has_no_ranking(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    visit = factory.session(site, device="mobile")
    factory.lease(tracker, visit, ago(clock, minutes=5), clock.now() + timedelta(minutes=25))

    call = place_call(client, settings, database, tracker, line_type="landline")

    # A line type never overrules the only visit that had the number.
    assert (call.session_id, call.confidence, call.attribution_reason) == (visit.id, 1.0, "lease")
    assert call.ranking == []


def test_a_signal_left_out_of_the_setting_is_not_used(
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    account: Account,
    clock: FrozenClock,
) -> None:
    yesterday = factory.session(site, started_at=ago(clock, days=1))
    factory.call(account, CALLER, session_id=yesterday.id, started_at=ago(clock, days=1))
    tracker, _, busy = shared_by_two(factory, site, clock, visitor_id=yesterday.visitor_id)
    distrusting = settings.model_copy(
        update={"attribution_evidence": ("tel_click", "line_type", "latest_activity")}
    )

    with TestClient(create_app(distrusting, database)) as client:
        call = place_call(client, distrusting, database, tracker)

    assert call.session_id == busy.id
    assert call.ranking[0] == {"session_id": busy.id, "reasons": ["latest_activity"]}
    assert "caller_seen_before" not in json.dumps(call.ranking)


def test_the_api_shows_the_ranking_with_each_visit_and_its_reasons(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    account: Account,
    clock: FrozenClock,
    auth: dict[str, str],
) -> None:
    yesterday = factory.session(site, started_at=ago(clock, days=1))
    factory.call(account, CALLER, session_id=yesterday.id, started_at=ago(clock, days=1))
    tracker, quiet, busy = shared_by_two(
        factory,
        site,
        clock,
        visitor_id=yesterday.visitor_id,
        device="desktop",
        landing_url="https://acme.test/drains",
    )
    call = place_call(client, settings, database, tracker, line_type="landline")

    detail = client.get(f"/api/v1/calls/{call.id}", headers=auth).json()

    assert detail["caller_line_type"] == "landline"
    assert detail["attribution"]["reason"] == "shared_lease_caller_seen_before"
    first, second = detail["ranking"]
    assert first == {
        "session_id": quiet.id,
        "rank": 1,
        "reasons": ["caller_seen_before", "line_type"],
        "source": "google",
        "medium": "cpc",
        "landing_page": "https://acme.test/drains",
        "device": "desktop",
        "last_seen_at": first["last_seen_at"],
    }
    assert datetime.fromisoformat(first["last_seen_at"]) == ago(clock, minutes=9)
    assert (second["session_id"], second["rank"], second["source"]) == (busy.id, 2, "facebook")
    # ``busy`` has no device recorded: no evidence for or against it from the line type.
    assert second["reasons"] == ["latest_activity"]
    # A call with one visit (or none) has no ranking.
    assert (
        client.get(f"/api/v1/calls/{factory.call(account, CALLER).id}", headers=auth).json()[
            "ranking"
        ]
        == []
    )


def test_the_openapi_document_describes_the_ranking(client: TestClient) -> None:
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]

    ranked = schemas["RankedVisit"]["properties"]
    assert set(ranked) == {
        "session_id",
        "rank",
        "reasons",
        "source",
        "medium",
        "landing_page",
        "device",
        "last_seen_at",
    }
    assert "caller_seen_before" in ranked["reasons"]["description"]
    assert schemas["CallDetail"]["properties"]["ranking"]["items"]["$ref"].endswith("RankedVisit")
    assert "landline" in schemas["CallOut"]["properties"]["caller_line_type"]["description"]


def test_the_evidence_setting_is_read_from_the_environment_and_checked_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CALLPOOL_ATTRIBUTION_EVIDENCE", " caller_seen_before, latest_activity ")
    assert Settings(_env_file=None).attribution_evidence == (  # type: ignore[call-arg]
        "caller_seen_before",
        "latest_activity",
    )
    monkeypatch.setenv("CALLPOOL_ATTRIBUTION_EVIDENCE", "")
    assert Settings(_env_file=None).attribution_evidence == ()  # type: ignore[call-arg]
    for wrong, message in (
        ("tel_clicks", "unknown signal 'tel_clicks'"),
        ("tel_click,tel_click", "named twice"),
    ):
        monkeypatch.setenv("CALLPOOL_ATTRIBUTION_EVIDENCE", wrong)
        with pytest.raises(ValidationError, match=message):
            Settings(_env_file=None)  # type: ignore[call-arg]
