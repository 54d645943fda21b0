"""Queries on webhook endpoints and their messages; tenant reads start from the account."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from callpool.errors import NotFound
from callpool.models import Membership, OutboxMessage, User, WebhookEndpoint

WEBHOOK = "webhook"  # the outbox kind


def scoped_endpoints(account_id: int) -> Select[WebhookEndpoint]:
    return select(WebhookEndpoint).where(WebhookEndpoint.account_id == account_id)


def list_endpoints(db: Session, account_id: int) -> list[WebhookEndpoint]:
    return list(db.scalars(scoped_endpoints(account_id).order_by(WebhookEndpoint.id)))


def get_endpoint(db: Session, account_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.scalar(scoped_endpoints(account_id).where(WebhookEndpoint.id == endpoint_id))
    if endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return endpoint


def subscribers(db: Session, account_id: int, event: str) -> list[WebhookEndpoint]:
    """The account's enabled endpoints that take ``event`` (events are a short JSON list,
    filtered here rather than in SQL, where the two engines differ)."""
    endpoints = db.scalars(
        scoped_endpoints(account_id).where(WebhookEndpoint.enabled.is_(True))
    ).all()
    return [endpoint for endpoint in endpoints if event in endpoint.events]


def messages(
    db: Session, account_id: int, endpoint_id: int, *, limit: int, before: int | None
) -> list[OutboxMessage]:
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.account_id == account_id,
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
    row = db.scalar(
        select(OutboxMessage).where(
            OutboxMessage.id == message_id,
            OutboxMessage.account_id == account_id,
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
