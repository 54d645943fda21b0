"""Dashboard sign-ins kept as rows, so they can be ended.

Why rows and not a per-user "session generation" number: a row ends one browser's session
(logout signs out this browser, not the user's phone), it expires on the server whatever the
cookie says, and the cookie carries a random token rather than the user id, so even a leaked
secret key mints no session. The cost per request is the one indexed read that loaded the
signed-in user before anyway (one query, joined to the user and their account).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from callpool import clock
from callpool.accounts.service import hash_key
from callpool.db import Database
from callpool.models import Account, Membership, User, UserSession

SESSION_LIFETIME = timedelta(days=14)


@dataclass(frozen=True)
class SignedIn:
    """The user a live session belongs to and the account they work in (their first)."""

    user_id: int
    email: str
    account_id: int
    account_name: str
    role: str
    time_zone: str  # the account's IANA zone: every time the dashboard shows is in it


def start_session(db: Session, user_id: int) -> str:
    """A new session for ``user_id``; returns the token for the cookie (stored only hashed)."""
    now = clock.now()
    # The user's expired sessions go here, where the index on user_id finds them cheaply.
    db.execute(
        delete(UserSession).where(UserSession.user_id == user_id, UserSession.expires_at <= now)
    )
    token = secrets.token_urlsafe(32)
    db.add(
        UserSession(
            token_hash=hash_key(token),
            user_id=user_id,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    db.flush()
    return token


def signed_in(database: Database, token: str) -> SignedIn | None:
    """Who holds the live session ``token``: ``None`` once it ended, expired, or its user
    belongs to no account."""
    with database.reader() as db:
        return _signed_in(db, token)


def _signed_in(db: Session, token: str) -> SignedIn | None:
    row = db.execute(
        select(User.id, User.email, Account.id, Account.name, Membership.role, Account.time_zone)
        .select_from(UserSession)
        .join(User, User.id == UserSession.user_id)
        .join(Membership, Membership.user_id == User.id)
        .join(Account, Account.id == Membership.account_id)
        .where(UserSession.token_hash == hash_key(token), UserSession.expires_at > clock.now())
        .order_by(Membership.id)
        .limit(1)
    ).first()
    return None if row is None else SignedIn(*row)


def end_session(database: Database, token: str) -> None:
    with database.session() as db:
        db.execute(delete(UserSession).where(UserSession.token_hash == hash_key(token)))


def end_user_sessions(db: Session, user_id: int) -> int:
    """Sign ``user_id`` out everywhere; returns how many sessions ended."""
    result = db.execute(delete(UserSession).where(UserSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)
