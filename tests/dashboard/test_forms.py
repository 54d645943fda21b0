"""Bad input: a message beside the field, and nothing stored."""

from __future__ import annotations

import html
import re

import httpx2
import pytest
from fastapi.testclient import TestClient

from callpool.db import Database
from callpool.models import Pool
from tests.dashboard.conftest import AccountData, post_form


def error_beside(page: str, field: str) -> str:
    """The message shown under the field ``field`` (empty when there is none)."""
    match = re.search(rf'id="e-{field}">([^<]*)<', page)
    return html.unescape(match.group(1)) if match else ""


def new_pool(as_owner: TestClient, site_id: int, **fields: str) -> httpx2.Response:
    data = {
        "name": "Paid search",
        "kind": "session",
        "original_number": "(512) 555-0123",
        "number_type": "local",
        "area_code": "512",
        "size": "4",
        **fields,
    }
    return post_form(
        as_owner, f"/dashboard/sites/{site_id}/pools/new", f"/dashboard/sites/{site_id}/pools", data
    )


def pool_names(as_owner: TestClient, site_id: int) -> list[str]:
    page = as_owner.get(f"/dashboard/sites/{site_id}").text
    return re.findall(r'href="/dashboard/pools/\d+">([^<]+)<', page)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"original_number": "555-12"},
            "original_number",
            "Business number must be a phone number, like (512) 555-0123",
        ),
        ({"size": "0"}, "size", "must be at least 1"),
        ({"size": "lots"}, "size", "enter a number"),
        (
            {"kind": "automated", "utilization": "1.5"},
            "utilization",
            "Utilization must be more than 0 and at most 1, like 0.8",
        ),
        ({"area_code": "12"}, "area_code", "An area code is 3 digits, like 512"),
        (
            {"area_code": "012"},
            "area_code",
            "There is no area code 012: area codes start with 2 to 9, like 512",
        ),
        ({"name": ""}, "name", "required"),
    ],
)
def test_bad_pool_is_refused_beside_its_field(
    as_owner: TestClient,
    account_data: AccountData,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    response = new_pool(as_owner, account_data.site_id, **fields)
    assert response.status_code == 422
    assert message in error_beside(response.text, field)
    assert pool_names(as_owner, account_data.site_id) == ["Website visitors"]


def test_the_form_keeps_what_was_typed(as_owner: TestClient, account_data: AccountData) -> None:
    response = new_pool(as_owner, account_data.site_id, size="0", name="Keep me")
    assert 'value="Keep me"' in response.text


def test_a_good_pool_is_created_with_its_numbers(
    as_owner: TestClient, account_data: AccountData
) -> None:
    response = new_pool(as_owner, account_data.site_id, size="2")
    assert response.status_code == 303
    page = as_owner.get(response.headers["location"]).text
    assert "Pool created with 2 numbers" in page
    assert page.count("(512) 555-01") >= 2  # the two tracking numbers bought in area code 512
    assert pool_names(as_owner, account_data.site_id) == ["Website visitors", "Paid search"]


def test_provider_refusal_is_shown_in_words(
    as_owner: TestClient, account_data: AccountData
) -> None:
    # The sandbox has 100 fictional numbers per area code: asking 500 more cannot be met.
    response = new_pool(as_owner, account_data.site_id, size="500")
    assert response.status_code == 422
    assert "numbers available" in response.text
    assert pool_names(as_owner, account_data.site_id) == ["Website visitors"]


def set_target(as_owner: TestClient, pool_id: int, **fields: str) -> httpx2.Response:
    data = {"swap_number": "(512) 555-0123", "swap_selector": "", "paths": "", "sources": ""}
    page = f"/dashboard/pools/{pool_id}"
    return post_form(as_owner, page, f"{page}/target", {**data, **fields})


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"swap_selector": "div["}, "swap_selector", "not a valid CSS selector"),
        ({"swap_selector": ".phone >> a"}, "swap_selector", "not a valid CSS selector"),
        (
            {"swap_number": "call us"},
            "swap_number",
            "Business number as written on the site must be a phone number, like (512) 555-0123",
        ),
        ({"swap_number": ""}, "swap_number", "a CSS selector, or both"),
        ({"paths": "austin"}, "paths", "start with /"),
        ({"priority": "high"}, "priority", "enter a number"),
    ],
)
def test_bad_target_is_refused_beside_its_field(
    as_owner: TestClient,
    database: Database,
    account_data: AccountData,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    response = set_target(as_owner, account_data.pool_id, **fields)
    assert response.status_code == 422
    assert message in error_beside(response.text, field)
    with database.reader() as db:
        pool = db.get(Pool, account_data.pool_id)
        assert pool is not None
        assert (pool.swap_number, pool.swap_selector, pool.rules) == (None, None, {})


def test_a_target_with_rules_is_saved(as_owner: TestClient, account_data: AccountData) -> None:
    response = set_target(
        as_owner,
        account_data.pool_id,
        swap_number="512.555.0123",
        swap_selector="header .phone, a[href^='tel:']",
        paths="/locations/austin*",
        sources="google/cpc\nfacebook/*",
    )
    assert response.status_code == 303
    page = as_owner.get(response.headers["location"]).text
    assert "Swap target saved" in page
    assert 'value="(512) 555-0123"' in page  # as US visitors write it, stored in E.164
    assert "/locations/austin*" in page
    assert "facebook/*" in page
    assert "header .phone, a[href^='tel:']" in html.unescape(page)


def test_bad_site_is_refused(as_owner: TestClient) -> None:
    response = post_form(
        as_owner,
        "/dashboard",
        "/dashboard/sites",
        {"name": "Acme", "allowed_origins": "not a url", "region": "US"},
    )
    assert response.status_code == 422
    assert "is not an http(s) URL" in error_beside(response.text, "allowed_origins")
    assert "/dashboard/sites/" not in as_owner.get("/dashboard").text


def change_settings(as_owner: TestClient, pool_id: int, **fields: str) -> httpx2.Response:
    data = {"name": "Website visitors", "original_number": "(512) 555-0123", "size": "3"}
    page = f"/dashboard/pools/{pool_id}"
    return post_form(as_owner, page, f"{page}/settings", {**data, **fields})


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"size": "0"}, "size", "must be at least 1"),
        ({"original_number": "12"}, "original_number", "Business number must be a phone number"),
        ({"name": ""}, "name", "at least 1 character"),
    ],
)
def test_bad_settings_are_refused_beside_their_field(
    as_owner: TestClient,
    database: Database,
    account_data: AccountData,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    response = change_settings(as_owner, account_data.pool_id, **fields)
    assert response.status_code == 422
    assert message in error_beside(response.text, field)
    with database.reader() as db:
        pool = db.get(Pool, account_data.pool_id)
        assert pool is not None
        assert (pool.name, pool.size, pool.original_number) == (
            "Website visitors",
            3,
            "+15125550123",
        )


def test_a_larger_size_buys_numbers(as_owner: TestClient, account_data: AccountData) -> None:
    response = change_settings(as_owner, account_data.pool_id, size="5")
    assert response.status_code == 303
    page = as_owner.get(response.headers["location"]).text
    assert "Settings saved" in page
    assert page.count("(737) 555-01") == 5


def test_utilization_over_one_is_refused_for_an_automated_pool(
    as_owner: TestClient, account_data: AccountData
) -> None:
    created = new_pool(as_owner, account_data.site_id, kind="automated", utilization="0.5")
    assert created.status_code == 303
    pool_id = int(created.headers["location"].split("/")[3].split("?")[0])
    response = change_settings(as_owner, pool_id, name="Paid search", utilization="1.5")
    assert response.status_code == 422
    message = "Utilization must be more than 0 and at most 1, like 0.8"
    assert message in error_beside(response.text, "utilization")
    assert 'value="0.5"' in as_owner.get(f"/dashboard/pools/{pool_id}").text


def test_site_origins_are_checked_and_saved(
    as_owner: TestClient, account_data: AccountData
) -> None:
    page = f"/dashboard/sites/{account_data.site_id}"
    data = {"name": "Acme", "region": "US", "allowed_origins": "ftp://acme.test"}
    refused = post_form(as_owner, page, page, data)
    assert refused.status_code == 422
    assert "is not an http(s) URL" in error_beside(refused.text, "allowed_origins")
    assert "https://acme.test" in as_owner.get(page).text

    data["allowed_origins"] = "https://acme.test\nhttps://www.acme.test/contact"
    assert post_form(as_owner, page, page, data).status_code == 303
    verify = as_owner.get(f"{page}/verify").text
    assert "https://www.acme.test/?callpool_debug=1" in verify
