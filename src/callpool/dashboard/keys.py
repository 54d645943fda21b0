"""API keys as the dashboard manages them: listed by prefix, created once, revoked."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from callpool import clock
from callpool.accounts.service import create_api_key
from callpool.errors import NotFound
from callpool.models import ApiKey


def _account_keys(account_id: int) -> Select[ApiKey]:
    # ApiKey hangs directly off its account; accounts.repository.scoped has no path for it yet.
    return select(ApiKey).where(ApiKey.account_id == account_id)


def list_keys(db: Session, account_id: int) -> Sequence[ApiKey]:
    return db.scalars(_account_keys(account_id).order_by(ApiKey.id.desc())).all()


def create_key(db: Session, account_id: int, name: str) -> str:
    """The raw key, to be shown this once; only its digest is stored."""
    return create_api_key(db, account_id, name)


def revoke_key(db: Session, account_id: int, key_id: int) -> None:
    key = db.scalar(_account_keys(account_id).where(ApiKey.id == key_id))
    if key is None:
        raise NotFound(f"api key {key_id} not found")
    if key.revoked_at is None:
        key.revoked_at = clock.now()
