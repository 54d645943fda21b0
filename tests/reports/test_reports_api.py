"""The reports as an API client sees them, on SQLite and PostgreSQL, over the known world."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callpool.models import Account
from callpool.reports.expressions import landing_path_of

from .conftest import Make, World

PERIOD = {"start": "2026-01-01", "end": "2026-01-04"}  # end day included: [01-01, 01-05)


def get(client: TestClient, auth: dict[str, str], path: str, **params: Any) -> Any:
    response = client.get(f"/api/v1/reports/{path}", params={**PERIOD, **params}, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def table(report: Any) -> list[tuple[Any, ...]]:
    return [
        (row["value"], row["sessions"], row["calls"], row["first_time_callers"], row["is_other"])
        for row in report["rows"]
    ]


def test_breakdown_by_source(client: TestClient, auth: dict[str, str], world: World) -> None:
    report = get(client, auth, "breakdown", dimension="source")

    # Bots, and sessions or calls outside the period, are not counted; the outsider's
    # google session and call are not either. Ties on calls go to more sessions.
    assert table(report) == [
        ("google", 3, 3, 2, False),
        ("facebook", 1, 1, 0, False),  # +15550009 had called in December
        (None, 0, 1, 1, False),  # the busy call nobody could be attributed
    ]
    assert report["rows"][0]["conversion_rate"] == 1.0
    assert report["rows"][2]["conversion_rate"] is None
    assert (report["sessions"], report["calls"]) == (4, 5)
    assert report["period"] == {"start": "2026-01-01T00:00:00Z", "end": "2026-01-05T00:00:00Z"}


def test_breakdown_top_n_sums_the_rest_into_other(
    client: TestClient, auth: dict[str, str], world: World
) -> None:
    report = get(client, auth, "breakdown", dimension="source", limit=1)

    assert table(report) == [("google", 3, 3, 2, False), (None, 1, 2, 1, True)]
    assert report["rows"][1]["conversion_rate"] == 2.0


@pytest.mark.parametrize(
    ("dimension", "expected"),
    [
        (
            "source_medium",
            [
                ("google / cpc", 2, 2, 1, False),
                ("facebook / paid", 1, 1, 0, False),
                ("google / organic", 1, 1, 1, False),
                (None, 0, 1, 1, False),
            ],
        ),
        (
            "campaign",
            [
                ("spring", 2, 2, 1, False),  # as many calls as None, more sessions
                (None, 1, 2, 2, False),  # s3 has no campaign; the busy call has no session
                ("=HYPERLINK(1)", 1, 1, 0, False),
            ],
        ),
        (
            "term",
            [
                (None, 2, 3, 2, False),
                ("emergency plumber", 1, 2, 1, False),
                ("drain", 1, 0, 0, False),
            ],
        ),
        (
            "landing_page",
            [
                ("/plumbing", 2, 3, 1, False),  # query and fragment dropped
                ("/", 1, 1, 1, False),
                (None, 0, 1, 1, False),
                ("/drains", 1, 0, 0, False),
            ],
        ),
    ],
)
def test_breakdown_by_each_dimension(
    client: TestClient,
    auth: dict[str, str],
    world: World,
    dimension: str,
    expected: list[tuple[Any, ...]],
) -> None:
    assert table(get(client, auth, "breakdown", dimension=dimension)) == expected


def test_period_bounds_are_half_open(
    client: TestClient, auth: dict[str, str], world: World
) -> None:
    # A date-time end is exclusive: the call at 01-02 10:05 is in, the one at 12:00 is out.
    report = get(
        client, auth, "breakdown", start="2026-01-02T10:05:00Z", end="2026-01-02T12:00:00Z"
    )

    assert table(report) == [("google", 1, 1, 1, False)]


def test_totals(client: TestClient, auth: dict[str, str], world: World) -> None:
    totals = get(client, auth, "totals")

    assert totals == {
        "period": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-05T00:00:00Z"},
        "calls": 5,
        "answered": 3,
        "missed": 2,
        "average_duration": 70.0,
        "attributed": 4,
        "attributed_share": 0.8,
        "sessions": 4,
        "first_time_callers": 3,
    }


def test_calls_over_time_by_day(client: TestClient, auth: dict[str, str], world: World) -> None:
    series = get(client, auth, "timeseries")

    assert series["interval"] == "day"
    assert [
        (bucket["start"][:10], bucket["calls"], bucket["answered"], bucket["sessions"])
        for bucket in series["buckets"]
    ] == [
        ("2026-01-01", 0, 0, 0),
        ("2026-01-02", 2, 2, 2),
        ("2026-01-03", 2, 1, 2),
        ("2026-01-04", 1, 0, 0),
    ]


def test_calls_over_time_by_hour_for_short_periods(
    client: TestClient, auth: dict[str, str], world: World
) -> None:
    series = get(client, auth, "timeseries", start="2026-01-02T10:00", end="2026-01-02T13:00")

    assert series["interval"] == "hour"
    assert [
        (bucket["start"], bucket["calls"], bucket["sessions"]) for bucket in series["buckets"]
    ] == [
        ("2026-01-02T10:00:00Z", 1, 1),
        ("2026-01-02T11:00:00Z", 0, 1),
        ("2026-01-02T12:00:00Z", 1, 0),
    ]


def test_pool_health(client: TestClient, auth: dict[str, str], world: World) -> None:
    [health] = get(client, auth, "pools")

    assert health["pool_id"] == world.pool_id
    assert health["peak_concurrent_leases"] == 3  # 10:20–10:30; 10:30 ends one, starts one
    assert health["leases"] == 5  # started in the period
    assert health["exhaustion_events"] == 2
    assert health["trackers_by_status"] == {
        "available": 3,
        "active": 0,
        "flagged": 0,
        "retiring": 0,
    }
    assert [
        (b["start"][:10], b["peak_leases"], b["trackers"], b["exhaustion_events"])
        for b in health["buckets"]
    ] == [
        ("2026-01-01", 1, 4, 0),  # a lease from 12-31 runs until 00:20; a tracker released
        ("2026-01-02", 3, 3, 2),
        ("2026-01-03", 1, 3, 0),
        ("2026-01-04", 0, 3, 0),
    ]
    assert health["buckets"][1]["utilization"] == 1.0
    # Ran out twice at size 5: 5 + 20 % beats the peak's 3 + 20 %.
    assert health["recommended_size"] == 6


def test_pool_health_by_hour_carries_leases_across_quiet_buckets(
    client: TestClient, auth: dict[str, str], world: World
) -> None:
    busy = get(
        client, auth, f"pools/{world.pool_id}", start="2026-01-02T10:00", end="2026-01-02T12:00"
    )
    quiet = get(
        client, auth, f"pools/{world.pool_id}", start="2026-01-03T10:00", end="2026-01-03T12:00"
    )

    assert [b["peak_leases"] for b in busy["buckets"]] == [3, 0]  # the last lease ends 11:00
    assert [b["peak_leases"] for b in quiet["buckets"]] == [1, 1]  # one lease 08:00–14:00


def test_calls_csv(client: TestClient, auth: dict[str, str], world: World) -> None:
    response = client.get("/api/v1/reports/calls.csv", params=PERIOD, headers=auth)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "calls-2026-01-01-to-2026-01-04.csv" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == [
        "time", "caller", "tracker", "duration", "status", "recording_url", "source",
        "medium", "campaign", "keyword", "landing_page", "confidence",
    ]  # fmt: skip
    assert rows[1] == [
        "2026-01-02T10:05:00Z", "+15550001", "+15125550111", "120", "completed",
        "https://recordings.test/c1.mp3", "google", "cpc", "spring", "emergency plumber",
        "https://acme.test/plumbing?gclid=abc", "0.90",
    ]  # fmt: skip
    assert [row[0] for row in rows[1:]] == [
        "2026-01-02T10:05:00Z",
        "2026-01-02T12:00:00Z",
        "2026-01-03T09:10:00Z",
        "2026-01-03T16:00:00Z",
        "2026-01-04T08:00:00Z",
    ]
    # A campaign that a visitor typed into a URL cannot run as a spreadsheet formula.
    assert rows[4][8] == "'=HYPERLINK(1)"
    assert rows[5][1:9] == ["+15550003", "+15125550111", "", "busy", "", "", "", ""]


def test_outsider_sees_only_their_own_data(client: TestClient, world: World) -> None:
    outsider = {"Authorization": f"Bearer {world.outsider_key}"}

    report = get(client, outsider, "breakdown")
    assert table(report) == [("google", 1, 1, 1, False)]
    assert [pool["pool_id"] for pool in get(client, outsider, "pools")] == [world.outsider_pool_id]
    csv_text = client.get("/api/v1/reports/calls.csv", params=PERIOD, headers=outsider).text
    assert len(csv_text.strip().splitlines()) == 2
    assert "999" in csv_text


@pytest.mark.parametrize("path", ["breakdown", "totals", "timeseries", "pools", "calls.csv"])
def test_another_accounts_site_is_not_found(
    client: TestClient, auth: dict[str, str], world: World, path: str
) -> None:
    response = client.get(
        f"/api/v1/reports/{path}",
        params={**PERIOD, "site_id": world.outsider_site_id},
        headers=auth,
    )

    assert response.status_code == 404
    assert response.json()["detail"] == f"site {world.outsider_site_id} not found"


def test_another_accounts_pool_is_not_found(
    client: TestClient, auth: dict[str, str], world: World
) -> None:
    response = client.get(f"/api/v1/reports/pools/{world.outsider_pool_id}", headers=auth)

    assert response.status_code == 404


def test_site_filter_keeps_the_sites_rows(
    client: TestClient, auth: dict[str, str], world: World
) -> None:
    report = get(client, auth, "totals", site_id=world.site_id)

    assert (report["calls"], report["sessions"]) == (5, 4)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"start": "2026-13-01"}, "start", "start: '2026-13-01' is not an ISO date"),
        ({"end": "yesterday"}, "end", "end: 'yesterday' is not an ISO date"),
        ({"start": "2026-02-01", "end": "2026-01-01"}, "start", "must be before end"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "start", "longer than three years"),
        (
            {"start": "2026-01-01", "end": "2026-03-31", "interval": "hour"},
            "interval",
            "too many",
        ),
    ],
)
def test_bad_periods_are_rejected_with_a_message(
    client: TestClient,
    auth: dict[str, str],
    world: World,
    params: dict[str, str],
    field: str,
    message: str,
) -> None:
    response = client.get("/api/v1/reports/timeseries", params=params, headers=auth)

    assert response.status_code == 422
    assert response.json()["field"] == field
    assert message in response.json()["detail"]


def test_default_period_is_the_last_30_days(
    client: TestClient, auth: dict[str, str], world: World
) -> None:
    # The test clock reads 2026-01-05 12:00: the 30 days end with today.
    response = client.get("/api/v1/reports/totals", headers=auth)

    assert response.json()["period"] == {
        "start": "2025-12-07T00:00:00Z",
        "end": "2026-01-06T00:00:00Z",
    }
    assert response.json()["calls"] == 7  # December's and 01-05's calls as well


def test_reports_need_an_api_key(client: TestClient, world: World) -> None:
    assert client.get("/api/v1/reports/totals").status_code == 401
    assert client.get("/api/v1/reports/calls.csv").status_code == 401


def test_landing_page_paths_are_the_same_on_both_engines(
    client: TestClient, auth: dict[str, str], make: Make, account: Account
) -> None:
    urls = [
        "https://acme.test/plumbing?gclid=abc#top",
        "https://acme.test",
        "https://acme.test?utm_source=x",
        "http://acme.test:8080/a/b/",
        "/relative/page?x=1",
    ]
    site = make.site(account)
    for url in urls:
        make.session(site, "01-02 10:00", "google", "organic", landing_url=url)

    report = get(client, auth, "breakdown", dimension="landing_page")

    assert sorted(row["value"] for row in report["rows"]) == sorted(
        {landing_path_of(url) for url in urls}
    )
    assert sorted(row["value"] for row in report["rows"]) == [
        "/",
        "/a/b/",
        "/plumbing",
        "/relative/page",
    ]


def test_a_period_starting_mid_hour_counts_only_from_its_start(
    client: TestClient, auth: dict[str, str], world: World
) -> None:
    series = get(client, auth, "timeseries", start="2026-01-02T10:30", end="2026-01-02T12:00")

    assert [
        (bucket["start"], bucket["calls"], bucket["sessions"]) for bucket in series["buckets"]
    ] == [("2026-01-02T10:00:00Z", 0, 0), ("2026-01-02T11:00:00Z", 0, 1)]
