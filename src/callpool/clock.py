"""The one clock. Code asks it for the time; tests move it instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


def zone_named(name: str | None) -> ZoneInfo:
    """An account's time zone by its IANA name; UTC for a name this machine's zone database
    lacks, so that a page, a report or a digest is shown rather than lost."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


clock: Clock = Clock()


def now() -> datetime:
    return clock.now()


def use(new_clock: Clock) -> Clock:
    """Install ``new_clock`` for the process; returns the previous one."""
    global clock
    previous, clock = clock, new_clock
    return previous
