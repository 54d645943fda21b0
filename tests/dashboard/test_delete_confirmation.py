"""Deleting from the dashboard: the page says what will happen; the history stays."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from callpool.db import Database
from callpool.pools import service as pools
from callpool.pools.schemas import PoolCreate
from callpool.pools.service import Deps
from callpool.settings import Settings
from callpool.sites.schemas import SiteCreate
from callpool.sites.service import create_site
from tests.dashboard.conftest import Person, post_form, sign_in


def test_deleting_a_site_says_what_happens_and_keeps_it_out_of_the_lists(
    app: FastAPI, client: TestClient, database: Database, settings: Settings, owner: Person
) -> None:
    site_id = create_site(database, owner.account_id, SiteCreate(name="Acme Shop Website")).id
    pool = pools.create_pool(
        Deps(database, app.state.provider, settings),
        owner.account_id,
        PoolCreate(site_id=site_id, name="Web", original_number="+15125550123", size=3),
    )
    sign_in(client, owner.email)

    site_page = client.get(f"/dashboard/sites/{site_id}").text
    assert "Deleting releases its 3 numbers; calls and reports are kept." in site_page
    assert "releases their 3 numbers at the provider" in site_page  # the confirmation
    pool_page = client.get(f"/dashboard/pools/{pool.id}").text
    assert "Deleting releases its 3 numbers; calls and reports are kept." in pool_page

    page = f"/dashboard/sites/{site_id}"
    response = post_form(client, page, f"/dashboard/sites/{site_id}/delete", {})
    assert response.status_code == 303
    assert "Acme Shop Website" not in client.get("/dashboard").text
    assert client.get(page).status_code == 404
    listed = pools.list_pools(Deps(database, app.state.provider, settings), owner.account_id)
    assert listed == []
