"""The traffic model: who visits when, for how long, and who calls and when.

Every assumption is a field of ``Assumptions`` with its default and where the default comes
from. None of them is measured on a real site: they are stated so that anyone can change them
(``callpool simulate --help`` has a flag for each) or replace the model by a site's own history
(``callpool.simulation.history``), whose calls are then drawn by ``draw_calls`` below.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta

DURING, SOON, LATER = "during", "soon", "later"  # when a call is made: the timings scored apart
TIMINGS = (DURING, SOON, LATER)
# The day the model's traffic starts (a Monday, midnight UTC): nothing depends on it.
START = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Assumptions:
    """The model's parameters. ``help`` of each field is what ``--help`` prints."""

    daily_visitors: float = field(
        default=500.0,
        metadata={"help": "sessions a day (the seed's example site: 500, ~15 concurrent)"},
    )
    day_night: float = field(
        default=0.8,
        metadata={
            "help": "amplitude of the day/night curve, 0-1: the rate follows "
            "mean*(1+a*cos(2pi(h-peak)/24)), so 0.8 is 1.8x the mean at the peak hour and "
            "0.2x at night (an assumption: local-service sites' hour-of-day reports)"
        },
    )
    peak_hour: float = field(
        default=14.0, metadata={"help": "hour of the day's busiest traffic (mid-afternoon)"}
    )
    pages_per_session: float = field(
        default=3.0,
        metadata={
            "help": "mean pages per session, geometric (analytics benchmarks: 2-4 for "
            "small-business sites)"
        },
    )
    seconds_per_page: float = field(
        default=60.0,
        metadata={
            "help": "mean seconds on a page, exponential (3 pages x 60 s: the ~3 min "
            "average session of analytics benchmarks)"
        },
    )
    returning_share: float = field(
        default=0.25,
        metadata={
            "help": "share of sessions by a visitor seen in the last 30 days (analytics "
            "benchmarks: 20-30 %% returning)"
        },
    )
    call_share: float = field(
        default=0.03,
        metadata={
            "help": "share of sessions that end in a call (vendors report 1-5 %% for "
            "local-service sites)"
        },
    )
    during_share: float = field(
        default=0.55,
        metadata={
            "help": "of calls: share made during the visit (issue 15's measured mix: 32 of 58)"
        },
    )
    soon_share: float = field(
        default=0.26,
        metadata={
            "help": "of calls: share made shortly after leaving (issue 15: 15 of 58); the "
            "rest are made hours later (11 of 58)"
        },
    )
    soon_minutes: float = field(
        default=20.0,
        metadata={"help": "'shortly after leaving' is uniform within this many minutes"},
    )
    later_hours: float = field(
        default=24.0,
        metadata={
            "help": "'hours later' is uniform from soon-minutes to this many hours after "
            "leaving (the attribution window's default length)"
        },
    )
    tel_click_share: float = field(
        default=0.5,
        metadata={
            "help": "of calls during the visit: share placed by tapping the number's tel: "
            "link (about half of local-service traffic is on phones)"
        },
    )
    mobile_share: float = field(
        default=0.55, metadata={"help": "share of sessions on phones (the device on the session)"}
    )
    fixed_line_share: float = field(
        default=0.3,
        metadata={
            "help": "share of visitors who call from a landline or desk phone when they browsed "
            "on a computer (they call from their mobile after a visit on a phone). An "
            "assumption: about 3 in 4 US adults have no landline at home (CDC NHIS, 2023), "
            "and office desks add desk phones"
        },
    )
    line_type_share: float = field(
        default=1.0,
        metadata={
            "help": "share of calls whose carrier reports the caller's line type (1: a "
            "line-type lookup Add-on on every number; 0: none, the product's default)"
        },
    )

    def check(self) -> None:
        """Raise ``ValueError`` naming the first assumption out of its range."""
        shares = ("day_night", "returning_share", "call_share", "during_share", "soon_share")
        lines = ("fixed_line_share", "line_type_share")
        for name in (*shares, "tel_click_share", "mobile_share", *lines):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name.replace('_', '-')} must be between 0 and 1")
        if self.during_share + self.soon_share > 1:
            raise ValueError("during-share + soon-share must not exceed 1")
        for name in ("daily_visitors", "seconds_per_page", "soon_minutes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name.replace('_', '-')} must be positive")
        if self.pages_per_session < 1:
            raise ValueError("pages-per-session must be at least 1")
        if self.later_hours * 60 <= self.soon_minutes:
            raise ValueError("later-hours must be longer than soon-minutes")
        if not 0 <= self.peak_hour < 24:
            raise ValueError("peak-hour must be within 0-24")


def assumption_fields() -> list[tuple[str, float, str]]:
    """(name, default, help) of every assumption, in order: for the CLI and the docs."""
    return [(f.name, f.default, f.metadata["help"]) for f in fields(Assumptions)]  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class PlannedSession:
    """One visit: its visitor (an index; equal for a returning visitor's sessions), when it
    starts, its pageviews (seconds after the start, the first at 0) and when the visitor left."""

    visitor: int
    start: datetime
    pages: tuple[float, ...]
    leave: float
    mobile: bool


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """A call by the visitor of ``session`` (an index into the traffic's sessions)."""

    session: int
    at: datetime
    timing: str
    tel_click: bool  # placed by tapping the number on the page (during the visit only)
    fixed_line: bool = False  # from the visitor's landline or desk phone, not their mobile
    line_type_known: bool = False  # the carrier reports the caller's line type


