"""Owner, teammate, outsider: the outsider gets 404 on every page and resource of the account."""

from __future__ import annotations

from fastapi.testclient import TestClient

from callpool.accounts.service import create_api_key
from callpool.db import Database
from tests.dashboard.conftest import AccountData, Person, csrf_of, sign_in


def pages(data: AccountData) -> list[str]:
    site, pool = f"/dashboard/sites/{data.site_id}", f"/dashboard/pools/{data.pool_id}"
    return [
        site,
        f"{site}/pools/new",
        f"{site}/install",
        f"{site}/verify",
        f"{site}/verify/visits",
        pool,
        f"/dashboard/calls/{data.call_id}",
        f"/dashboard/reports?site_id={data.site_id}",
        f"/dashboard/calls.csv?site_id={data.site_id}",
    ]


def forms(data: AccountData) -> list[tuple[str, dict[str, str]]]:
    pool = f"/dashboard/pools/{data.pool_id}"
    return [
        (f"/dashboard/sites/{data.site_id}", {"name": "Mine now", "region": "US"}),
        (f"{pool}/settings", {"name": "Mine now", "original_number": "+15125550100", "size": "1"}),
        (f"{pool}/reassign", {}),
        (
            f"/dashboard/sites/{data.site_id}/pools",
            {"name": "Mine now", "original_number": "+15125550100", "size": "2"},
        ),
        (f"{pool}/target", {"swap_number": "+15125550100"}),
        (f"{pool}/trackers/{data.tracker_id}/flag", {}),
        (f"{pool}/delete", {}),
        (f"/dashboard/keys/{data.key_id}/revoke", {}),
    ]


def api_resources(data: AccountData) -> list[str]:
    return [
        f"/api/v1/sites/{data.site_id}",
        f"/api/v1/sites/{data.site_id}/install",
        f"/api/v1/pools/{data.pool_id}",
        f"/api/v1/pools/{data.pool_id}/trackers",
        f"/api/v1/pools/{data.pool_id}/diagnostics",
        f"/api/v1/sessions/{data.session_id}",
        f"/api/v1/calls/{data.call_id}",
        f"/api/v1/reports/pools/{data.pool_id}",
        f"/api/v1/reports/totals?site_id={data.site_id}",
    ]


def test_outsider_gets_404_on_every_page(
    client: TestClient, account_data: AccountData, outsider: Person
) -> None:
    sign_in(client, outsider.email)
    answers = {url: client.get(url).status_code for url in pages(account_data)}
    assert answers == dict.fromkeys(pages(account_data), 404)


def test_outsider_gets_404_on_every_form_and_nothing_changes(
    client: TestClient, account_data: AccountData, outsider: Person, owner: Person
) -> None:
    sign_in(client, outsider.email)
    token = csrf_of(client.get("/dashboard").text)
    answers = {
        url: client.post(url, data={**data, "csrf": token}).status_code
        for url, data in forms(account_data)
    }
    assert answers == dict.fromkeys(answers, 404)
    owners = TestClient(client.app)
    sign_in(owners, owner.email)
    pool_page = owners.get(f"/dashboard/pools/{account_data.pool_id}").text
    assert "Mine now" not in owners.get(f"/dashboard/sites/{account_data.site_id}").text
    assert "active" in pool_page  # the tracker was not flagged, the pool not deleted
    assert "revoked" not in owners.get("/dashboard/keys").text


def test_outsider_gets_404_on_every_api_resource(
    client: TestClient, database: Database, account_data: AccountData, outsider: Person
) -> None:
    with database.session() as db:
        key = create_api_key(db, outsider.account_id, "rival")
    auth = {"Authorization": f"Bearer {key}"}
    answers = {
        url: client.get(url, headers=auth).status_code for url in api_resources(account_data)
    }
    assert answers == dict.fromkeys(answers, 404)


def test_outsider_lists_show_nothing_of_the_account(
    client: TestClient, account_data: AccountData, outsider: Person
) -> None:
    sign_in(client, outsider.email)
    home = client.get("/dashboard").text
    assert "Acme" not in home
    assert f"/dashboard/sites/{account_data.site_id}" not in home
    calls = client.get("/dashboard/calls").text
    assert "No calls yet" in calls
    assert "google / cpc" not in client.get("/dashboard/reports").text
    assert client.get("/dashboard/calls.csv").text.count("\n") == 1  # the header only


def test_teammate_and_owner_see_every_page(
    client: TestClient, account_data: AccountData, owner: Person, teammate: Person
) -> None:
    for person in (owner, teammate):
        browser = TestClient(client.app)
        sign_in(browser, person.email)
        answers = {url: browser.get(url).status_code for url in pages(account_data)}
        assert answers == dict.fromkeys(answers, 200), person.email


def test_teammate_sees_the_call_with_its_source(
    client: TestClient, account_data: AccountData, teammate: Person
) -> None:
    sign_in(client, teammate.email)
    calls = client.get("/dashboard/calls").text
    assert "google / cpc" in calls
    detail = client.get(f"/dashboard/calls/{account_data.call_id}").text
    assert "https://acme.test/?utm_source=google&amp;utm_medium=cpc" in detail
    assert "42s" in detail
