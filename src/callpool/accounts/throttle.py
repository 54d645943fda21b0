"""The login throttle: sign-in attempts counted in the database, so every app process shares
one allowance and a restart resets nothing.

Two counters, kept apart: per account email (guessing one account's password from many
addresses) and per client address (one address spraying many emails). Each counts in a fixed
window opened by its first attempt; the count goes up *before* the password is checked, in a
single upsert, so forty simultaneous guesses cannot all slip in under the limit. A sign-in
that succeeds takes its attempt back. Expired rows are deleted by the next attempt.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from callpool import clock
from callpool.models import LoginFailures

WINDOW = timedelta(minutes=15)
PER_EMAIL = 5
# Higher than per email: an office behind one address has several people signing in.
PER_ADDRESS = 20


def email_key(email: str) -> str:
    return f"email:{email}"


def address_key(address: str) -> str:
    return f"address:{address}"


def attempt(db: Session, email: str, address: str) -> bool:
    """Count one sign-in attempt; whether it may be checked (``False``: over a limit)."""
    now = clock.now()
    db.execute(delete(LoginFailures).where(LoginFailures.expires_at <= now))
    within_email = _count(db, email_key(email), now) <= PER_EMAIL
    within_address = _count(db, address_key(address), now) <= PER_ADDRESS
    return within_email and within_address


def succeeded(db: Session, email: str, address: str) -> None:
    """The right password: the email's count starts over, and the address gets its try back
    (people of one office signing in are not an attack)."""
    db.execute(delete(LoginFailures).where(LoginFailures.key == email_key(email)))
    db.execute(
        update(LoginFailures)
        .where(LoginFailures.key == address_key(address), LoginFailures.failures > 0)
        .values(failures=LoginFailures.failures - 1)
    )


def _count(db: Session, key: str, now: datetime) -> int:
    """Add one to ``key``'s count in its window (``attempt`` deleted ended windows first)."""
    insert: Any = (postgresql if _dialect(db) == "postgresql" else sqlite).insert
    statement = (
        insert(LoginFailures)
        .values(key=key, failures=1, expires_at=now + WINDOW)
        .on_conflict_do_update(
            index_elements=[LoginFailures.key], set_={"failures": LoginFailures.failures + 1}
        )
        .returning(LoginFailures.failures)
    )
    count: int = db.execute(statement).scalar_one()
    return count


def _dialect(db: Session) -> str:
    return db.get_bind().dialect.name
