"""The Google Ads feed: set up on the dashboard, fetched by URL, parsed back and compared with
Google's click-conversion template; times in the account's zone; only qualifying calls."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select

from callpool.calls.service import simulate_call
from callpool.clock import FrozenClock
from callpool.models import Call
from callpool.settings import Settings
from tests.calls.conftest import Factory
from tests.dashboard.conftest import post_form, sign_in
from tests.integrations.conftest import Setup

TEMPLATE_HEADER = [
    "Google Click ID",
    "Conversion Name",
    "Conversion Time",
    "Conversion Value",
    "Conversion Currency",
]


def call_from_visit(
    factory: Factory,
    setup: Setup,
    settings: Settings,
    name: str,
    *,
    seconds: int | None,
    caller: str = "+14155550123",
    **click_ids: str,
) -> Call:
    """A visit holding a tracker of its own, then a call to it, stored as a carrier's would be."""
    now = factory.clock.now()
    tracker = factory.tracker(setup.pool)
    session = factory.session(setup.site, started_at=now - timedelta(minutes=3), **click_ids)
    factory.lease(tracker, session, now - timedelta(minutes=3), now + timedelta(minutes=27))
    routed = simulate_call(
        factory.database,
        settings,
        to_number=tracker.number,
        from_number=caller,
        call_id=f"CA-{name}",
        answered_seconds=seconds,
    )
    assert routed is not None
    with factory.database.reader() as db:
        return db.scalars(select(Call).where(Call.provider_call_id == f"CA-{name}")).one()


def set_up_feed(client: TestClient, fields: dict[str, str]) -> str:
    """Save the Google Ads form as a user does; the feed URL the page shows."""
    saved = post_form(client, "/dashboard/ads", "/dashboard/ads/google", fields)
    assert saved.status_code == 200, saved.text
    url = re.search(r"<code class=\"secret\" data-feed-url>([^<]+)</code>", saved.text)
    assert url, saved.text
    return url.group(1).removeprefix("https://callpool.test")


def parse(body: str) -> tuple[str, list[str], list[list[str]]]:
    first, rest = body.split("\r\n", 1)
    rows = list(csv.reader(io.StringIO(rest)))
    return first, rows[0], rows[1:]


def test_the_feed_is_googles_template_with_qualifying_calls_in_the_accounts_zone(
    client: TestClient,
    settings: Settings,
    factory: Factory,
    setup: Setup,
    clock: FrozenClock,
) -> None:
    factory.user(setup.account)
    sign_in(client, "owner@acme.test")

    old_at = clock.now() - timedelta(days=91)
    now = clock.now()
    clock.set(old_at)
    call_from_visit(
        factory, setup, settings, "too-old", seconds=300, gclid="G-OLD", caller="+14155550995"
    )
    clock.set(now)
    first = call_from_visit(factory, setup, settings, "first", seconds=120, gclid="G-FIRST")
    clock.advance(minutes=10)
    call_from_visit(
        factory, setup, settings, "short", seconds=20, gclid="G-SHORT", caller="+14155550999"
    )
    call_from_visit(
        factory, setup, settings, "missed", seconds=None, gclid="G-MISSED", caller="+14155550998"
    )
    call_from_visit(factory, setup, settings, "no-click", seconds=200, caller="+14155550997")
    call_from_visit(
        factory, setup, settings, "ios", seconds=200, gbraid="GB-1", caller="+14155550996"
    )
    clock.advance(minutes=10)
    again = call_from_visit(factory, setup, settings, "again", seconds=90, gclid="G-AGAIN")
    assert again.first_call_id is not None  # the same caller as "first": a repeat caller

    url = set_up_feed(
        client,
        {
            "name": "Phone call, from ads",
            "min_duration": "60",
            "value": "49.9",
            "currency": "eur",
            "time_zone": "America/New_York",
        },
    )
    answer = client.get(url)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    parameters, header, rows = parse(answer.text)
    assert parameters == "Parameters:TimeZone=America/New_York"
    assert header == TEMPLATE_HEADER
    zone = ZoneInfo("America/New_York")
    assert rows == [
        [
            "G-FIRST",
            "Phone call, from ads",
            first.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            "49.90",
            "EUR",
        ],
        [
            "G-AGAIN",
            "Phone call, from ads",
            again.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            "49.90",
            "EUR",
        ],
    ]
    assert first.started_at.astimezone(zone).utcoffset() != timedelta(0)  # really converted

    page = client.get("/dashboard/ads")
    assert "Google last fetched it" in page.text
    assert "2 conversions in it" in page.text
    assert "1 qualifying call came from iOS clicks" in page.text  # gbraid only: not in the file
    assert "Goals → Conversions → Uploads" in page.text
    assert f"https://callpool.test{url}" in page.text

    # First-time callers only: the repeat call leaves the file.
    set_up_feed(
        client,
        {
            "name": "Phone call, from ads",
            "min_duration": "60",
            "first_time_only": "on",
            "value": "0",
            "currency": "USD",
            "time_zone": "UTC",
        },
    )
    parameters, _, rows = parse(client.get(url).text)
    assert parameters == "Parameters:TimeZone=UTC"
    assert [row[0] for row in rows] == ["G-FIRST"]
    assert rows[0][2:] == [first.started_at.strftime("%Y-%m-%d %H:%M:%S"), "0.00", "USD"]


