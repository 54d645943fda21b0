"""Webhook endpoints: create, change, delete, rotate secrets, list and redeliver messages.

Transactions: each function takes the ``Database`` and opens its own; the REST API and the
dashboard never open one. A URL's host is resolved before the transaction begins (DNS can be
slow; no database lock waits on it).
"""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta

from sqlalchemy import delete

from callpool import clock
from callpool.db import Database
from callpool.errors import Conflict
from callpool.integrations import outbox
from callpool.integrations.webhooks import repository
from callpool.integrations.webhooks.addresses import resolve
from callpool.integrations.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryPage,
    SecretOut,
    WebhookCreate,
    WebhookUpdate,
)
from callpool.models import DeliveryAttempt, OutboxMessage, WebhookEndpoint
from callpool.settings import Settings

SECRET_BYTES = 24  # Standard Webhooks: 24 to 64 random bytes, base64, prefixed whsec_
ROTATION_GRACE = timedelta(hours=24)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_url(settings: Settings, url: str) -> str:
    """``Refused`` (a 422 on ``url``) for a URL the server may not call. Resolves the host."""
    resolve(url, allow_private=settings.webhooks_allow_private)
    return url


def list_endpoints(database: Database, account_id: int) -> list[WebhookEndpoint]:
    with database.reader() as db:
        return repository.list_endpoints(db, account_id)


def get_endpoint(database: Database, account_id: int, endpoint_id: int) -> WebhookEndpoint:
    """The account's endpoint (its secrets too: the dashboard shows them), or ``NotFound``."""
    with database.reader() as db:
        return repository.get_endpoint(db, account_id, endpoint_id)


def create_endpoint(
    database: Database, settings: Settings, account_id: int, fields: WebhookCreate
) -> WebhookEndpoint:
    now = clock.now()
    endpoint = WebhookEndpoint(
        account_id=account_id,
        url=check_url(settings, fields.url),
        events=list(fields.events),
        description=fields.description,
        secret=new_secret(),
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    with database.session() as db:
        db.add(endpoint)
        db.flush()
    return endpoint


def update_endpoint(
    database: Database,
    settings: Settings,
    account_id: int,
    endpoint_id: int,
    changes: WebhookUpdate,
) -> WebhookEndpoint:
    given = changes.model_dump(exclude_unset=True)
    if given.get("url") is not None:
        get_endpoint(database, account_id, endpoint_id)  # another account's: 404 before a 422
        check_url(settings, given["url"])
    with database.session() as db:
        endpoint = repository.get_endpoint(db, account_id, endpoint_id)
        if given.get("url") is not None:
            endpoint.url = given["url"]
        if given.get("events") is not None:
            endpoint.events = list(given["events"])
        if "description" in given:
            endpoint.description = given["description"]
        if given.get("enabled") is not None:
            endpoint.enabled = given["enabled"]
            if endpoint.enabled:
                endpoint.disabled_at = None
                endpoint.disabled_reason = None
        endpoint.updated_at = clock.now()
    return endpoint


def delete_endpoint(database: Database, account_id: int, endpoint_id: int) -> None:
    """The endpoint goes with its messages and their attempts (nothing else refers to them)."""
    with database.session() as db:
        endpoint = repository.get_endpoint(db, account_id, endpoint_id)
        db.execute(
            delete(OutboxMessage).where(
                OutboxMessage.kind == repository.WEBHOOK, OutboxMessage.target_id == endpoint.id
            )
        )
        db.delete(endpoint)


def rotate_secret(database: Database, account_id: int, endpoint_id: int) -> SecretOut:
    """A new secret; the old one still signs (beside it) for 24 hours."""
    with database.session() as db:
        endpoint = repository.get_endpoint(db, account_id, endpoint_id)
        now = clock.now()
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_until = now + ROTATION_GRACE
        endpoint.secret = new_secret()
        endpoint.updated_at = now
        return SecretOut(secret=endpoint.secret, previous_valid_until=now + ROTATION_GRACE)


def deliveries(
    database: Database, account_id: int, endpoint_id: int, *, limit: int, before: int | None
) -> DeliveryPage:
    with database.reader() as db:
        repository.get_endpoint(db, account_id, endpoint_id)
        rows = repository.messages(db, account_id, endpoint_id, limit=limit + 1, before=before)
        shown = rows[:limit]
        attempts = outbox.attempts_of(db, [row.id for row in shown])
        return DeliveryPage(
            deliveries=[delivery_out(row, attempts[row.id]) for row in shown],
            next_before=shown[-1].id if len(rows) > limit else None,
        )


def delivery_out(row: OutboxMessage, attempts: list[DeliveryAttempt]) -> DeliveryOut:
    return DeliveryOut(
        id=row.id,
        webhook_id=row.message_id,
        event=row.event,
        state=row.state,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if row.state == outbox.PENDING else None,
        delivered_at=row.delivered_at,
        last_error=row.last_error,
        payload=row.payload,
        attempts=[AttemptOut.model_validate(attempt) for attempt in attempts],
    )


def redeliver(
    database: Database, account_id: int, endpoint_id: int, delivery_id: int
) -> DeliveryOut:
    """The same message (same webhook-id) again, now; ``Conflict`` while the endpoint is
    disabled (enable it first)."""
    with database.session() as db:
        endpoint = repository.get_endpoint(db, account_id, endpoint_id)
        row = repository.get_message(db, account_id, endpoint_id, delivery_id)
        if not endpoint.enabled:
            raise Conflict("the endpoint is disabled: enable it, then redeliver")
        outbox.redeliver(db, row)
        db.flush()
        return delivery_out(row, outbox.attempts_of(db, [row.id])[row.id])
