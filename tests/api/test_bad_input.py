"""Input that used to crash the server: each gets a 4xx with a message and changes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callpool.db import Database
from callpool.models import ApiKey, Site

HUGE_IDS = ("0", str(2**31), str(2**63), str(2**70))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/sites/{id}"),
        ("DELETE", "/api/v1/sites/{id}"),
        ("GET", "/api/v1/calls/{id}"),
        ("GET", "/api/v1/pools/{id}"),
        ("GET", "/api/v1/pools/{id}/trackers"),
        ("POST", "/api/v1/api-keys/{id}/revoke"),
        ("GET", "/api/v1/reports/pools/{id}"),
        ("GET", "/api/v1/pools?site_id={id}"),
        ("GET", "/api/v1/reports/totals?site_id={id}"),
    ],
)
def test_ids_no_row_can_have_are_404(
    client: TestClient, auth: dict[str, str], method: str, path: str
) -> None:
    for huge in HUGE_IDS:
        response = client.request(method, path.format(id=huge), headers=auth)
        assert response.status_code == 404, (huge, response.text)
        assert response.json()["detail"]


def test_nul_bytes_and_out_of_range_numbers_are_422_and_store_nothing(
    client: TestClient, auth: dict[str, str], database: Database
) -> None:
    for path, body in (
        ("/api/v1/sites", {"name": "Acme\x00"}),
        ("/api/v1/sites", {"name": "Acme", "allowed_origins": ["https://acme\x00.test"]}),
        ("/api/v1/api-keys", {"name": "ci\x00"}),
        ("/api/v1/pools", {"site_id": 2**63, "name": "x", "original_number": "+15125550123"}),
    ):
        response = client.post(path, json=body, headers=auth)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"]
    assert client.get("/api/v1/sessions/abc%00", headers=auth).status_code == 422
    assert client.get(f"/api/v1/sessions?offset={2**63}", headers=auth).status_code == 422
    with database.reader() as db:
        assert db.scalar(select(func.count()).select_from(Site)) == 0
        assert db.scalar(select(func.count()).select_from(ApiKey)) == 1  # the test's own


def test_domain_errors_answer_as_documented(client: TestClient, auth: dict[str, str]) -> None:
    refused = client.get("/api/v1/calls?cursor=made-up", headers=auth)
    assert refused.status_code == 422
    assert refused.json() == {"detail": "cursor is not one this API returned", "field": "cursor"}
    document = client.get("/api/v1/openapi.json").json()
    answers = document["paths"]["/api/v1/calls"]["get"]["responses"]["422"]
    shapes = answers["content"]["application/json"]["schema"]["anyOf"]
    assert {"$ref": "#/components/schemas/Problem"} in shapes
    assert "401" in document["paths"]["/api/v1/calls/{call_id}"]["get"]["responses"]
    assert "404" in document["paths"]["/api/v1/calls/{call_id}"]["get"]["responses"]


def test_long_hourly_reports_work_on_both_engines(client: TestClient, auth: dict[str, str]) -> None:
    """SQLite refuses a compound SELECT of over 500 terms: a month of hours is 720 buckets."""
    response = client.get(
        "/api/v1/reports/timeseries",
        params={"start": "2026-01-01", "end": "2026-01-30", "interval": "hour"},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["buckets"]) == 30 * 24


def test_dates_past_the_calendar_are_422(client: TestClient, auth: dict[str, str]) -> None:
    for params in (
        {"end": "9999-12-31"},
        {"end": "0001-01-02"},
        {"start": "9999-12-31T23:00-05:00"},
    ):
        response = client.get("/api/v1/reports/totals", params=params, headers=auth)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["field"] in ("start", "end")


def test_nul_bytes_in_the_snippets_calls_are_400(client: TestClient) -> None:
    for body in (
        '{"k": "site_x\\u0000", "u": "https://acme.test/"}',
        '{"k": "s", "u": "https://acme.test/\\u0000"}',
    ):
        response = client.post("/t/visit", content=body, headers={"content-type": "text/plain"})
        assert response.status_code == 400, body
        assert response.json()["detail"]
