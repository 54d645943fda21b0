"""Queries on webhook endpoints and their messages; tenant reads start from ``scoped``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from callpool.accounts.repository import scoped
from callpool.errors import NotFound
from callpool.models import Membership, OutboxMessage, User, WebhookEndpoint

WEBHOOK = "webhook"  # the outbox kind


def list_endpoints(db: Session, account_id: int) -> list[WebhookEndpoint]:
    return list(db.scalars(scoped(WebhookEndpoint, account_id).order_by(WebhookEndpoint.id)))


def get_endpoint(db: Session, account_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint: WebhookEndpoint | None = db.scalar(
        scoped(WebhookEndpoint, account_id).where(WebhookEndpoint.id == endpoint_id)
    )
    if endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return endpoint


def enabled_endpoints(db: Session, account_id: int) -> list[WebhookEndpoint]:
    return list(
        db.scalars(scoped(WebhookEndpoint, account_id).where(WebhookEndpoint.enabled.is_(True)))
    )


def subscribers(db: Session, account_id: int, event: str) -> list[WebhookEndpoint]:
    """The account's enabled endpoints that take ``event`` (events are a short JSON list,
    filtered here rather than in SQL, where the two engines differ)."""
    return [e for e in enabled_endpoints(db, account_id) if event in e.events]


def messages(
    db: Session, account_id: int, endpoint_id: int, *, limit: int, before: int | None
) -> list[OutboxMessage]:
    query = (
        scoped(OutboxMessage, account_id)
        .where(
            OutboxMessage.kind == WEBHOOK,
            OutboxMessage.target_id == endpoint_id,
        )
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(OutboxMessage.id < before)
    return list(db.scalars(query))


def get_message(db: Session, account_id: int, endpoint_id: int, message_id: int) -> OutboxMessage:
    row: OutboxMessage | None = db.scalar(
        scoped(OutboxMessage, account_id).where(
            OutboxMessage.id == message_id,
            OutboxMessage.kind == WEBHOOK,
            OutboxMessage.target_id == endpoint_id,
        )
    )
    if row is None:
        raise NotFound(f"delivery {message_id} not found")
    return row


def owners(db: Session, account_id: int) -> list[User]:
    return list(
        db.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.account_id == account_id, Membership.role == "owner")
            .order_by(User.id)
        )
    )
