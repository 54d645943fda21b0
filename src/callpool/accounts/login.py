"""Signing in with a password without holding anything else up.

argon2 takes ~160 ms of CPU per check, on purpose. Run inside a write transaction it held
SQLite's one write lock that long (a flood of wrong passwords stalled every visit); run on the
event loop it stalls every request. So a sign-in is: one short write transaction (count the
attempt, read the stored hash), the check in a small thread pool of its own with no
transaction open, then, only if it succeeded, a second short write (start the session). The
pool's few threads bound what a flood can take: half the cores at most, and queued sign-ins
wait there without holding a thread that visits and webhooks need.
"""

from __future__ import annotations

import asyncio
import enum
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from callpool.accounts import sessions, throttle, users
from callpool.db import Database

_password_checks = ThreadPoolExecutor(
    max_workers=max(1, (os.cpu_count() or 2) // 2), thread_name_prefix="password-check"
)


class Outcome(enum.Enum):
    SIGNED_IN = "signed in"
    WRONG = "wrong email or password"
    THROTTLED = "too many attempts"


@dataclass(frozen=True)
class LoginResult:
    outcome: Outcome
    token: str | None = None  # the new session's, when signed in


async def log_in(database: Database, email: str, password: str, address: str) -> LoginResult:
    email = users.normalize_email(email)
    checked = await _checked(database, email, password, address)
    if isinstance(checked, Outcome):
        return LoginResult(checked)
    found, verified = checked
    token = await run_in_threadpool(_sign_in, database, email, address, found, verified)
    if token is None:
        return LoginResult(Outcome.WRONG)
    return LoginResult(Outcome.SIGNED_IN, token)


async def change_password(
    database: Database, email: str, current: str, new: str, address: str
) -> LoginResult:
    """A signed-in user's new password, once their current one is checked. The check is
    throttled as a sign-in is (a stolen session cookie must not become a way to guess the
    password), and both hashes are made off the event loop with no transaction open. Every
    session of the user ends, on every process; the result carries a new one for the browser
    that asked. ``Invalid`` (field ``password``) for a new password too short."""
    users.check_new_password(new)
    email = users.normalize_email(email)
    checked = await _checked(database, email, current, address)
    if isinstance(checked, Outcome):
        return LoginResult(checked)
    found, _ = checked
    loop = asyncio.get_running_loop()
    new_hash = await loop.run_in_executor(_password_checks, users.hash_password, new)
    token = await run_in_threadpool(_replace, database, email, address, found, new_hash)
    if token is None:
        return LoginResult(Outcome.WRONG)
    return LoginResult(Outcome.SIGNED_IN, token)


async def _checked(
    database: Database, email: str, password: str, address: str
) -> tuple[users.Credentials, users.Verified] | Outcome:
    """The user's credentials if ``password`` is theirs, else why not: the attempt is counted
    (and refused past the throttle's limits) first, then checked in the password pool."""
    allowed, found = await run_in_threadpool(_count_attempt, database, email, address)
    if not allowed:
        return Outcome.THROTTLED
    loop = asyncio.get_running_loop()
    verified = await loop.run_in_executor(_password_checks, users.check_password, found, password)
    if verified is None or found is None:
        return Outcome.WRONG
    return found, verified


def _count_attempt(
    database: Database, email: str, address: str
) -> tuple[bool, users.Credentials | None]:
    with database.session() as db:
        if not throttle.attempt(db, email, address):
            return False, None
        return True, users.credentials(db, email)


def _sign_in(
    database: Database,
    email: str,
    address: str,
    found: users.Credentials,
    verified: users.Verified,
) -> str | None:
    with database.session() as db:
        if users.credentials(db, email) != found:  # the password changed during the check
            return None
        throttle.succeeded(db, email, address)
        if verified.new_hash is not None:
            users.store_rehash(db, found, verified.new_hash)
        return sessions.start_session(db, found.user_id)


def _replace(
    database: Database, email: str, address: str, found: users.Credentials, new_hash: str
) -> str | None:
    with database.session() as db:
        if users.credentials(db, email) != found:  # changed meanwhile, by another request
            return None
        throttle.succeeded(db, email, address)
        users.replace_password(db, found.user_id, new_hash)  # ends every session
        return sessions.start_session(db, found.user_id)
