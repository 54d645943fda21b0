"""``/api/v1/account``: an API key reads and changes its own account's settings (name, time
zone, the accuracy pool-size advice aims at); bad input is refused whole, with a 422 naming the
field, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from callpool.db import Database
from callpool.models import Account

DEFAULTS = {"time_zone": "UTC", "accuracy_target": 0.99}


def stored(database: Database, account: Account) -> dict[str, Any]:
    with database.reader() as db:
        row = db.get_one(Account, account.id)
        return {"name": row.name, "time_zone": row.time_zone, "target": row.accuracy_target}


def test_a_key_reads_its_account_with_the_default_target(
    client: TestClient, auth: dict[str, str], account: Account
) -> None:
    answer = client.get("/api/v1/account", headers=auth)

    assert answer.status_code == 200
    assert answer.json() == {
        "id": account.id,
        "name": account.name,
        **DEFAULTS,
        "created_at": account.created_at.isoformat().replace("+00:00", "Z"),
    }


def test_a_key_changes_the_target_time_zone_and_name(
    client: TestClient, auth: dict[str, str], database: Database, account: Account
) -> None:
    answer = client.patch(
        "/api/v1/account",
        headers=auth,
        json={"accuracy_target": 0.995, "time_zone": " America/Chicago ", "name": "Acme"},
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["accuracy_target"] == 0.995
    assert answer.json()["time_zone"] == "America/Chicago"
    assert stored(database, account) == {
        "name": "Acme",
        "time_zone": "America/Chicago",
        "target": 0.995,
    }
    # What is left out, or sent as null, stays.
    again = client.patch("/api/v1/account", headers=auth, json={"name": None, "time_zone": None})
    assert again.status_code == 200
    assert stored(database, account)["name"] == "Acme"
    assert client.get("/api/v1/account", headers=auth).json() == answer.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"accuracy_target": 0.4999}, "accuracy_target"),
        ({"accuracy_target": 1.0}, "accuracy_target"),
        ({"accuracy_target": 99}, "accuracy_target"),  # a percentage where a share belongs
        ({"accuracy_target": "high"}, "accuracy_target"),
        ({"time_zone": "x" * 65}, "time_zone"),
        ({"name": ""}, "name"),
    ],
)
def test_input_the_schema_refuses_changes_nothing(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    account: Account,
    body: dict[str, Any],
    field: str,
) -> None:
    before = stored(database, account)

    answer = client.patch("/api/v1/account", headers=auth, json=body)

    assert answer.status_code == 422
    assert [error["loc"] for error in answer.json()["detail"]] == [["body", field]]
    assert stored(database, account) == before


def test_a_zone_this_server_lacks_is_refused_and_nothing_changes(
    client: TestClient, auth: dict[str, str], database: Database, account: Account
) -> None:
    before = stored(database, account)
    # The target is fine, the zone is not: neither is written.
    for zone in ("Mars/Olympus_Mons", "../../etc/passwd", "   "):
        answer = client.patch(
            "/api/v1/account", headers=auth, json={"accuracy_target": 0.9, "time_zone": zone}
        )
        assert answer.status_code == 422
        assert answer.json()["field"] == "time_zone"
        assert "is not a time zone name" in answer.json()["detail"]
    answer = client.patch("/api/v1/account", headers=auth, json={"name": "  "})
    assert answer.status_code == 422
    assert answer.json() == {"detail": "The account's name cannot be empty", "field": "name"}
    assert stored(database, account) == before


def test_each_key_sees_and_changes_only_its_own_account(
    client: TestClient,
    auth: dict[str, str],
    outsider_auth: dict[str, str],
    database: Database,
    account: Account,
) -> None:
    client.patch("/api/v1/account", headers=outsider_auth, json={"accuracy_target": 0.9})

    assert stored(database, account)["target"] == 0.99
    assert client.get("/api/v1/account", headers=auth).json()["accuracy_target"] == 0.99
    outsider = client.get("/api/v1/account", headers=outsider_auth).json()
    assert outsider["accuracy_target"] == 0.9
    assert outsider["id"] != account.id
    assert client.get("/api/v1/account").status_code == 401
