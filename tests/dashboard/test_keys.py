"""API keys in the dashboard: shown once, stored hashed, revoked."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.dashboard.conftest import AccountData, post_form


def create_key(as_owner: TestClient, name: str) -> str:
    response = post_form(as_owner, "/dashboard/keys", "/dashboard/keys", {"name": name})
    assert response.status_code == 200
    match = re.search(r'<code id="new-key" class="secret">([^<]+)</code>', response.text)
    assert match, "the new key is shown"
    return match.group(1)


def test_a_key_is_shown_once_and_works(as_owner: TestClient) -> None:
    raw = create_key(as_owner, "CRM export")
    assert raw not in as_owner.get("/dashboard/keys").text  # only its prefix, from now on
    assert raw[:10] in as_owner.get("/dashboard/keys").text
    response = as_owner.get("/api/v1/sites", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200


def test_a_revoked_key_stops_working(as_owner: TestClient) -> None:
    raw = create_key(as_owner, "old")
    page = as_owner.get("/dashboard/keys").text
    key_id = re.search(r'action="/dashboard/keys/(\d+)/revoke"', page)
    assert key_id
    revoke = f"/dashboard/keys/{key_id.group(1)}/revoke"
    assert post_form(as_owner, "/dashboard/keys", revoke, {}).status_code == 303
    assert "revoked" in as_owner.get("/dashboard/keys").text
    response = as_owner.get("/api/v1/sites", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 401


def test_a_key_needs_a_name(as_owner: TestClient) -> None:
    response = post_form(as_owner, "/dashboard/keys", "/dashboard/keys", {"name": " "})
    assert response.status_code == 422
    assert "give the key a name" in response.text
    assert "No API keys yet" in response.text


def test_keys_through_the_rest_api(client: TestClient, auth: dict[str, str]) -> None:
    created = client.post("/api/v1/api-keys", json={"name": "zapier"}, headers=auth)
    assert created.status_code == 201
    body = created.json()
    new_auth = {"Authorization": f"Bearer {body['key']}"}
    listed = client.get("/api/v1/api-keys", headers=new_auth).json()
    assert [key["name"] for key in listed] == ["zapier", "tests"]
    assert all("key" not in key for key in listed)
    revoke = client.post(f"/api/v1/api-keys/{body['id']}/revoke", headers=auth)
    assert revoke.status_code == 204
    assert client.get("/api/v1/api-keys", headers=new_auth).status_code == 401


def test_install_tag_through_the_rest_api(
    client: TestClient, auth: dict[str, str], account_data: AccountData
) -> None:
    response = client.get(f"/api/v1/sites/{account_data.site_id}/install", headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert body["integrity"].startswith("sha384-")
    assert f'integrity="{body["integrity"]}"' in body["tag"]
    assert f'data-key="{body["site_key"]}"' in body["tag"]
    assert body["src"].startswith("https://callpool.test/s/callpool.")