@dataclass(frozen=True, slots=True)
class Traffic:
    sessions: list[PlannedSession]
    calls: list[PlannedCall]
    days: float


def generate(assumptions: Assumptions, days: float, seed: int) -> Traffic:
    """``days`` of the model's traffic, the same for the same seed."""
    rng = random.Random(seed)
    sessions = _sessions(assumptions, days, rng)
    return Traffic(sessions, draw_calls(sessions, assumptions, rng), days)


def _sessions(a: Assumptions, days: float, rng: random.Random) -> list[PlannedSession]:
    """Arrivals as a Poisson process whose rate follows the day/night curve (by thinning: a
    candidate at the peak rate is kept with probability rate/peak)."""
    mean_per_second = a.daily_visitors / 86_400
    peak = mean_per_second * (1 + a.day_night)
    end = days * 86_400
    sessions: list[PlannedSession] = []
    recent: list[tuple[float, int]] = []  # (start, visitor) of the last 30 days' sessions
    oldest = 0  # index of the first of ``recent`` within the last 30 days
    visitors = 0
    t = rng.expovariate(peak)
    while t < end:
        hour = (t / 3600) % 24
        rate = mean_per_second * (
            1 + a.day_night * math.cos(2 * math.pi * (hour - a.peak_hour) / 24)
        )
        if rng.random() * peak < rate:
            while oldest < len(recent) and recent[oldest][0] < t - 30 * 86_400:
                oldest += 1
            if oldest < len(recent) and rng.random() < a.returning_share:
                visitor = recent[rng.randrange(oldest, len(recent))][1]
            else:
                visitor, visitors = visitors, visitors + 1
            recent.append((t, visitor))
            sessions.append(_session(a, visitor, START + timedelta(seconds=t), rng))
        t += rng.expovariate(peak)
    return sessions


def _session(a: Assumptions, visitor: int, start: datetime, rng: random.Random) -> PlannedSession:
    pages: list[float] = [0.0]
    # Geometric with mean ``pages_per_session``: after each page, another with probability p.
    another = 1 - 1 / a.pages_per_session
    elapsed = rng.expovariate(1 / a.seconds_per_page)
    while rng.random() < another:
        pages.append(round(elapsed, 3))
        elapsed += rng.expovariate(1 / a.seconds_per_page)
    mobile = rng.random() < a.mobile_share
    return PlannedSession(visitor, start, tuple(pages), round(elapsed, 3), mobile)


def draw_calls(
    sessions: list[PlannedSession], a: Assumptions, rng: random.Random
) -> list[PlannedCall]:
    """Which sessions call and when, by the model's call behaviour (also for a site's own
    recorded sessions: ``callpool.simulation.history``)."""
    calls = []
    for index, session in enumerate(sessions):
        if rng.random() >= a.call_share:
            continue
        left = session.start + timedelta(seconds=session.leave)
        pick = rng.random()
        if pick < a.during_share:
            at = session.start + timedelta(seconds=rng.uniform(0, session.leave))
            timing, clicked = DURING, rng.random() < a.tel_click_share
        elif pick < a.during_share + a.soon_share:
            at = left + timedelta(minutes=rng.uniform(0, a.soon_minutes))
            timing, clicked = SOON, False
        else:
            after = rng.uniform(a.soon_minutes, a.later_hours * 60)
            at = left + timedelta(minutes=after)
            timing, clicked = LATER, False
        calls.append(PlannedCall(index, at, timing, clicked))
    # Drawn after every call, so that the same seed still picks the same calls as before the
    # model had line types.
    return _lines(calls, sessions, a, rng)


def _lines(
    calls: list[PlannedCall], sessions: list[PlannedSession], a: Assumptions, rng: random.Random
) -> list[PlannedCall]:
    """Which line each call comes from: a visitor who has a fixed line (``fixed_line_share``)
    calls from it after a visit on a computer, from their mobile after one on a phone."""
    fixed: dict[int, bool] = {}
    lined = []
    for call in calls:
        session = sessions[call.session]
        if session.visitor not in fixed:
            fixed[session.visitor] = rng.random() < a.fixed_line_share
        from_fixed = fixed[session.visitor] and not session.mobile
        known = rng.random() < a.line_type_share
        lined.append(replace(call, fixed_line=from_fixed, line_type_known=known))
    return lined


def heartbeats(session: PlannedSession, every: int) -> list[float]:
    """The heartbeats (seconds after the start) that can change a lease.

    The snippet sends one every ``every`` seconds while a page is visible; each only pushes
    the lease to the same distance after itself. So two of them decide what a call finds:
    the first, if the first page is still shown then (it turns a new, provisional lease into a
    full one), and the last before the visitor leaves (it fixes the lease's end). The ones
    between are not simulated: a visit costs a few transactions instead of dozens.
    """
    beats = []
    first_gap = session.pages[1] if len(session.pages) > 1 else session.leave
    if first_gap >= every:
        beats.append(float(every))
    last_page = session.pages[-1]
    last = last_page + (session.leave - last_page) // every * every
    if last > last_page and (not beats or last > beats[0]):
        beats.append(last)
    return beats


def last_activity(session: PlannedSession, every: int) -> float:
    """Seconds after the start of the session's last pageview or heartbeat."""
    return max((session.pages[-1], *heartbeats(session, every)))
