"""Drive the real assignment and attribution code with planned traffic, and score each call.

Each pool size gets a throwaway SQLite database (a copy of one migrated file) holding one
account, one site and one session pool of ``size`` numbers. Every planned visit, pageview and
heartbeat runs ``callpool.visits.service`` inside ``callpool.visits.sql.transaction``,
as the visit API does; every call runs ``callpool.calls.service.record_call``, as the voice
webhook's spool replay does, at its moment on the virtual clock (``FrozenClock``), in time order.
So what is measured is exactly what the product would have attributed.

Only the heartbeats that can change a lease are sent (``traffic.heartbeats``), and the visits,
pageviews and heartbeats between two calls share a transaction (``_Batch``): a visit then costs
about 0.3 ms, and a month at 5,000 visitors a day about a minute per pool size (measured in
``bench/accuracy.py``).
"""

from __future__ import annotations

import contextlib
import heapq
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from sqlalchemy import func, select

from callpool import clock
from callpool.calls import repository as calls
from callpool.calls.service import record_call
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, Lease, Pool, PoolEvent, Site, Tracker
from callpool.settings import ATTRIBUTION_EVIDENCE, Settings
from callpool.simulation.score import Score, outcome
from callpool.simulation.traffic import PlannedCall, PlannedSession, Traffic, heartbeats
from callpool.telephony.base import LANDLINE, MOBILE_LINE, InboundCall
from callpool.visits import service
from callpool.visits.claim import EXHAUSTED, REUSE, heartbeat_seconds
from callpool.visits.schemas import EventIn, HeartbeatIn, PageviewIn, VisitIn
from callpool.visits.site_cache import SiteCache, SiteEntry
from callpool.visits.sql import Tx, transaction

SITE_KEY = "simulated"
ORIGIN = "https://simulated.example"
BUSINESS = "+15125550100"
# Keys the simulated visitors' address hashes in a throwaway database: no secret.
SECRET = "simulation-secret-key-0123456789"  # noqa: S105
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
PROVIDER = "sandbox"
# Event kinds, in the order they run when they fall on the same instant.
VISIT, PAGEVIEW, HEARTBEAT, TEL_CLICK, CALL = range(5)
MAX_BATCH = 500  # activities per transaction at most


@dataclass(frozen=True, slots=True)
class PoolSetup:
    """The simulated pool's settings besides its size (the product's defaults)."""

    lease_minutes: int = 30
    overflow_policy: str = REUSE
    window_hours: float = 24.0  # the attribution window

    @property
    def heartbeat_seconds(self) -> int:
        """How often the snippet is told to send heartbeats."""
        return heartbeat_seconds(self.lease_minutes)


def simulate(
    traffic: Traffic,
    size: int,
    setup: PoolSetup = PoolSetup(),
    *,
    evidence: tuple[str, ...] = ATTRIBUTION_EVIDENCE,
) -> Score:
    """Run ``traffic`` through a fresh pool of ``size`` numbers; the calls' outcomes.

    ``evidence``: what ranks the visits sharing a number, as ``CALLPOOL_ATTRIBUTION_EVIDENCE``
    says (the setting itself, so the measured code is the product's: ``bench/evidence.py``)."""
    started = time.perf_counter()
    with _throwaway_database() as (database, settings_for):
        settings = settings_for(setup.window_hours, evidence)
        site = _seed(database, size, setup)
        score = _replay(database, settings, site, traffic, size, setup)
        score.exhausted, score.peak_leases = _strain(database)
        database.dispose()
    score.seconds = time.perf_counter() - started
    return score


@contextmanager
def _throwaway_database() -> Iterator[
    tuple[Database, Callable[[float, tuple[str, ...]], Settings]]
]:
    with tempfile.TemporaryDirectory(prefix="callpool-sim-") as folder:
        path = Path(folder) / "sim.db"
        shutil.copy(_migrated_template(), path)
        url = f"sqlite:///{path}"

        def settings_for(window_hours: float, evidence: tuple[str, ...]) -> Settings:
            return Settings(
                database_url=url,
                secret_key=SECRET,
                attribution_window_hours=window_hours,
                attribution_evidence=evidence,
                routing_cache_path=Path(folder) / "routing.json",
                call_spool_dir=Path(folder) / "spool",
                _env_file=None,
            )

        yield Database(url), settings_for


