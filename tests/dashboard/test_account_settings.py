"""The account page (issue 13, item 6): an owner sets the account's time zone, and every page
then shows its times in it; a name that is no zone, or a teammate, changes nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select

from callpool.db import Database
from callpool.models import Account
from tests.dashboard.conftest import AccountData, Person, post_form, sign_in


def zone(database: Database) -> str:
    with database.reader() as db:
        return db.scalars(select(Account.time_zone)).one()


def save(client: TestClient, typed: str) -> Response:
    return post_form(client, "/dashboard/account", "/dashboard/account", {"time_zone": typed})


def test_an_owner_sets_the_time_zone_and_times_follow(
    as_owner: TestClient, database: Database, account_data: AccountData
) -> None:
    page = as_owner.get("/dashboard/account")
    assert page.status_code == 200
    assert 'href="/dashboard/account" aria-current="page"' in page.text  # in the nav
    # Still UTC: the browser's zone is offered by dashboard.js (input[name=time_zone]).
    assert 'name="time_zone" type="text" value="UTC"' in page.text
    assert '<option value="America/Chicago">' in page.text
    assert "/dashboard/static/dashboard.js" in page.text

    saved = save(as_owner, "America/Chicago")

    assert saved.status_code == 200
    assert "Saved: times are in America/Chicago." in saved.text
    assert zone(database) == "America/Chicago"
    # The tests' clock: 2026-01-05 12:00 UTC, when account_data's call rang.
    assert "2026-01-05 06:00 CST" in as_owner.get("/dashboard/calls").text


def test_a_name_that_is_no_time_zone_changes_nothing(
    as_owner: TestClient, database: Database
) -> None:
    for typed in ("Mars/Olympus_Mons", "../../etc/passwd", "", "x" * 65):
        answer = save(as_owner, typed)
        assert answer.status_code == 422
        assert "is not a time zone name" in answer.text
        assert zone(database) == "UTC"


def test_a_teammate_sees_the_zone_but_cannot_change_it(
    client: TestClient, database: Database, teammate: Person
) -> None:
    sign_in(client, teammate.email)
    page = client.get("/dashboard/account")
    assert "<strong>UTC</strong>. An owner of the account can change it." in page.text

    answer = save(client, "America/Chicago")

    assert answer.status_code == 403
    assert "Only an owner of the account can change its time zone." in answer.text
    assert zone(database) == "UTC"


# The accuracy pool-size advice aims at (issue 15, item 2), typed as a percentage.


def target(database: Database) -> float:
    with database.reader() as db:
        return db.scalars(select(Account.accuracy_target)).one()


def save_target(client: TestClient, typed: str) -> Response:
    return post_form(client, "/dashboard/account", "/dashboard/account", {"accuracy_target": typed})


def test_an_owner_sets_the_accuracy_target_as_a_percentage(
    as_owner: TestClient, database: Database
) -> None:
    page = as_owner.get("/dashboard/account")
    assert 'name="accuracy_target" type="number" value="99"' in page.text

    saved = save_target(as_owner, "99.5")

    assert saved.status_code == 200
    assert "Saved: pool-size advice aims at 99.5 % of calls;" in saved.text
    assert 'name="accuracy_target" type="number" value="99.5"' in saved.text
    assert target(database) == 0.995
    assert zone(database) == "UTC"  # the other form's field is left as it was
    assert save_target(as_owner, "95%").status_code == 200
    assert target(database) == 0.95


def test_a_target_out_of_range_changes_nothing(as_owner: TestClient, database: Database) -> None:
    for typed, message in [
        ("49.9", "The accuracy target must be from 50% to 99.9% of calls"),
        ("100", "The accuracy target must be from 50% to 99.9% of calls"),
        ("nan", "The accuracy target must be from 50% to 99.9% of calls"),
        ("0.99", "The accuracy target must be from 50% to 99.9% of calls"),  # a share
        ("high", "&#39;high&#39; is not a percentage: type one like 99 or 99.5"),
        ("", "&#39;&#39; is not a percentage"),
    ]:
        answer = save_target(as_owner, typed)
        assert answer.status_code == 422, typed
        assert message in answer.text, typed
        assert 'id="e-accuracy_target"' in answer.text  # beside its field
        assert target(database) == 0.99


def test_a_teammate_sees_the_target_but_cannot_change_it(
    client: TestClient, database: Database, teammate: Person
) -> None:
    sign_in(client, teammate.email)
    page = client.get("/dashboard/account")
    assert "Advice aims at <strong>99 %</strong> of calls." in page.text

    answer = save_target(client, "95")

    assert answer.status_code == 403
    assert "Only an owner of the account can change its accuracy target." in answer.text
    assert target(database) == 0.99
