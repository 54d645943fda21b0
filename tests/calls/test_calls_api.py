"""GET /api/v1/calls and /api/v1/calls/{id}: attribution, journey, pages, tenant walls."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from callpool.accounts.service import create_api_key
from callpool.calls.schemas import ClickIds
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Site
from callpool.models.visit import CLICK_IDS
from callpool.settings import Settings
from tests.calls.conftest import CALLER, Factory, ago, post_webhook, voice_params


def call(client: TestClient, settings: Settings, number: str, call_id: str, caller: str) -> None:
    params = voice_params(number, call_id=call_id, caller=caller)
    assert post_webhook(client, settings, "/webhooks/twilio/voice", params).status_code == 200


def test_calls_are_listed_newest_first_with_their_attribution(
    client: TestClient,
    settings: Settings,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
    auth: dict[str, str],
) -> None:
    pool = factory.pool(site)
    tracker = factory.tracker(pool)
    visit = factory.session(
        site,
        source="google",
        medium="cpc",
        campaign="spring",
        term="emergency plumber",
        gclid="Cj0KCQ",
        landing_url="https://acme.test/drains?gclid=Cj0KCQ",
    )
    factory.lease(tracker, visit, clock.now(), clock.now() + timedelta(hours=1))
    call(client, settings, tracker.number, "CA1", CALLER)
    clock.advance(minutes=10)
    call(client, settings, tracker.number, "CA2", "+14155550999")

    answer = client.get("/api/v1/calls", headers=auth)

    assert answer.status_code == 200
    newest, oldest = answer.json()["calls"]
    assert [newest["provider_call_id"], oldest["provider_call_id"]] == ["CA2", "CA1"]
    assert oldest["from_number"] == CALLER
    assert oldest["tracker_number"] == tracker.number
    assert oldest["pool"] == {"id": pool.id, "name": pool.name, "kind": "session"}
    attribution = oldest["attribution"]
    assert attribution["session_id"] == visit.id
    assert (attribution["source"], attribution["medium"]) == ("google", "cpc")
    assert (attribution["campaign"], attribution["term"]) == ("spring", "emergency plumber")
    assert attribution["click_ids"]["gclid"] == "Cj0KCQ"
    assert attribution["landing_page"] == "https://acme.test/drains?gclid=Cj0KCQ"
    assert attribution["confidence"] == 1.0
    assert attribution["reason"] == "lease"
    assert answer.json()["next_cursor"] is None


def test_calls_come_in_pages(
    client: TestClient,
    settings: Settings,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
    auth: dict[str, str],
) -> None:
    tracker = factory.tracker(factory.pool(site))
    for n in range(5):
        call(client, settings, tracker.number, f"CA{n}", f"+1415555010{n}")
        if n != 2:  # two calls in the same instant must still page without loss
            clock.advance(minutes=1)

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(3):
        params: dict[str, str | int] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/calls", params=params, headers=auth).json()
        seen += [c["provider_call_id"] for c in page["calls"]]
        cursor = page["next_cursor"]

    assert seen == ["CA4", "CA3", "CA2", "CA1", "CA0"]
    assert cursor is None


def test_a_bad_cursor_or_limit_is_a_clear_422(client: TestClient, auth: dict[str, str]) -> None:
    bad_cursor = client.get("/api/v1/calls", params={"cursor": "nonsense"}, headers=auth)
    bad_limit = client.get("/api/v1/calls", params={"limit": 0}, headers=auth)

    assert bad_cursor.status_code == 422
    assert "cursor" in bad_cursor.json()["detail"]
    assert bad_limit.status_code == 422


def test_a_call_shows_the_visitors_journey_and_earlier_calls(
    client: TestClient,
    settings: Settings,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
    auth: dict[str, str],
) -> None:
    tracker = factory.tracker(factory.pool(site))
    start = ago(clock, minutes=10)
    visit = factory.session(site, started_at=start, landing_url="https://acme.test/")
    factory.lease(tracker, visit, start, clock.now() + timedelta(minutes=30))
    factory.pageview(visit, "https://acme.test/", start)
    factory.pageview(visit, "https://acme.test/contact", start + timedelta(minutes=4))
    call(client, settings, tracker.number, "CA1", CALLER)
    clock.advance(days=2)  # past the attribution window: no visit of its own
    call(client, settings, tracker.number, "CA2", CALLER)
    listed = client.get("/api/v1/calls", headers=auth).json()["calls"]
    second, first = listed[0]["id"], listed[1]["id"]

    answer = client.get(f"/api/v1/calls/{second}", headers=auth)

    assert answer.status_code == 200
    journey = answer.json()["journey"]
    assert answer.json()["attribution"]["reason"] == "repeat_caller_first_touch"
    assert answer.json()["attribution"]["first_call_id"] == first
    assert journey["landing_page"] == "https://acme.test/"
    assert [(p["url"], p["seconds_from_start"]) for p in journey["pageviews"]] == [
        ("https://acme.test/", 0),
        ("https://acme.test/contact", 240),
    ]
    assert journey["seconds_to_call"] == 2 * 86400 + 600
    assert [c["id"] for c in journey["previous_calls"]] == [first]
    first_journey = client.get(f"/api/v1/calls/{first}", headers=auth).json()["journey"]
    assert first_journey["seconds_to_call"] == 600
    assert first_journey["previous_calls"] == []


def test_another_account_sees_none_of_the_calls(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    auth: dict[str, str],
) -> None:
    tracker = factory.tracker(factory.pool(site))
    call(client, settings, tracker.number, "CA1", CALLER)
    mine = client.get("/api/v1/calls", headers=auth).json()["calls"][0]["id"]
    outsider = factory.account("Outsider Ltd")
    with database.session() as db:
        outsider_key = create_api_key(db, outsider.id, "theirs")
    theirs = {"Authorization": f"Bearer {outsider_key}"}

    assert client.get("/api/v1/calls", headers=theirs).json() == {"calls": [], "next_cursor": None}
    hidden = client.get(f"/api/v1/calls/{mine}", headers=theirs)
    assert hidden.status_code == 404
    assert client.get(f"/api/v1/calls/{mine + 1000}", headers=auth).status_code == 404
    assert client.get("/api/v1/calls").status_code == 401


def test_calls_api_is_in_the_openapi_schema(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]

    assert "/api/v1/calls" in paths
    assert "/api/v1/calls/{call_id}" in paths
    assert not any(path.startswith("/webhooks") for path in paths)


def test_a_call_shows_every_click_id_a_session_keeps() -> None:
    """One list of click ids (``models.visit.CLICK_IDS``): the API shows each one."""
    assert tuple(ClickIds.model_fields) == CLICK_IDS