@lru_cache(maxsize=1)
def _migrated_template() -> Path:
    """One migrated empty database per process, copied for each run (migrating takes ~1 s)."""
    folder = Path(tempfile.mkdtemp(prefix="callpool-sim-template-"))
    path = folder / "template.db"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    database.dispose()
    return path


def _seed(database: Database, size: int, setup: PoolSetup) -> SiteEntry:
    now = clock.now()
    with database.session() as db:
        account = Account(name="Simulation", created_at=now)
        db.add(account)
        db.flush()
        site = Site(
            account_id=account.id,
            name="Simulated site",
            public_key=SITE_KEY,
            allowed_origins=[ORIGIN],
            region="US",
            created_at=now,
        )
        db.add(site)
        db.flush()
        pool = Pool(
            account_id=account.id,
            site_id=site.id,
            name="Website visitors",
            kind="session",
            original_number=BUSINESS,
            swap_number=BUSINESS,
            size=size,
            lease_minutes=setup.lease_minutes,
            overflow_policy=setup.overflow_policy,
            overflow_number="+15125550098",
            created_at=now,
            updated_at=now,
        )
        db.add(pool)
        db.flush()
        db.add_all(
            Tracker(
                pool_id=pool.id,
                number=tracker_number(i),
                provider=PROVIDER,
                status="active",
                original_number=BUSINESS,
                created_at=now,
                activated_at=now,
            )
            for i in range(size)
        )
    entry = SiteCache(database).site(SITE_KEY)
    assert entry is not None
    return entry


def tracker_number(i: int) -> str:
    return f"+1512556{i:04d}"


def _replay(
    database: Database,
    settings: Settings,
    site: SiteEntry,
    traffic: Traffic,
    size: int,
    setup: PoolSetup,
) -> Score:
    score = Score(size=size, allocator="callpool")
    frozen = FrozenClock()
    previous = clock.use(frozen)
    try:
        state = _State(traffic)
        batch = _Batch(database)
        for at, kind, index in _events(traffic, site.heartbeat_seconds):
            frozen.set(at)
            if kind == CALL:
                batch.commit()  # the call must see every lease written before it
                _call(database, settings, state, index, score)
            else:
                _activity(batch.tx(), site, state, kind, index)
        batch.commit()
    finally:
        clock.use(previous)
    return score