def test_the_url_is_a_secret_that_can_be_rotated_and_bad_input_changes_nothing(
    client: TestClient, factory: Factory, setup: Setup
) -> None:
    factory.user(setup.account)
    sign_in(client, "owner@acme.test")
    assert client.get("/feeds/google-ads/not-a-token.csv").status_code == 404
    fields = {
        "name": "Calls",
        "min_duration": "60",
        "value": "0",
        "currency": "USD",
        "time_zone": "UTC",
    }
    url = set_up_feed(client, fields)
    assert client.get(url).status_code == 200

    for bad, field_message in (
        ({"time_zone": "Mars/Olympus"}, "is not a time zone name"),
        ({"currency": "euro"}, "three-letter ISO 4217 code"),
        ({"min_duration": "-5"}, "whole number of seconds"),
        ({"name": ""}, "conversion action&#39;s name"),
    ):
        refused = post_form(client, "/dashboard/ads", "/dashboard/ads/google", {**fields, **bad})
        assert refused.status_code == 422
        assert field_message in refused.text
    assert client.get(url).text.startswith("Parameters:TimeZone=UTC\r\n")

    rotated = post_form(client, "/dashboard/ads", "/dashboard/ads/google/rotate", {})
    assert "the old one no longer works" in rotated.text
    assert client.get(url).status_code == 404
    new = re.search(r"data-feed-url>https://callpool.test([^<]+)<", rotated.text)
    assert new
    assert new.group(1) != url
    assert client.get(new.group(1)).status_code == 200


def test_the_feed_is_set_up_read_and_rotated_through_the_api(
    client: TestClient,
    factory: Factory,
    setup: Setup,
    settings: Settings,
    auth: dict[str, str],
    outsider_auth: dict[str, str],
) -> None:
    api = "/api/v1/integrations/google-ads"
    assert client.get(api, headers=auth).status_code == 404  # nothing set up yet
    body = {
        "conversion_name": "Phone call",
        "min_duration": 30,
        "value": 49.9,
        "currency": "eur",
        "time_zone": "Europe/Paris",
    }
    saved = client.put(api, json=body, headers=auth)
    assert saved.status_code == 200, saved.text
    feed = saved.json()
    assert {key: feed[key] for key in body} == {**body, "currency": "EUR", "value": "49.90"}
    assert feed["first_time_only"] is False
    call = call_from_visit(factory, setup, settings, "api", seconds=45, gclid="Cj0-api")

    url = feed["feed_url"].removeprefix("https://callpool.test")
    first, header, rows = parse(client.get(url).text)
    assert first == "Parameters:TimeZone=Europe/Paris"
    assert header == TEMPLATE_HEADER
    local = call.started_at.astimezone(ZoneInfo("Europe/Paris")).strftime("%Y-%m-%d %H:%M:%S")
    assert rows == [["Cj0-api", "Phone call", local, "49.90", "EUR"]]
    assert client.get(api, headers=auth).json()["conversions_in_feed"] == 1

    # Without a time zone, the account's stays; bad input changes nothing.
    kept = client.put(api, json={"conversion_name": "Calls"}, headers=auth).json()
    assert (kept["time_zone"], kept["min_duration"], kept["value"]) == ("Europe/Paris", 60, "0.00")
    for bad, field in (
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"conversion_name": "Calls", "currency": "euro"}, "currency"),
        ({"conversion_name": "Calls", "value": -1}, "value"),
        ({"conversion_name": " "}, "conversion_name"),
    ):
        refused = client.put(api, json={"conversion_name": "Calls", **bad}, headers=auth)
        assert refused.status_code == 422, bad
        assert field in refused.text
    assert client.get(api, headers=auth).json()["conversion_name"] == "Calls"

    rotated = client.post(f"{api}/rotate-url", headers=auth).json()
    assert rotated["feed_url"] != feed["feed_url"]
    assert client.get(url).status_code == 404
    # Another account sees no feed and cannot rotate this one.
    assert client.get(api, headers=outsider_auth).status_code == 404
    assert client.post(f"{api}/rotate-url", headers=outsider_auth).status_code == 404
    assert client.get(api, headers=auth).json()["feed_url"] == rotated["feed_url"]
