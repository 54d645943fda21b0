"""Sites through the REST API: what an operator sees, and what an outsider never sees."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, Site


def test_create_and_list_sites(client: TestClient, auth: dict[str, str]) -> None:
    created = client.post(
        "/api/v1/sites",
        json={"name": "Acme", "allowed_origins": ["https://WWW.acme.test/contact"]},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    site = created.json()
    assert site["allowed_origins"] == ["https://www.acme.test"]
    assert site["public_key"].startswith("site_")
    assert site["region"] == "US"
    listed = client.get("/api/v1/sites", headers=auth).json()
    assert [s["id"] for s in listed] == [site["id"]]


def test_update_and_delete(client: TestClient, auth: dict[str, str]) -> None:
    site = client.post("/api/v1/sites", json={"name": "Acme"}, headers=auth).json()
    changed = client.patch(f"/api/v1/sites/{site['id']}", json={"region": "gb"}, headers=auth)
    assert changed.json()["region"] == "GB"
    assert changed.json()["name"] == "Acme"
    assert client.delete(f"/api/v1/sites/{site['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/v1/sites/{site['id']}", headers=auth).status_code == 404


def test_bad_input_is_refused_and_stores_nothing(
    client: TestClient, auth: dict[str, str], database: Database
) -> None:
    for body in (
        {"name": ""},
        {"name": "x", "allowed_origins": ["ftp://acme.test"]},
        {"name": "x", "region": "XX"},
        {"name": "x" * 201},
    ):
        response = client.post("/api/v1/sites", json=body, headers=auth)
        assert response.status_code == 422, body
        assert response.json()["detail"]
    malformed = client.post(
        "/api/v1/sites", content=b"{not json", headers={**auth, "content-type": "application/json"}
    )
    assert malformed.status_code == 422
    with database.reader() as db:
        assert db.scalar(select(func.count()).select_from(Site)) == 0


def test_keys_are_required_and_checked(client: TestClient) -> None:
    assert client.get("/api/v1/sites").status_code == 401
    wrong = client.get("/api/v1/sites", headers={"Authorization": "Bearer cp_nope"})
    assert wrong.status_code == 401
    assert "invalid" in wrong.json()["detail"]


def test_outsider_gets_404_and_sees_nothing(
    client: TestClient, auth: dict[str, str], outsider_auth: dict[str, str]
) -> None:
    site = client.post("/api/v1/sites", json={"name": "Acme"}, headers=auth).json()
    rival = outsider_auth
    assert client.get("/api/v1/sites", headers=rival).json() == []
    for method in ("get", "delete"):
        response = client.request(method, f"/api/v1/sites/{site['id']}", headers=rival)
        assert response.status_code == 404
    patched = client.patch(f"/api/v1/sites/{site['id']}", json={"name": "mine"}, headers=rival)
    assert patched.status_code == 404
    assert client.get(f"/api/v1/sites/{site['id']}", headers=auth).json()["name"] == "Acme"


def test_bootstrap_key_is_created_for_the_first_account(
    settings, database: Database, clock: FrozenClock
) -> None:
    from callpool.app import create_app

    bootstrapped = settings.model_copy(update={"bootstrap_api_key": "cp_bootstrap_key_123456"})
    with TestClient(create_app(bootstrapped, database)) as client:
        headers = {"Authorization": "Bearer cp_bootstrap_key_123456"}
        assert client.get("/api/v1/sites", headers=headers).status_code == 200
    with TestClient(create_app(bootstrapped, database)):  # a restart does not duplicate it
        pass
    with database.reader() as db:
        assert db.scalar(select(func.count()).select_from(Account)) == 1