class _Batch:
    """Visits, pageviews and heartbeats share a write transaction until the next call, as the
    visit API's group commits share one among concurrent requests: one SQLite commit costs
    more than the visit's statements, and the simulation is one writer with nobody waiting."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._open: contextlib.AbstractContextManager[Tx] | None = None
        self._tx: Tx | None = None
        self._units = 0

    def tx(self) -> Tx:
        if self._tx is None or self._units >= MAX_BATCH:
            self.commit()
            self._open = transaction(self._database, alone=True)
            self._tx = self._open.__enter__()
        self._units += 1
        return self._tx

    def commit(self) -> None:
        if self._open is not None:
            self._open.__exit__(None, None, None)
        self._open, self._tx, self._units = None, None, 0


class _State:
    """What the browsers remember: each visitor's id and latest session, each session's id
    and number."""

    def __init__(self, traffic: Traffic) -> None:
        self.traffic = traffic
        self.visitor_ids: dict[int, str] = {}
        self.latest: dict[int, int] = {}  # visitor → their latest session so far
        self.session_ids: dict[int, str] = {}
        self.numbers: dict[int, str | None] = {}

    def caller(self, planned: PlannedCall) -> int:
        """The session a call is truly from: the caller's latest visit before it. A visitor
        who came back before calling dials the number shown last, and that visit is theirs."""
        return self.latest[self.traffic.sessions[planned.session].visitor]


def _events(traffic: Traffic, heartbeat_seconds: int) -> Iterator[tuple[datetime, int, int]]:
    """Every visit, pageview, heartbeat, tel: click and call, in time order."""
    events: list[tuple[datetime, int, int]] = []
    for index, session in enumerate(traffic.sessions):
        events.append((session.start, VISIT, index))
        for offset in session.pages[1:]:
            events.append((session.start + timedelta(seconds=offset), PAGEVIEW, index))
        for offset in heartbeats(session, heartbeat_seconds):
            events.append((session.start + timedelta(seconds=offset), HEARTBEAT, index))
    for index, call in enumerate(traffic.calls):
        events.append((call.at, CALL, index))
        if call.tel_click:
            events.append((call.at, TEL_CLICK, call.session))  # runs just before it
    heapq.heapify(events)
    while events:
        yield heapq.heappop(events)


def _activity(tx: Tx, site: SiteEntry, state: _State, kind: int, index: int) -> None:
    session = state.traffic.sessions[index]
    if kind == VISIT:
        # The browser sends its visitor id and last session id: a visit while that session
        # is live resumes it (same number), as the snippet's would.
        last = state.latest.get(session.visitor)
        body = VisitIn(
            k=SITE_KEY,
            v=state.visitor_ids.get(session.visitor),
            s=None if last is None else state.session_ids[last],
            u=f"{ORIGIN}/",
            r="",
        )
        client = service.Client(PHONE if session.mobile else DESKTOP, _address(session))
        visit = service.visit(tx, site, body, client, SECRET)
        state.visitor_ids[session.visitor] = visit.visitor_id
        state.latest[session.visitor] = index
        state.session_ids[index] = visit.session_id
        state.numbers[index] = visit.shown[0].number if visit.shown else None
        return
    session_id = state.session_ids[index]
    if kind == PAGEVIEW:
        service.pageview(tx, site, PageviewIn(k=SITE_KEY, s=session_id, u=f"{ORIGIN}/page"))
    elif kind == HEARTBEAT:
        service.heartbeat(tx, site, HeartbeatIn(k=SITE_KEY, s=session_id))
    else:
        number = state.numbers[index]
        service.event(tx, site, EventIn(k=SITE_KEY, s=session_id, e="tel_click", n=number))


def _address(session: PlannedSession) -> str:
    """One address per visitor (a household's): the per-address limit never comes into play."""
    v = session.visitor
    return f"10.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


def _call(database: Database, settings: Settings, state: _State, index: int, score: Score) -> None:
    planned = state.traffic.calls[index]
    caller = state.caller(planned)
    truth = state.session_ids[caller]
    number = state.numbers[caller]
    if number is None or number == BUSINESS:
        # The visitor saw the business's own number (overflow "original"): nothing to
        # attribute the call by.
        score.add(planned.timing, outcome(truth, None, []), False)
        return
    inbound = InboundCall(
        call_id=f"SIM{index}",
        to_number=number,
        from_number=caller_number(
            state.traffic.sessions[planned.session].visitor, fixed=planned.fixed_line
        ),
        at=planned.at,
        line_type=line_type(planned),
    )
    with database.session() as db:
        record_call(db, PROVIDER, inbound, planned.at, settings)
        db.flush()
        call = calls.call_by_provider_id(db, inbound.call_id)
        session_id = call.session_id if call is not None else None
        candidates = list(call.candidates or []) if call is not None else []
    result = outcome(truth, session_id, candidates)
    score.add(planned.timing, result, session_id == truth, 1 + len(candidates))


def caller_number(visitor: int, *, fixed: bool = False) -> str:
    """The visitor's mobile, or their landline: two numbers, so a caller seen before is one
    seen on the same line."""
    return f"+1{303 if fixed else 202}{visitor:07d}"


def line_type(planned: PlannedCall) -> str | None:
    """What the carrier says of the caller's line, when it says anything."""
    if not planned.line_type_known:
        return None
    return LANDLINE if planned.fixed_line else MOBILE_LINE


def _strain(database: Database) -> tuple[int, int]:
    """Exhaustion events, and the most leases live at one moment."""
    with database.reader() as db:
        exhausted = db.scalar(select(func.count()).where(PoolEvent.kind == EXHAUSTED)) or 0
        moments = sorted(
            (at, step)
            for start, end in db.execute(select(Lease.started_at, Lease.leased_until))
            for at, step in ((start, 1), (end, -1))
        )
    peak = live = 0
    for _, step in moments:  # an end sorts before a start at the same instant
        live += step
        peak = max(peak, live)
    return exhausted, peak
