"""A week of demo traffic: visits from several sources and the calls some of them made.

Run once by ``callpool demo`` on an empty demo database, so the calls page, the journeys and
the reports have something to show from the first minute. Every visit goes through the visit
service and every call through ``record_call``, as the snippet's requests and the carrier's
webhooks would, with the injectable clock moved back through the week: the figures are the
product's own, not rows written by hand. Seeded from a fixed number, so every demo looks alike.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from callpool import clock
from callpool.calls.service import apply_status, record_call
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Call
from callpool.settings import Settings
from callpool.telephony.base import CallStatus, InboundCall, StatusUpdate
from callpool.visits import service
from callpool.visits.schemas import EventIn, HeartbeatIn, PageviewIn, VisitIn
from callpool.visits.site_cache import SiteCache, SiteEntry
from callpool.visits.sql import transaction

DAYS = 7
SESSIONS_PER_DAY = (18, 34)  # a small plumber's site: a range, so the days differ
CALL_SHARE = 0.14  # of sessions that end in a call
BROWSERS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36",
)
PAGES = ("/demo/services", "/demo/austin", "/demo/contact")


@dataclass(frozen=True)
class Source:
    weight: int
    query: str  # added to the landing page's URL
    referrer: str


SOURCES = (
    Source(30, "", "https://www.google.com/"),
    Source(22, "?utm_source=google&utm_medium=cpc&utm_campaign=emergency-plumber&gclid=", ""),
    Source(12, "?utm_source=facebook&utm_medium=paid_social&utm_campaign=spring-checkup", ""),
    Source(10, "", "https://www.bing.com/"),
    Source(8, "", "https://www.yelp.com/biz/demo-plumbing-austin"),
    Source(18, "", ""),  # direct: typed in, bookmarks
)
# Most calls are answered; some ring out or find the line busy.
OUTCOMES = ((CallStatus.COMPLETED, 80), (CallStatus.NO_ANSWER, 14), (CallStatus.BUSY, 6))


def seed_week(database: Database, settings: Settings, site_key: str) -> int:
    """A week of visits and calls ending now; the number of calls made. Does nothing if the
    demo has calls already (a second ``callpool demo`` keeps what the first one made)."""
    with database.reader() as db:
        if db.scalar(select(Call.id).limit(1)) is not None:
            return 0
    site = SiteCache(database).site(site_key)
    assert site is not None, "the demo site is seeded first"
    end = clock.now()
    frozen = FrozenClock(end - timedelta(days=DAYS))
    previous = clock.use(frozen)
    try:
        return _replay(database, settings, site, _week(end), frozen)
    finally:
        clock.use(previous)


@dataclass(frozen=True)
class _Visit:
    at: datetime
    source: Source
    browser: str
    address: str
    pages: int
    call_after: timedelta | None  # a call this long after arriving, if any
    caller: str


def _week(end: datetime) -> list[_Visit]:
    rng = random.Random(13)
    visits: list[_Visit] = []
    for day in range(DAYS, 0, -1):
        start_of_day = (end - timedelta(days=day)).replace(hour=13, minute=0, second=0)
        for _ in range(rng.randint(*SESSIONS_PER_DAY)):
            calls = rng.random() < CALL_SHARE
            visitor = rng.randrange(10_000)
            visits.append(
                _Visit(
                    # 13:00 to 02:00 UTC: business hours across the US.
                    at=start_of_day + timedelta(seconds=rng.randrange(13 * 3600)),
                    source=rng.choices(SOURCES, [s.weight for s in SOURCES])[0],
                    browser=rng.choice(BROWSERS),
                    address=f"198.51.{visitor // 250}.{visitor % 250 + 1}",
                    pages=rng.randint(1, 4),
                    call_after=timedelta(seconds=rng.randint(40, 600)) if calls else None,
                    caller=f"+1512{rng.randrange(2_000_000, 9_999_999):07d}",
                )
            )
    return sorted(visits, key=lambda visit: visit.at)


def _replay(
    database: Database,
    settings: Settings,
    site: SiteEntry,
    visits: list[_Visit],
    frozen: FrozenClock,
) -> int:
    rng = random.Random(31)
    calls = 0
    for index, visit in enumerate(visits):
        frozen.set(visit.at)
        number = _browse(database, settings, site, visit, index)
        if number is not None and visit.call_after is not None:
            # Stored at its own time, before the later visits: the lease it is attributed
            # by runs 30 minutes, longer than any wait before a call here.
            _call(database, settings, visit, number, f"CAdemo{index:05d}", rng)
            calls += 1
    return calls


def _browse(
    database: Database, settings: Settings, site: SiteEntry, visit: _Visit, index: int
) -> str | None:
    """One session: the landing page, the pages after it and a heartbeat (the lease is
    provisional until then); the number it was shown."""
    base = settings.public_url
    landing = f"{base}/demo/{visit.source.query}"
    if landing.endswith("gclid="):
        landing += f"demo{index}"
    with transaction(database, alone=True) as tx:
        shown = service.visit(
            tx,
            site,
            VisitIn(k=site.public_key, u=landing, r=visit.source.referrer or None),
            service.Client(visit.browser, visit.address),
            settings.secret_key,
        )
        # The demo pages show the number twice (text and tel: link): two places swapped.
        service.heartbeat(tx, site, HeartbeatIn(k=site.public_key, s=shown.session_id, w=2))
        for page in PAGES[: visit.pages - 1]:
            view = PageviewIn(k=site.public_key, s=shown.session_id, u=base + page, w=2)
            service.pageview(tx, site, view)
        number = shown.shown[0].number if shown.shown else None
        if number is not None and visit.call_after is not None:
            event = EventIn(k=site.public_key, s=shown.session_id, e="tel_click", n=number)
            service.event(tx, site, event)
    return number


def _call(
    database: Database,
    settings: Settings,
    visit: _Visit,
    number: str,
    call_id: str,
    rng: random.Random,
) -> None:
    assert visit.call_after is not None
    at = visit.at + visit.call_after
    status = rng.choices([o for o, _ in OUTCOMES], [w for _, w in OUTCOMES])[0]
    duration = rng.randint(35, 420) if status is CallStatus.COMPLETED else 0
    inbound = InboundCall(call_id=call_id, to_number=number, from_number=visit.caller, at=at)
    with database.session() as db:
        record_call(db, "sandbox", inbound, at, settings)
        db.flush()
        apply_status(
            db,
            StatusUpdate(call_id, status, duration=duration, dialed=True),
            at + timedelta(seconds=duration + 15),
        )
