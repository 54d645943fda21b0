from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, ForeignKey, Index, String, or_, text
from sqlalchemy.orm import Mapped, mapped_column

from callpool.models.base import Base, stored_enum


class TrackerStatus(StrEnum):
    """A tracker's life cycle (DESIGN.md "Domain", the pools FAQ)."""

    AVAILABLE = "available"
    ACTIVE = "active"
    FLAGGED = "flagged"
    RELEASED = "released"  # given back; kept for history
    # Carrier work in flight (DESIGN.md "Carriers"): the row records the intent before the
    # carrier is called, outside any transaction. ``provisioning``: the number is reserved and
    # being bought; ``releasing``: it is out of service and being given back. Neither is routed
    # nor handed out; both still hold the number (uq_trackers_live_number).
    PROVISIONING = "provisioning"
    RELEASING = "releasing"
    # A leaked number the operator retired: still forwarded and attributed, never handed to a
    # visitor; released once it has had no call for ``quiet_days``.
    RETIRING = "retiring"


AVAILABLE, ACTIVE, FLAGGED = TrackerStatus.AVAILABLE, TrackerStatus.ACTIVE, TrackerStatus.FLAGGED
RELEASED, PROVISIONING = TrackerStatus.RELEASED, TrackerStatus.PROVISIONING
RELEASING, RETIRING = TrackerStatus.RELEASING, TrackerStatus.RETIRING
# The states of the pools FAQ (carrier work in flight aside).
TRACKER_STATUSES = (AVAILABLE, ACTIVE, FLAGGED, RELEASED)
# The states a call to the number is forwarded in (and its calls recorded): a retiring number
# is still printed somewhere, and its callers must still reach the business.
ROUTED_STATUSES = (AVAILABLE, ACTIVE, FLAGGED, RETIRING)


def is_free(leased_until: datetime | None, now: datetime) -> bool:
    """The free-tracker rule (DESIGN.md): no lease ends after ``now``. Leases expire lazily:
    no job frees a tracker. ``free_clause`` is the same rule in SQL."""
    return leased_until is None or leased_until <= now


def retirement_ends(retired_at: datetime, quiet_days: int, last_call: datetime | None) -> datetime:
    """The earliest a retiring number is released: ``quiet_days`` after its retirement or
    after its last call, whichever is later (a call restarts the quiet period)."""
    quiet_from = retired_at if last_call is None else max(retired_at, last_call)
    return quiet_from + timedelta(days=quiet_days)


def free_clause(
    leased_until: ColumnElement[datetime | None], now: ColumnElement[datetime]
) -> ColumnElement[bool]:
    """``is_free`` in SQL, on a (possibly aliased) ``leased_until`` column."""
    return or_(leased_until.is_(None), leased_until <= now)


class Tracker(Base):
    """A tracking number bought from a telephony provider.

    ``leased_until`` mirrors the end of the current lease (session pools) so that choosing the
    least-recently-used free tracker is one indexed query on one table.
    """

    __tablename__ = "trackers"
    __table_args__ = (
        # One live tracker per number; released ones stay for history.
        Index(
            "uq_trackers_live_number",
            "number",
            unique=True,
            sqlite_where=text("status != 'released'"),
            postgresql_where=text("status != 'released'"),
        ),
        Index("ix_trackers_pool_free", "pool_id", "status", "leased_until"),
        Index("ix_trackers_status_claimed", "status", "claimed_at"),  # the worker's queue
        Index("ix_trackers_pool_holder", "pool_id", "holder"),  # numbers held per address
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No ON DELETE CASCADE here or below: trackers, their assignments and leases are history
    # (calls are attributed by them); pools and sites are only ever soft-deleted.
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"))
    number: Mapped[str] = mapped_column(String(20))  # E.164
    provider: Mapped[str] = mapped_column(String(20))
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[TrackerStatus] = mapped_column(stored_enum(TrackerStatus), default=AVAILABLE)
    original_number: Mapped[str | None] = mapped_column(String(20))  # fixed at activation
    source: Mapped[str | None] = mapped_column(String(200))  # automated: current source
    medium: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]
    dropped_at: Mapped[datetime | None]  # when it was flagged
    released_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]  # when the operator retired it (status retiring)
    quiet_days: Mapped[int | None]  # retiring: released after this many days without a call
    leased_until: Mapped[datetime | None]
    # Session pools: the client address (hashed, as on the session) that claimed it last.
    holder: Mapped[str | None] = mapped_column(String(64))
    # Carrier work (provisioning, releasing) is claimed by a conditional UPDATE that sets both;
    # a claim older than the worker's timeout is a dead process's and may be taken over.
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")  # carrier calls, this step
    last_error: Mapped[str | None] = mapped_column(String(500))  # the carrier's, for the operator


class TrackerAssignment(Base):
    """Which source/medium a tracker served, and when: how automated pools attribute calls."""

    __tablename__ = "tracker_assignments"
    __table_args__ = (Index("ix_tracker_assignments_tracker_time", "tracker_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id"))
    source: Mapped[str] = mapped_column(String(200))
    medium: Mapped[str] = mapped_column(String(200))
    original_number: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
