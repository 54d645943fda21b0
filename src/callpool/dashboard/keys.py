"""API keys as the dashboard manages them: listed by prefix, created once, revoked."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from callpool import clock
from callpool.accounts.repository import get_scoped, scoped
from callpool.accounts.service import create_api_key
from callpool.models import ApiKey


def list_keys(db: Session, account_id: int) -> Sequence[ApiKey]:
    return db.scalars(scoped(ApiKey, account_id).order_by(ApiKey.id.desc())).all()


def create_key(db: Session, account_id: int, name: str) -> str:
    """The raw key, to be shown this once; only its digest is stored."""
    return create_api_key(db, account_id, name)


def revoke_key(db: Session, account_id: int, key_id: int) -> None:
    key: ApiKey = get_scoped(db, ApiKey, account_id, key_id)
    if key.revoked_at is None:
        key.revoked_at = clock.now()
