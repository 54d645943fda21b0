"""A site's own recorded traffic as the simulator's input.

The sessions and pageviews of the site's last ``days`` days are replayed as they happened:
each session starts when it started, views its pages when it viewed them and leaves at its
last recorded activity (``last_seen_at``, which heartbeats move). Returning visitors are the
visitor ids recorded. Which sessions call, and when, is drawn from the model's call behaviour
(``traffic.draw_calls``): calls already stored were made to the site's own pool and say little
about another size. Bots are left out (they never get a number).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from callpool.errors import NotFound
from callpool.models import Account, Pageview, Pool, Site, VisitSession
from callpool.models.pool import SESSION
from callpool.simulation.run import PoolSetup
from callpool.simulation.traffic import Assumptions, PlannedSession, Traffic, draw_calls

MOBILE = "mobile"
# Sessions replayed at most: ~0.3 ms each through the real code, plus ~4 ms per drawn call,
# so about 15 s per pool size at the cap. Within it a busy site is replayed on its latest
# *whole* days (``_whole_days``): a site of a million sessions a month (33,000 a day) on its
# last day, night included, rather than the last 14 hours of it. Calls made hours after a
# visit are what decide a large pool's accuracy, and a day cut short in the afternoon leaves
# out the quiet night that those calls land in. docs/benchmarks.md has the measured time.
MAX_SESSIONS = 40_000
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SitePool:
    """The site's session pool as it is: its size and the settings the simulation keeps."""

    pool_id: int | None
    size: int | None
    setup: PoolSetup
    target: float  # the account's accuracy target


def site_pool(db: Session, site_id: int, window_hours: float) -> SitePool:
    """The site's first live session pool (the one its visitors are given numbers from), and
    its account's accuracy target."""
    target = db.scalar(
        select(Account.accuracy_target)
        .join(Site, Site.account_id == Account.id)
        .where(Site.id == site_id, Site.deleted_at.is_(None))
    )
    if target is None:
        raise NotFound(f"no site has the id {site_id}")
    pool = db.scalar(
        select(Pool)
        .where(Pool.site_id == site_id, Pool.kind == SESSION, Pool.deleted_at.is_(None))
        .order_by(Pool.priority.desc(), Pool.id)
        .limit(1)
    )
    if pool is None:
        return SitePool(None, None, PoolSetup(window_hours=window_hours), target)
    setup = PoolSetup(
        lease_minutes=pool.lease_minutes,
        overflow_policy=pool.overflow_policy,
        window_hours=window_hours,
    )
    return SitePool(pool.id, pool.size, setup, target)


def recorded_traffic(
    db: Session,
    site_id: int,
    *,
    since: datetime,
    until: datetime,
    assumptions: Assumptions,
    seed: int,
    max_sessions: int = MAX_SESSIONS,
) -> Traffic:
    """The site's human sessions that started in [since, until), with calls drawn for them:
    at most ``max_sessions``, the latest whole days of them, so that a busy site's replay
    takes a bounded time (the traffic's ``days`` then says how many days they cover)."""
    latest_first = db.execute(
        select(
            VisitSession.id,
            VisitSession.visitor_id,
            VisitSession.started_at,
            VisitSession.last_seen_at,
            VisitSession.device,
        )
        .where(
            VisitSession.site_id == site_id,
            VisitSession.started_at >= since,
            VisitSession.started_at < until,
            VisitSession.is_bot.is_(False),
        )
        .order_by(VisitSession.started_at.desc(), VisitSession.id.desc())
        .limit(max_sessions)
    ).all()
    rows = list(reversed(latest_first))
    if len(rows) == max_sessions:
        since = _whole_days(rows[0].started_at, until)
        rows = [row for row in rows if row.started_at >= since]
    elif rows:
        # A site younger than the window: its traffic covers the days since its first
        # session, not the whole window (or its sessions a day would read too few).
        since = max(since, rows[0].started_at)
    views = _pageview_times(db, site_id, since, until)
    visitors: dict[str, int] = {}
    sessions = []
    for session_id, visitor_id, started_at, last_seen_at, device in rows:
        visitor = visitors.setdefault(visitor_id, len(visitors))
        offsets = sorted(
            max(0.0, (at - started_at).total_seconds()) for at in views.get(session_id, [])
        )
        pages = (0.0, *(offset for offset in offsets[1:] if offset > 0))
        leave = max(pages[-1], (last_seen_at - started_at).total_seconds())
        sessions.append(PlannedSession(visitor, started_at, pages, leave, device == MOBILE))
    rng = random.Random(seed)
    days = (until - since) / timedelta(days=1)
    return Traffic(sessions, draw_calls(sessions, assumptions, rng), days)


def _whole_days(earliest: datetime, until: datetime) -> datetime:
    """Where the replay starts when the cap cut the sessions short at ``earliest``: the
    start of the latest whole days (24 hours back from ``until``) that the sessions read hold
    entirely, or ``earliest`` itself when not even one day fits under the cap (a site of more
    than ``MAX_SESSIONS`` a day is replayed on its latest hours)."""
    # Sessions at ``earliest`` itself may have been left out by the limit: a day must start
    # after it to be whole.
    days = (until - earliest) // DAY
    if until - days * DAY <= earliest:
        days -= 1
    return until - days * DAY if days >= 1 else earliest


def _pageview_times(
    db: Session, site_id: int, since: datetime, until: datetime
) -> dict[str, list[datetime]]:
    """Pageview times by session, for the sessions that started in [since, until)."""
    rows = db.execute(
        select(Pageview.session_id, Pageview.at)
        .join(VisitSession, VisitSession.id == Pageview.session_id)
        .where(
            VisitSession.site_id == site_id,
            VisitSession.started_at >= since,
            VisitSession.started_at < until,
        )
    )
    times: dict[str, list[datetime]] = {}
    for session_id, at in rows:
        times.setdefault(session_id, []).append(at)
    return times
