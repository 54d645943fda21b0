from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callpool.models.base import Base, stored_enum
from callpool.telephony.base import CallStatus


class Call(Base):
    """A phone call to a tracker, with what it was attributed to."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_account_started", "account_id", "started_at"),
        Index("ix_calls_from_number", "account_id", "from_number", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_call_id: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # Trackers and pools are never deleted (released / soft-deleted): the links stay.
    tracker_id: Mapped[int | None] = mapped_column(ForeignKey("trackers.id"))
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id"))
    from_number: Mapped[str] = mapped_column(String(32))
    to_number: Mapped[str] = mapped_column(String(32))
    forwarded_to: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    status: Mapped[CallStatus] = mapped_column(stored_enum(CallStatus), default=CallStatus.RINGING)
    # The provider's sequence for the last status applied: out-of-order callbacks never go back.
    status_rank: Mapped[int] = mapped_column(default=0)
    duration: Mapped[int | None]  # seconds
    recording_url: Mapped[str | None] = mapped_column(Text)
    # When that recording began, by the provider's clock: an older recording's callback,
    # replayed late, never replaces a newer one.
    recording_at: Mapped[datetime | None]
    # Attribution
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str | None] = mapped_column(String(200))
    medium: Mapped[str | None] = mapped_column(String(200))
    confidence: Mapped[float] = mapped_column(default=0.0)
    candidates: Mapped[list[Any]] = mapped_column(default=list)  # other session ids
    # Where several sessions could have called: every one of them, likeliest first, each with
    # the evidence for it ({"session_id": ..., "reasons": [...]}); empty with one candidate.
    ranking: Mapped[list[Any]] = mapped_column(default=list)
    # What the carrier said the calling line is (mobile | landline | voip), when it says.
    caller_line_type: Mapped[str | None] = mapped_column(String(20))
    attribution_reason: Mapped[str | None] = mapped_column(String(60))
    first_call_id: Mapped[int | None]  # repeat caller: the caller's first call (first touch)
