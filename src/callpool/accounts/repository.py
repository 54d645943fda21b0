"""Tenant scoping in one place: every query on tenant data starts from ``scoped``."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from callpool.errors import NotFound
from callpool.models import (
    Account,
    ApiKey,
    Call,
    Ga4Stream,
    GoogleAdsFeed,
    OutboxMessage,
    Pool,
    Site,
    Tracker,
    VisitSession,
    WebhookEndpoint,
)

M = TypeVar("M", bound=Any)


def scoped(model: type[M], account_id: int) -> Select[M]:
    """``SELECT model`` limited to one account's rows, however the model reaches its account."""
    query = select(model)
    if model in (
        Site,
        Pool,
        Call,
        ApiKey,
        WebhookEndpoint,
        OutboxMessage,
        GoogleAdsFeed,
        Ga4Stream,
    ):
        return query.where(model.account_id == account_id)
    if model is VisitSession:
        return query.join(Site, Site.id == VisitSession.site_id).where(
            Site.account_id == account_id
        )
    if model is Tracker:
        return query.join(Pool, Pool.id == Tracker.pool_id).where(Pool.account_id == account_id)
    if model is Account:
        return query.where(Account.id == account_id)
    raise TypeError(f"no tenant path for {model.__name__}")


def get_scoped(db: Session, model: type[M], account_id: int, object_id: Any) -> M:
    """One row of the account, or ``NotFound`` (also for other accounts' rows)."""
    row: M | None = db.scalar(scoped(model, account_id).where(model.id == object_id))
    if row is None:
        raise NotFound(f"{model.__name__.lower()} {object_id} not found")
    return row
