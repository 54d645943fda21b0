"""API keys in the dashboard: shown once, stored hashed, revoked."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.dashboard.conftest import post_form


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
