"""The account page's own password and people: a user changes their password (signed out
everywhere else, this browser kept), and an owner takes a teammate out (signed out at once).
Wrong input changes nothing."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from callpool.db import Database
from callpool.models import User
from tests.dashboard.conftest import PASSWORD, Person, csrf_of, post_form, sign_in

ACCOUNT = "/dashboard/account"
NEW_PASSWORD = "a new and longer phrase"


def signed_in(client: TestClient) -> bool:
    return client.get(ACCOUNT, follow_redirects=False).status_code == 200


def change(client: TestClient, current: str, new: str, repeat: str | None = None) -> str:
    fields = {"current_password": current, "new_password": new, "repeat_password": repeat or new}
    answer = post_form(client, ACCOUNT, f"{ACCOUNT}/password", fields)
    return f"{answer.status_code} {answer.text}"


def test_a_new_password_signs_out_every_other_session_and_keeps_this_one(
    app: FastAPI, as_owner: TestClient, owner: Person
) -> None:
    with TestClient(app) as elsewhere:
        sign_in(elsewhere, owner.email)

        assert change(as_owner, "not my password", NEW_PASSWORD).startswith("400 ")
        assert "That is not your current password." in change(as_owner, "wrong", NEW_PASSWORD)
        assert "The two new passwords differ." in change(as_owner, PASSWORD, NEW_PASSWORD, "x")
        short = change(as_owner, PASSWORD, "short")
        assert short.startswith("422 ")
        assert "The password needs at least 8 characters." in short
        assert signed_in(elsewhere)  # nothing changed so far

        changed = change(as_owner, PASSWORD, NEW_PASSWORD)
        assert changed.startswith("200 ")
        assert "Every other session of yours has been signed out." in changed
        assert signed_in(as_owner)
        assert not signed_in(elsewhere)

    with TestClient(app) as fresh:
        page = fresh.get("/dashboard/login")
        refused = fresh.post(
            "/dashboard/login",
            data={"email": owner.email, "password": PASSWORD, "csrf": csrf_of(page.text)},
        )
        assert refused.status_code == 400
        sign_in(fresh, owner.email, NEW_PASSWORD)


def test_wrong_current_passwords_are_throttled_like_sign_ins(as_owner: TestClient) -> None:
    answers = [change(as_owner, f"guess {n}", NEW_PASSWORD)[:3] for n in range(6)]
    assert answers == ["400"] * 5 + ["429"]
    assert "Too many wrong passwords." in change(as_owner, PASSWORD, NEW_PASSWORD)


def test_an_owner_removes_a_teammate_who_is_signed_out_at_once(
    app: FastAPI, as_owner: TestClient, teammate: Person, outsider: Person, database: Database
) -> None:
    page = as_owner.get(ACCOUNT).text
    assert "teammate@acme.test" in page
    assert "owner@acme.test (you)" in page
    assert "outsider@rival.test" not in page
    mine, theirs = user_id(database, "owner@acme.test"), user_id(database, teammate.email)
    remove = f"{ACCOUNT}/members/{{}}/remove"
    with TestClient(app) as teammates:
        sign_in(teammates, teammate.email)
        assert "/remove" not in teammates.get(ACCOUNT).text  # no buttons for a teammate
        refused = post_form(teammates, ACCOUNT, remove.format(mine), {})
        assert refused.status_code == 403
        assert "Only an owner" in refused.text

        removed = post_form(as_owner, ACCOUNT, remove.format(theirs), {})
        assert removed.status_code == 200
        assert "teammate@acme.test was removed and signed out." in removed.text
        assert f"/members/{theirs}/remove" not in as_owner.get(ACCOUNT).text
        assert not signed_in(teammates)

    yourself = post_form(as_owner, ACCOUNT, remove.format(mine), {})
    assert yourself.status_code == 409
    assert "You cannot remove yourself" in yourself.text
    # Someone of another account is nobody here; a removed teammate is gone.
    for stranger in (user_id(database, outsider.email), theirs):
        assert post_form(as_owner, ACCOUNT, remove.format(stranger), {}).status_code == 404
    assert signed_in(as_owner)


def user_id(database: Database, email: str) -> int:
    with database.reader() as db:
        return db.scalars(select(User.id).where(User.email == email)).one()
