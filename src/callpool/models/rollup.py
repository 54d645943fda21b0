"""Daily rollups of the reports: counts for closed UTC days, written by the worker.

The reports read these for whole days that are rolled up and the live tables for the rest
(the current day, the days still inside the late-data window, a period's partial first and
last day). ``callpool.reports.rollup`` writes them; ``RolledDay`` says which days are done.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callpool.models.base import Base


class RolledDay(Base):
    """A UTC day whose rollup rows are complete, for every account."""

    __tablename__ = "rolled_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    rolled_at: Mapped[datetime]
    # The day's calls when it was rolled up: a different live count means late calls arrived
    # (a spool replayed after an outage), and the worker rolls the day up again.
    calls: Mapped[int]


class DailySessionStats(Base):
    """Human sessions of a site and day, by one dimension.

    ``dimension`` is ``source_medium`` (value = source, value2 = medium), ``campaign``,
    ``term`` or ``landing_page`` (value = the landing URL without query and fragment, as the
    live query groups it). Every session is counted once under each dimension.
    """

    __tablename__ = "daily_session_stats"
    __table_args__ = (Index("ix_daily_session_stats_site_day", "site_id", "dimension", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    day: Mapped[date] = mapped_column(index=True)
    dimension: Mapped[str] = mapped_column(String(20))
    value: Mapped[str | None] = mapped_column(Text)
    value2: Mapped[str | None] = mapped_column(String(200))
    sessions: Mapped[int]


class DailyCallStats(Base):
    """Calls of an account, pool and day, by one dimension (see ``DailySessionStats``).

    ``source_medium`` comes from the call itself; campaign, term and landing page from the
    session it was attributed to (null without one).
    """

    __tablename__ = "daily_call_stats"
    __table_args__ = (Index("ix_daily_call_stats_account_day", "account_id", "dimension", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    pool_id: Mapped[int | None]  # as on the call: a site filter goes through the pool
    day: Mapped[date] = mapped_column(index=True)
    dimension: Mapped[str] = mapped_column(String(20))
    value: Mapped[str | None] = mapped_column(Text)
    value2: Mapped[str | None] = mapped_column(String(200))
    calls: Mapped[int]
    answered: Mapped[int]
    missed: Mapped[int]
    first_time: Mapped[int]
    attributed: Mapped[int]
    duration_sum: Mapped[int]
    duration_count: Mapped[int]  # calls with a duration: the average is sum / count


class HourlyPoolStats(Base):
    """A pool's most concurrent leases and leases started in one UTC hour of a rolled day."""

    __tablename__ = "hourly_pool_stats"
    __table_args__ = (Index("ix_hourly_pool_stats_pool_hour", "pool_id", "hour"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"))
    day: Mapped[date] = mapped_column(index=True)
    hour: Mapped[datetime]
    peak_leases: Mapped[int]
    leases_started: Mapped[int]
    # On a day's last hour: the earliest start among the leases still running at midnight
    # (null when none). A live sweep from the next day on reads no lease that started
    # before it, instead of every lease of the pool's history.
    running_from: Mapped[datetime | None]
