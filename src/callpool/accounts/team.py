"""The people of an account, for the dashboard's account page: who they are, and taking one
out. Each function opens its own transaction. (Adding people is ``callpool createuser``.)"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from callpool.accounts import users
from callpool.accounts.users import OWNER
from callpool.db import Database
from callpool.models import Membership, User


@dataclass(frozen=True)
class Member:
    user_id: int
    email: str
    role: str  # owner | member


def list_members(database: Database, account_id: int) -> list[Member]:
    """The account's people, owners first, then by email."""
    with database.reader() as db:
        rows = db.execute(
            select(User.id, User.email, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.account_id == account_id)
            .order_by(Membership.role != OWNER, User.email)
        )
        return [Member(user_id, email, role) for user_id, email, role in rows]


def remove_member(database: Database, account_id: int, user_id: int) -> str:
    """Take someone out of the account; their sessions end at once, everywhere. Their email;
    ``NotFound`` for someone not in it, ``Conflict`` for its only owner."""
    with database.session() as db:
        users.remove_member(db, account_id, user_id)
        return db.get_one(User, user_id).email
