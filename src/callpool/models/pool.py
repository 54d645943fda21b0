from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from callpool.models.base import Base, stored_enum


class PoolKind(StrEnum):
    """DESIGN.md "Domain": visitor-level (session) or source-level (automated, manual)."""

    SESSION = "session"
    AUTOMATED = "automated"
    MANUAL = "manual"


class OverflowPolicy(StrEnum):
    """What a visitor sees when a session pool has no free tracker (DESIGN.md)."""

    REUSE = "reuse"  # share the tracker whose holder has been idle longest
    FALLBACK = "fallback"  # the pool's overflow number
    ORIGINAL = "original"  # no swap


SESSION, AUTOMATED, MANUAL = PoolKind.SESSION, PoolKind.AUTOMATED, PoolKind.MANUAL
POOL_KINDS = tuple(PoolKind)
OVERFLOW_POLICIES = tuple(OverflowPolicy)


class Pool(Base):
    """A managed group of trackers. There is no tracker without a pool."""

    __tablename__ = "pools"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # Sites are soft-deleted, so nothing cascades from them into pools (or any history).
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[PoolKind] = mapped_column(stored_enum(PoolKind))
    original_number: Mapped[str] = mapped_column(String(20))  # E.164, where calls are forwarded
    area_code: Mapped[str | None] = mapped_column(String(10))
    toll_free: Mapped[bool] = mapped_column(default=False)
    size: Mapped[int]
    utilization: Mapped[float | None]  # automated pools only
    min_sources: Mapped[int] = mapped_column(default=1)  # top list never shorter than this
    visit_threshold: Mapped[int] = mapped_column(default=100)
    window_days: Mapped[int] = mapped_column(default=30)  # visits counted over this window
    timeline_days: Mapped[int] = mapped_column(default=30)  # how long a flagged tracker lingers
    lease_minutes: Mapped[int] = mapped_column(default=30)
    overflow_policy: Mapped[OverflowPolicy] = mapped_column(
        stored_enum(OverflowPolicy), default=OverflowPolicy.REUSE
    )
    overflow_number: Mapped[str | None] = mapped_column(String(20))  # for policy "fallback"
    # Session pools: numbers one client address may hold at once; its further sessions share
    # its own (visits/claim.py: one more per further app process). Raise it for offices
    # behind one address; 0: no limit.
    max_leases_per_address: Mapped[int] = mapped_column(default=3, server_default="3")
    # What visitors whose source/medium has no tracker see, for automated and manual pools:
    # this session pool's number; None: the site's own (no swap). The API says
    # "pool:<id>" or "original" (pools/schemas.py).
    others_pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id"))
    record_calls: Mapped[bool] = mapped_column(default=False)
    whisper: Mapped[str | None] = mapped_column(String(300))
    # Swap target: the business number as written on the site (E.164) and/or a CSS selector.
    swap_number: Mapped[str | None] = mapped_column(String(20))
    swap_selector: Mapped[str | None] = mapped_column(String(500))
    # Conditions: {"paths": ["/locations/austin*"], "sources": ["google/cpc"], ...}; empty = all.
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)
    priority: Mapped[int] = mapped_column(default=0)  # higher wins when several pools match
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]  # deleted pools keep their history for attribution
    rebalanced_at: Mapped[datetime | None]


class PoolEvent(Base):
    """Things worth counting over time: exhaustion, rebalances, operator actions."""

    __tablename__ = "pool_events"
    __table_args__ = (Index("ix_pool_events_pool_kind_at", "pool_id", "kind", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"))
    kind: Mapped[str] = mapped_column(String(40))  # exhausted | rebalanced | …
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
