"""The verify step and pool health name the usual install mistakes (issue 13, item 2): an
address that is not among the site's origins, pages where the business number was not found,
and a site whose visitors never saw a swapped number."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from callpool.db import Database
from callpool.models import Pageview, RefusedOrigin, Site
from tests.dashboard.conftest import AccountData
from tests.waiting import wait_for

HEADERS = {"Origin": "https://acme.test", "Content-Type": "text/plain"}


def send(client: TestClient, path: str, body: dict[str, object], **headers: str) -> int:
    response = client.post(path, content=json.dumps(body), headers={**HEADERS, **headers})
    return response.status_code


def site_key(database: Database, site_id: int) -> str:
    with database.reader() as db:
        return str(db.scalar(select(Site.public_key).where(Site.id == site_id)))


def test_swaps_are_stored_per_page_and_unswapped_pages_are_listed(
    as_owner: TestClient, database: Database, account_data: AccountData
) -> None:
    key = site_key(database, account_data.site_id)
    session = account_data.session_id
    # The landing page's count comes with the first heartbeat (it is swapped after the visit).
    assert send(as_owner, "/t/heartbeat", {"k": key, "s": session, "w": 0}) == 204
    landing = "https://acme.test/?utm_source=google&utm_medium=cpc"
    other = {"k": key, "s": session, "u": "https://acme.test/contact", "w": 2}
    assert send(as_owner, "/t/pageview", other) == 204
    with database.reader() as db:
        stored = dict(db.execute(select(Pageview.url, Pageview.swaps)).all())
    assert stored == {landing: 0, "https://acme.test/contact": 2}
    assert send(as_owner, "/t/heartbeat", {"k": key, "s": session, "w": -1}) == 400

    verify = as_owner.get(f"/dashboard/sites/{account_data.site_id}/verify").text
    assert "Pages where the business number was not found" in verify
    assert landing.replace("&", "&amp;") in verify
    assert "https://acme.test/contact</td>" not in verify
    pool = as_owner.get(f"/dashboard/pools/{account_data.pool_id}").text
    assert "swapped no number" not in pool  # one page did swap


def test_a_site_whose_pages_never_swap_is_warned_about(
    as_owner: TestClient, database: Database, account_data: AccountData
) -> None:
    key = site_key(database, account_data.site_id)
    assert send(as_owner, "/t/heartbeat", {"k": key, "s": account_data.session_id, "w": 0}) == 204
    pool = as_owner.get(f"/dashboard/pools/{account_data.pool_id}").text
    assert "Visitors came in the last day, but the snippet swapped no number on any page" in pool


def test_refused_origins_are_listed_on_the_verify_step_until_allowed(
    as_owner: TestClient, database: Database, account_data: AccountData
) -> None:
    key = site_key(database, account_data.site_id)
    body = {"k": key, "u": "https://www.acme.test/"}
    for _ in range(3):  # written once: at most once a minute per (site, origin)
        assert send(as_owner, "/t/visit", body, Origin="https://www.acme.test") == 403

    def recorded() -> bool:
        with database.reader() as db:
            return db.scalar(select(RefusedOrigin.origin)) == "https://www.acme.test"

    wait_for(recorded, "the refused origin to be recorded", timeout=10)
    verify = as_owner.get(f"/dashboard/sites/{account_data.site_id}/verify").text
    assert "Addresses refused in the last day" in verify
    assert "<code>https://www.acme.test</code>" in verify
