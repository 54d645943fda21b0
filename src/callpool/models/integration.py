"""What leaves the system: the outbox, its delivery attempts, webhook endpoints, email choices."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callpool.models.base import Base


class WebhookEndpoint(Base):
    """A URL of the account's that receives the events it subscribed to, signed per the
    Standard Webhooks specification with ``secret`` (``whsec_…``)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[Any]] = mapped_column(default=list)
    description: Mapped[str | None] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation, deliveries carry a signature by the old secret too, until this time:
    # receivers switch over without dropping a delivery.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    # Set when the outbox gave up on a delivery (24 h of failures): shown in the dashboard.
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OutboxMessage(Base):
    """One message to deliver (a webhook to one endpoint, an email to one user), written in the
    transaction of the event it tells about and delivered by the worker with retries."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The worker's question: what is due now (pending, or sending with an expired lease).
        Index("ix_outbox_due", "state", "next_attempt_at"),
        Index("ix_outbox_target", "kind", "target_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # webhook | email | (future: gads, ga4)
    target_id: Mapped[int]  # the webhook endpoint, or the user emailed
    event: Mapped[str] = mapped_column(String(40))
    # The message's id: the ``webhook-id`` header, the same on every retry and redelivery.
    message_id: Mapped[str] = mapped_column(String(40))
    # Makes writing the same message twice a no-op (a daily digest, a pool.exhausted hour).
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(20), default="pending")  # see outbox.STATES
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    # A worker's claim: until this time no other worker takes the row; a worker killed while
    # sending leaves it to be taken again once it passes (at least once, never lost).
    lease_until: Mapped[datetime | None]
    claim: Mapped[str | None] = mapped_column(String(40))
    # Retries go on for at least 24 h from here (the first attempt, or the last redeliver).
    window_started_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))


class DeliveryAttempt(Base):
    """One try at delivering a message: kept and shown, whatever its outcome."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    ok: Mapped[bool]
    response_code: Mapped[int | None]
    response_start: Mapped[str | None] = mapped_column(Text)  # the answer's first bytes
    latency_ms: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(500))


class EmailPreference(Base):
    """What one user of an account is emailed. No row: nothing (email is opt-in)."""

    __tablename__ = "email_preferences"
    __table_args__ = (UniqueConstraint("user_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    calls: Mapped[str] = mapped_column(String(10), default="off")  # all | missed | off
    daily_digest: Mapped[bool] = mapped_column(default=False)
    last_digest_on: Mapped[date | None]  # the last day (UTC) a digest was written for


class OutboxCursor(Base):
    """How far a job has read a table it turns into messages (pool events → pool.exhausted)."""

    __tablename__ = "outbox_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
