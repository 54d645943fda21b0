"""Accounts and API keys.

Transactions: the functions the REST API and the dashboard call take the ``Database`` and open
their own; a handler never opens one. Those taking a ``Session`` are steps for a caller that
already holds a transaction (start-up, seeding).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from callpool import clock
from callpool.accounts.repository import get_scoped, scoped
from callpool.accounts.schemas import (
    MAX_TARGET,
    MIN_TARGET,
    AccountOut,
    AccountUpdate,
    ApiKeyCreated,
    ApiKeyOut,
)
from callpool.db import Database
from callpool.errors import Invalid, NotFound
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


def new_api_key(database: Database, account_id: int, name: str) -> ApiKeyCreated:
    """Store a new key (hashed); the answer is the only time the raw key is shown."""
    with database.session() as db:
        key, raw = _store_key(db, account_id, name, None)
        return ApiKeyCreated.model_validate(
            {**ApiKeyOut.model_validate(key).model_dump(), "key": raw}
        )


def create_api_key(db: Session, account_id: int, name: str, raw: str | None = None) -> str:
    """``new_api_key`` inside the caller's transaction, optionally with a given raw key
    (the bootstrap key, seeded demo keys); returns the raw key."""
    return _store_key(db, account_id, name, raw)[1]


def _store_key(db: Session, account_id: int, name: str, raw: str | None) -> tuple[ApiKey, str]:
    raw = raw or KEY_PREFIX + secrets.token_urlsafe(24)
    key = ApiKey(
        account_id=account_id,
        name=name,
        prefix=raw[:10],
        key_hash=hash_key(raw),
        created_at=clock.now(),
    )
    db.add(key)
    db.flush()
    return key, raw


def ensure_bootstrap_key(db: Session, raw: str) -> None:
    """Create ``raw`` as a key of the first account (made if missing), unless it exists."""
    if db.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(raw))) is not None:
        return
    account = first_account(db, create_name="Default account")
    assert account is not None
    create_api_key(db, account.id, "bootstrap", raw)


def account_for_key(database: Database, raw: str) -> int | None:
    """The account of a live key, or None; the key's last use is recorded."""
    with database.session() as db:
        key = db.scalar(
            select(ApiKey).where(ApiKey.key_hash == hash_key(raw), ApiKey.revoked_at.is_(None))
        )
        if key is None:
            return None
        key.last_used_at = clock.now()
        return key.account_id


def list_api_keys(database: Database, account_id: int) -> list[ApiKeyOut]:
    """Newest first, revoked ones included (listed by prefix only)."""
    with database.reader() as db:
        keys = db.scalars(scoped(ApiKey, account_id).order_by(ApiKey.id.desc()))
        return [ApiKeyOut.model_validate(key) for key in keys]


def revoke_api_key(database: Database, account_id: int, key_id: int) -> None:
    """Stop a key from working (``NotFound`` for another account's); it stays listed."""
    with database.session() as db:
        key: ApiKey = get_scoped(db, ApiKey, account_id, key_id)
        if key.revoked_at is None:
            key.revoked_at = clock.now()


def set_time_zone(database: Database, account_id: int, name: str) -> str:
    """Set the account's time zone (an IANA name, like America/Chicago); returns it.

    Every time the dashboard shows and every report day follows it. ``Invalid`` for a name
    this machine's zone database lacks: nothing is changed.
    """
    return update_account(database, account_id, {"time_zone": name}).time_zone


def account_settings(database: Database, account_id: int) -> AccountOut:
    with database.reader() as db:
        return AccountOut.model_validate(_account(db, account_id))


def update_account(database: Database, account_id: int, changes: Mapping[str, Any]) -> AccountOut:
    """Change the settings given (the fields of ``AccountUpdate``; None ones stay), from the
    API or a dashboard form. Each is checked before any is written: ``Invalid`` for the first
    bad one, and nothing is changed.

    A new accuracy target makes the account's pool-size advice due again
    (``simulation.daily.pools_due`` compares each advice's target with the account's).
    """
    values = {
        field: value
        for field, value in changes.items()
        if field in AccountUpdate.model_fields and value is not None
    }
    if "name" in values:
        values["name"] = _checked_name(values["name"])
    if "time_zone" in values:
        values["time_zone"] = _checked_zone(values["time_zone"])
    if "accuracy_target" in values:
        values["accuracy_target"] = checked_target(values["accuracy_target"])
    with database.session() as db:
        account = _account(db, account_id)
        for field, value in values.items():
            setattr(account, field, value)
        db.flush()
        return AccountOut.model_validate(account)


def _account(db: Session, account_id: int) -> Account:
    account = db.get(Account, account_id)
    if account is None:
        raise NotFound(f"account {account_id} not found")
    return account


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise Invalid("The account's name cannot be empty", field="name")
    return name


def _checked_zone(name: str) -> str:
    name = name.strip()
    try:
        if not name or len(name) > 64:
            raise ValueError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            f"{name!r} is not a time zone name: pick one from the list, like America/Chicago",
            field="time_zone",
        ) from None
    return name


def checked_target(share: float) -> float:
    """An accuracy target within ``MIN_TARGET``–``MAX_TARGET``, to 4 decimals (99.5 % typed
    in the dashboard is 0.995, not 0.9950000000000001); ``Invalid`` otherwise."""
    rounded = round(share, 4) if math.isfinite(share) else share
    if not MIN_TARGET <= rounded <= MAX_TARGET:
        raise Invalid(
            f"The accuracy target must be from {MIN_TARGET:.0%} to {MAX_TARGET:.1%} of calls "
            f"({MIN_TARGET}–{MAX_TARGET} as a share)",
            field="accuracy_target",
        )
    return rounded
