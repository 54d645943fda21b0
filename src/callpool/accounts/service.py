"""Accounts and API keys."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from callpool import clock
from callpool.accounts.repository import get_scoped, scoped
from callpool.models import Account, ApiKey

KEY_PREFIX = "cp_"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def first_account(db: Session, *, create_name: str | None = None) -> Account | None:
    account = db.scalar(select(Account).order_by(Account.id).limit(1))
    if account is None and create_name:
        account = Account(name=create_name, created_at=clock.now())
        db.add(account)
        db.flush()
    return account


def create_api_key(db: Session, account_id: int, name: str, raw: str | None = None) -> str:
    """Store a new key (hashed) and return the raw key; it is shown only this once."""
    raw = raw or KEY_PREFIX + secrets.token_urlsafe(24)
    db.add(
        ApiKey(
            account_id=account_id,
            name=name,
            prefix=raw[:10],
            key_hash=hash_key(raw),
            created_at=clock.now(),
        )
    )
    db.flush()
    return raw


def ensure_bootstrap_key(db: Session, raw: str) -> None:
    """Create ``raw`` as a key of the first account (made if missing), unless it exists."""
    if db.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(raw))) is not None:
        return
    account = first_account(db, create_name="Default account")
    assert account is not None
    create_api_key(db, account.id, "bootstrap", raw)


def account_for_key(db: Session, raw: str) -> int | None:
    key = db.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(raw), ApiKey.revoked_at.is_(None))
    )
    if key is None:
        return None
    key.last_used_at = clock.now()
    return key.account_id


def list_api_keys(db: Session, account_id: int) -> Sequence[ApiKey]:
    """Newest first, revoked ones included (listed by prefix only)."""
    return db.scalars(scoped(ApiKey, account_id).order_by(ApiKey.id.desc())).all()


def revoke_api_key(db: Session, account_id: int, key_id: int) -> ApiKey:
    key: ApiKey = get_scoped(db, ApiKey, account_id, key_id)
    if key.revoked_at is None:
        key.revoked_at = clock.now()
    return key
