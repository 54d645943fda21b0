"""Signing in and out, CSRF on every form, the login throttle, ending sessions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from callpool.accounts.users import (
    create_user_with_account,
    ensure_user,
    new_password_hash,
    remove_member,
    replace_password,
    user_by_email,
)
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.errors import Conflict
from callpool.models import LoginFailures, UserSession
from callpool.settings import Settings
from tests.dashboard.conftest import PASSWORD, Person, csrf_of, post_form, sign_in


def test_pages_need_a_signed_in_user(client: TestClient) -> None:
    response = client.get("/dashboard/keys", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login?next=/dashboard/keys"


def test_sign_in_then_see_the_account(client: TestClient, owner: Person) -> None:
    sign_in(client, owner.email)
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "owner@acme.test" in page.text
    assert "Acme Plumbing" in page.text


def test_email_is_not_case_sensitive(client: TestClient, owner: Person) -> None:
    sign_in(client, "  Owner@ACME.test ")
    assert client.get("/dashboard", follow_redirects=False).status_code == 200


def test_wrong_password_is_refused(client: TestClient, owner: Person) -> None:
    page = client.get("/dashboard/login")
    response = client.post(
        "/dashboard/login",
        data={"email": owner.email, "password": "wrong", "csrf": csrf_of(page.text)},
    )
    assert response.status_code == 400
    assert "Wrong email or password" in response.text
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_password_is_stored_as_argon2(database: Database, owner: Person) -> None:
    with database.reader() as db:
        user = user_by_email(db, owner.email)
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


def test_login_without_csrf_token_is_rejected(client: TestClient, owner: Person) -> None:
    client.get("/dashboard/login")
    response = client.post("/dashboard/login", data={"email": owner.email, "password": PASSWORD})
    assert response.status_code == 403
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_form_without_csrf_token_changes_nothing(as_owner: TestClient) -> None:
    response = as_owner.post("/dashboard/sites", data={"name": "Forged"})
    assert response.status_code == 403
    assert "Reload the page" in response.text
    assert "Forged" not in as_owner.get("/dashboard").text


def test_a_token_of_another_session_is_rejected(
    as_owner: TestClient, client: TestClient, owner: Person
) -> None:
    foreign_token = csrf_of(TestClient(client.app).get("/dashboard/login").text)
    response = as_owner.post("/dashboard/sites", data={"name": "Forged", "csrf": foreign_token})
    assert response.status_code == 403


def test_five_failures_lock_the_email_for_fifteen_minutes(
    client: TestClient, owner: Person, clock: FrozenClock
) -> None:
    def attempt(password: str) -> int:
        page = client.get("/dashboard/login")
        data = {"email": owner.email, "password": password, "csrf": csrf_of(page.text)}
        return client.post("/dashboard/login", data=data, follow_redirects=False).status_code

    assert [attempt("guess") for _ in range(5)] == [400] * 5
    # Even the right password is refused now: the throttle must not leak which guess was right.
    assert attempt(PASSWORD) == 429
    clock.advance(minutes=15, seconds=1)
    assert attempt(PASSWORD) == 303


def test_throttle_is_per_email(client: TestClient, owner: Person, teammate: Person) -> None:
    def attempt(email: str, password: str) -> int:
        page = client.get("/dashboard/login")
        data = {"email": email, "password": password, "csrf": csrf_of(page.text)}
        return client.post("/dashboard/login", data=data, follow_redirects=False).status_code

    assert [attempt(owner.email, "guess") for _ in range(5)] == [400] * 5
    assert attempt(owner.email, PASSWORD) == 429  # the owner's email is locked …
    # … not the address: the teammate signs in from the same one, right after.
    assert attempt(teammate.email, PASSWORD) == 303


def test_logout_ends_the_session(as_owner: TestClient) -> None:
    response = post_form(as_owner, "/dashboard", "/dashboard/logout", {})
    assert response.status_code == 303
    assert as_owner.get("/dashboard", follow_redirects=False).status_code == 303


def test_a_cookie_copied_before_logout_is_dead_after_it(as_owner: TestClient) -> None:
    copied = as_owner.cookies["callpool_session"]
    post_form(as_owner, "/dashboard", "/dashboard/logout", {})
    as_owner.cookies.set("callpool_session", copied)
    assert as_owner.get("/dashboard", follow_redirects=False).status_code == 303
    # The login page does not bounce a dead session back to the dashboard either.
    assert as_owner.get("/dashboard/login", follow_redirects=False).status_code == 200


def _user_id(database: Database, email: str) -> int:
    with database.reader() as db:
        user = user_by_email(db, email)
        assert user is not None
        return user.id


def test_a_password_change_ends_every_session_of_that_user(
    client: TestClient, database: Database, owner: Person, teammate: Person
) -> None:
    laptop, phone, colleague = client, TestClient(client.app), TestClient(client.app)
    sign_in(laptop, owner.email)
    sign_in(phone, owner.email)
    sign_in(colleague, teammate.email)
    hashed = new_password_hash("a brand new passphrase")
    with database.session() as db:
        replace_password(db, _user_id(database, owner.email), hashed)
    assert laptop.get("/dashboard", follow_redirects=False).status_code == 303
    assert phone.get("/dashboard", follow_redirects=False).status_code == 303
    assert colleague.get("/dashboard", follow_redirects=False).status_code == 200
    sign_in(laptop, owner.email, "a brand new passphrase")
    assert laptop.get("/dashboard", follow_redirects=False).status_code == 200


def test_removing_a_member_ends_their_sessions_at_once(
    client: TestClient, database: Database, owner: Person, teammate: Person
) -> None:
    sign_in(client, teammate.email)
    with database.session() as db:
        remove_member(db, teammate.account_id, _user_id(database, teammate.email))
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    with database.reader() as db:
        assert db.scalar(select(func.count()).select_from(UserSession)) == 0
    with pytest.raises(Conflict), database.session() as db:
        remove_member(db, owner.account_id, _user_id(database, owner.email))


def test_a_cookie_signed_with_the_real_secret_is_no_session_without_its_row(
    client: TestClient, settings: Settings, owner: Person
) -> None:
    # Even someone holding the secret key cannot mint a session: the token must be a live row.
    serializer = URLSafeTimedSerializer(settings.secret_key, salt="callpool-dashboard-session")
    for payload in ({"c": "x", "t": "guessed-token"}, {"c": "x", "u": 1}):
        client.cookies.set("callpool_session", serializer.dumps(payload))
        assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_throttle_entries_expire_and_are_removed(
    client: TestClient, database: Database, owner: Person, clock: FrozenClock
) -> None:
    page = client.get("/dashboard/login")
    data = {"email": owner.email, "password": "guess", "csrf": csrf_of(page.text)}
    client.post("/dashboard/login", data=data)
    with database.reader() as db:
        assert set(db.scalars(select(LoginFailures.key))) == {
            "email:owner@acme.test",
            "address:testclient",
        }
    clock.advance(minutes=15, seconds=1)
    sign_in(client, owner.email)
    with database.reader() as db:  # the old window is gone; only the new attempt's address row
        rows = db.execute(select(LoginFailures.key, LoginFailures.failures)).all()
    assert [tuple(row) for row in rows] == [("address:testclient", 0)]


def test_logout_needs_the_csrf_token(as_owner: TestClient) -> None:
    assert as_owner.post("/dashboard/logout").status_code == 403
    assert as_owner.get("/dashboard", follow_redirects=False).status_code == 200


def test_a_tampered_cookie_is_ignored(client: TestClient, owner: Person) -> None:
    sign_in(client, owner.email)
    cookie = client.cookies["callpool_session"]
    client.cookies.clear()
    client.cookies.set("callpool_session", cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"))
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_next_never_leaves_the_site(client: TestClient, owner: Person) -> None:
    page = client.get("/dashboard/login?next=//evil.example/")
    response = client.post(
        "/dashboard/login",
        data={
            "email": owner.email,
            "password": PASSWORD,
            "next": "//evil.example/",
            "csrf": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/dashboard"


def test_createuser_then_sign_in(client: TestClient, database: Database) -> None:
    with database.session() as db:
        user, account = create_user_with_account(db, "First@Example.test", "long enough")
        assert (user.email, account.name) == ("first@example.test", "Default account")
        assert not ensure_user(db, "first@example.test", "other password", account.id)
    sign_in(client, "first@example.test", "long enough")
    assert "Default account" in client.get("/dashboard").text


def test_createuser_command(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CALLPOOL_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "CALLPOOL_SECRET_KEY": "cli-test-secret-key-0123",
    }
    command = [sys.executable, "-m", "callpool", "createuser", "--email", "ops@acme.test"]
    made = subprocess.run(
        [*command, "--password", "s3cret-enough"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert "created ops@acme.test, owner of account 'Default account'" in made.stdout
    again = subprocess.run(
        [*command, "--password", "s3cret-enough"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr
    short = subprocess.run(
        [*command[:-1], "new@acme.test", "--password", "short"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "at least 8 characters" in short.stderr


def test_the_cookie_is_secure_and_http_only_on_the_public_https_url(
    client: TestClient, owner: Person
) -> None:
    # settings.public_url is https://callpool.test: a proxy in front ends TLS for it.
    page = client.get("https://callpool.test/dashboard/login")
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in client.get("http://testserver/dashboard/login").headers["set-cookie"]
