"""The calls pages with hostile or odd data: what an owner sees must never run or mislead."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from callpool.clock import FrozenClock
from callpool.dashboard.insights import CALLS_PER_PAGE
from callpool.db import Database
from callpool.models import Account, Call, Visitor, VisitSession
from callpool.sites.schemas import SiteCreate
from callpool.sites.service import create_site


def store_call(
    database: Database, account: Account, clock: FrozenClock, *, caller: str, **fields: object
) -> int:
    with database.session() as db:
        call = Call(
            provider="twilio",
            provider_call_id=f"CA{clock.now().timestamp()}{caller}",
            account_id=account.id,
            from_number=caller,
            to_number="+15125550100",
            started_at=clock.now(),
            status="completed",
            **fields,
        )
        db.add(call)
        db.flush()
        call_id: int = call.id
    clock.advance(minutes=1)
    return call_id


def test_a_recording_url_that_is_not_https_is_never_a_link(
    as_owner: TestClient, database: Database, account: Account, clock: FrozenClock
) -> None:
    hostile = "javascript:alert(document.cookie)"
    call_id = store_call(database, account, clock, caller="+15125550111", recording_url=hostile)

    for page in (as_owner.get("/dashboard/calls"), as_owner.get(f"/dashboard/calls/{call_id}")):
        assert page.status_code == 200
        assert "javascript:" not in page.text
        assert "listen</a>" not in page.text


def test_withheld_callers_are_not_linked_as_repeat_callers(
    as_owner: TestClient, database: Database, account: Account, clock: FrozenClock
) -> None:
    first = store_call(database, account, clock, caller="anonymous")
    second = store_call(database, account, clock, caller="anonymous")
    known = store_call(database, account, clock, caller="+15125550111")
    again = store_call(database, account, clock, caller="+15125550111")

    page = as_owner.get(f"/dashboard/calls/{second}")
    assert page.status_code == 200
    assert f'href="/dashboard/calls/{first}"' not in page.text
    # A caller who gave their number is still linked to their earlier call.
    assert f'href="/dashboard/calls/{known}"' in as_owner.get(f"/dashboard/calls/{again}").text


def test_made_up_cursors_and_ids_are_answered_with_a_page_not_a_crash(
    as_owner: TestClient, database: Database, account: Account, clock: FrozenClock
) -> None:
    store_call(database, account, clock, caller="+15125550111")
    for before in ("2026-01-01T00:00:00_5", "nonsense", "MjAyNi0wMS0wMVQwMDowMDowMHw1"):
        page = as_owner.get("/dashboard/calls", params={"before": before})
        assert page.status_code == 400, before
        assert "cursor is not one this API returned" in page.text
    for call_id in ("0", str(2**31), str(2**63), str(2**70)):
        assert as_owner.get(f"/dashboard/calls/{call_id}").status_code == 404


def test_ids_no_row_can_have_are_the_404_page(as_owner: TestClient) -> None:
    for path in (
        "/dashboard/sites/{}",
        "/dashboard/pools/{}",
        "/dashboard/calls/{}",
        "/dashboard/reports?site_id={}",
    ):
        for huge in (2**31, 2**63, 2**70):
            page = as_owner.get(path.format(huge))
            assert page.status_code == 404, (path, huge)
            assert "Not found" in page.text


def test_a_call_page_shows_what_the_calls_api_returns(
    as_owner: TestClient, database: Database, account: Account, clock: FrozenClock
) -> None:
    # One read path: the page renders the API's CallDetail, so the two cannot disagree.
    site = create_site(database, account.id, SiteCreate(name="Acme"))
    with database.session() as db:
        db.add(Visitor(id="v1", site_id=site.id, first_seen_at=clock.now()))
        db.flush()
        db.add(
            VisitSession(
                id="s1",
                site_id=site.id,
                visitor_id="v1",
                started_at=clock.now(),
                last_seen_at=clock.now(),
                source="google",
                medium="cpc",
                campaign="spring-sale",
                gclid="Cj0KCQ-test",
                landing_url="https://acme.test/offer",
                device="mobile",
            )
        )
    clock.advance(minutes=3)
    call_id = store_call(
        database,
        account,
        clock,
        caller="+15125550111",
        session_id="s1",
        source="google",
        medium="cpc",
        confidence=1.0,
    )

    page = as_owner.get(f"/dashboard/calls/{call_id}").text
    for shown in (
        "google / cpc",
        "spring-sale",
        "Cj0KCQ-test",
        "mobile",
        "https://acme.test/offer",
    ):
        assert shown in page
    assert "called <strong>3m 00s</strong> later" in page


def test_the_calls_page_pages_with_the_api_cursor(
    as_owner: TestClient, database: Database, account: Account, clock: FrozenClock
) -> None:
    with database.session() as db:
        for number in range(CALLS_PER_PAGE + 1):
            clock.advance(seconds=1)
            db.add(
                Call(
                    provider="twilio",
                    provider_call_id=f"CApage{number}",
                    account_id=account.id,
                    from_number=f"+1512555{number:04d}",
                    to_number="+15125550100",
                    started_at=clock.now(),
                    status="completed",
                )
            )

    first = as_owner.get("/dashboard/calls").text
    assert first.count('<tr class="call">') == CALLS_PER_PAGE
    cursor = re.search(r'href="/dashboard/calls\?before=([^"]+)"', first)
    assert cursor is not None
    older = as_owner.get(f"/dashboard/calls?before={cursor.group(1)}").text
    assert older.count('<tr class="call">') == 1
    assert "Older calls" not in older
