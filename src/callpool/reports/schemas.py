"""What the reports return: the REST API's response models and the dashboard's data."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Dimension = Literal["source", "medium", "source_medium", "campaign", "term", "landing_page"]
DIMENSIONS: tuple[Dimension, ...] = (
    "source",
    "medium",
    "source_medium",
    "campaign",
    "term",
    "landing_page",
)
Interval = Literal["hour", "day"]


class Period(BaseModel):
    """A half-open stretch of time [start, end), both ends timezone-aware UTC."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _aware_and_ordered(self) -> Period:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("period bounds must be timezone-aware")
        if self.start >= self.end:
            raise ValueError("period start must be before its end")
        return self

    @property
    def length(self) -> timedelta:
        return self.end - self.start


class BreakdownRow(BaseModel):
    value: str | None = Field(
        description="The dimension's value; null when not set (direct calls, no campaign, …). "
        "For source_medium: 'source / medium'."
    )
    sessions: int = Field(description="Sessions (bots excluded) that started in the period")
    calls: int = Field(description="Calls in the period attributed to this value")
    conversion_rate: float | None = Field(description="calls / sessions; null without sessions")
    first_time_callers: int = Field(
        description="Calls that were the caller's first call to this account"
    )
    is_other: bool = Field(default=False, description="The sum of every row past the top N")


class Breakdown(BaseModel):
    dimension: Dimension
    period: Period
    rows: list[BreakdownRow] = Field(description="Sorted by calls, then sessions, descending")
    sessions: int
    calls: int


class TimeBucket(BaseModel):
    start: datetime = Field(description="Start of the bucket (UTC)")
    calls: int
    answered: int
    sessions: int


class TimeSeries(BaseModel):
    interval: Interval
    period: Period
    buckets: list[TimeBucket] = Field(description="Every bucket of the period, oldest first")


class Totals(BaseModel):
    period: Period
    calls: int
    answered: int = Field(description="Calls with status completed")
    missed: int = Field(description="Calls with status busy, no-answer, failed or canceled")
    average_duration: float | None = Field(description="Seconds, over calls with a duration")
    attributed: int = Field(description="Calls attributed to a session or a source")
    attributed_share: float | None = Field(description="attributed / calls; null without calls")
    sessions: int
    first_time_callers: int


class UtilizationBucket(BaseModel):
    start: datetime
    peak_leases: int = Field(description="Most leases held at one instant in the bucket")
    trackers: int = Field(description="Trackers of the pool that existed during the bucket")
    utilization: float | None = Field(description="peak_leases / trackers; can exceed 1 on reuse")
    exhaustion_events: int


class SizeAccuracy(BaseModel):
    size: int
    accuracy: float = Field(
        description="Share of simulated calls attributed to the session that made them, "
        "with no other candidate"
    )
    naive_accuracy: float = Field(
        description="The same traffic through a naive allocator (a random free number)"
    )


class SizeAdvice(BaseModel):
    """What ``callpool simulate --site`` found on the site's own recent sessions."""

    computed_at: datetime
    days: float = Field(
        description="Days of the site's sessions replayed: the last 30, or the latest whole "
        "days of them on a site too busy to replay a month"
    )
    sessions: int
    daily_sessions: float = Field(description="Sessions replayed per day")
    target: float = Field(description="The accuracy this advice aimed at")
    account_target: float = Field(description="The account's accuracy target now")
    outdated: bool = Field(
        description="True when the account's target changed since this advice: a new one "
        "for account_target is due at the worker's next round"
    )
    accuracy: float | None = Field(description="Accuracy at the pool's size")
    recommended_size: int | None = Field(
        description="The smallest size reaching the target; null when no size simulated does"
    )
    curve: list[SizeAccuracy]


class LeakedNumber(BaseModel):
    """A session-pool number that keeps getting calls nobody was shown it for: probably
    copied into a print ad, a directory or a contact list."""

    tracker_id: int
    number: str
    calls_without_lease: int
    last_call_at: datetime


class RetiringNumber(BaseModel):
    """A session-pool number the operator retired: still forwarded, never shown to a
    visitor, released once it has had no call for ``quiet_days``."""

    tracker_id: int
    number: str
    retired_at: datetime
    quiet_days: int
    last_call_at: datetime | None
    release_after: datetime = Field(
        description="The earliest it is released: quiet_days after its retirement or its "
        "last call, whichever is later (a call restarts the quiet period)"
    )


class PoolHealth(BaseModel):
    pool_id: int
    name: str
    kind: str
    site_id: int
    size: int
    period: Period
    interval: Interval
    trackers_by_status: dict[str, int] = Field(description="Current trackers, by status")
    peak_concurrent_leases: int
    leases: int = Field(description="Leases that started in the period")
    exhaustion_events: int
    capped_sessions: int = Field(
        default=0,
        description="New sessions that shared their own address's number: the address already "
        "held the pool's max_leases_per_address numbers",
    )
    capped_addresses: int = Field(default=0, description="How many addresses those came from")
    recommended_size: int | None = Field(
        description="Session pools: the size that would have covered the period; null otherwise"
    )
    recommendation: str = Field(description="How the recommended size was found, in words")
    leaked_numbers: list[LeakedNumber] = Field(
        default_factory=list,
        description="Session pools: numbers with at least 3 calls with no lease behind them in "
        "the period, the most first",
    )
    retiring_numbers: list[RetiringNumber] = Field(
        default_factory=list, description="Session pools: numbers retired, not yet released"
    )
    advice: SizeAdvice | None = Field(
        default=None,
        description="Session pools: accuracy by pool size, simulated daily on the site's own "
        "last 30 days; null until the first run",
    )
    buckets: list[UtilizationBucket]
