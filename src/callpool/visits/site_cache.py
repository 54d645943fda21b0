"""Sites and their live pools by public key, cached per process for a few seconds.

Every visit needs its site's origins, region and pools; reading them from the database each
time would cost more than the assignment itself. A change by an operator (a new pool, other
rules, another overflow policy) reaches visits within ``TTL``; trackers and leases are never
cached, so which numbers are free is always read inside the assignment's transaction.

The entries are data read from the database; the rules applied to them live with the visit's
work: which pools a visit sees is ``service.pools_for``, how long leases last and how often the
snippet sends heartbeats is ``claim``'s.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select

from callpool import clock
from callpool.db import Database
from callpool.models import Pool, Site
from callpool.models.pool import SESSION
from callpool.pools.rules import Rules, compile_rules
from callpool.visits.claim import SessionPool, heartbeat_seconds
from callpool.visits.classify import host_of

TTL = timedelta(seconds=5)
MAX_ENTRIES = 10_000  # unknown keys are cached too; a flood of random keys must not grow memory
DEFAULT_LEASE_MINUTES = 30
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PoolEntry:
    id: int
    name: str
    kind: str
    target: str | None  # the business number as written on the site (E.164)
    selector: str | None
    rules: Rules
    session: SessionPool | None  # set for pools of kind "session"
    # Source-level pools: the session pool that serves visitors whose source/medium has no
    # tracker of its own (the pool's ``others`` setting); None keeps the site's own number.
    others: SessionPool | None = None


@dataclass(frozen=True, slots=True)
class SiteEntry:
    id: int
    account_id: int
    public_key: str
    region: str
    origins: frozenset[str]
    own_hosts: frozenset[str]  # referrers from these are internal navigation
    # One tuple per swap target, its pools by priority (highest first).
    targets: tuple[tuple[PoolEntry, ...], ...]
    session_minutes: int  # a session idle longer than this has ended
    heartbeat_seconds: int


class SiteCache:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._entries: dict[str, tuple[datetime, SiteEntry | None]] = {}
        self._lock = threading.Lock()
        _caches.add(self)

    def forget(self, public_key: str) -> None:
        with self._lock:
            self._entries.pop(public_key, None)

    def cached(self, public_key: str) -> tuple[bool, SiteEntry | None]:
        """``(True, entry)`` if the cache answers (``entry`` is None for unknown keys)."""
        cached = self._entries.get(public_key)
        if cached is not None and cached[0] > clock.now():
            return True, cached[1]
        return False, None

    def site(self, public_key: str) -> SiteEntry | None:
        """The site of ``public_key`` (``None`` if unknown), from the cache or the database."""
        known, entry = self.cached(public_key)
        if known:
            return entry
        now = clock.now()
        entry = self._load(public_key)
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[public_key] = (now + TTL, entry)
        return entry

    def _load(self, public_key: str) -> SiteEntry | None:
        with self._database.reader() as db:
            site = db.execute(
                select(Site.id, Site.account_id, Site.region, Site.allowed_origins).where(
                    Site.public_key == public_key, Site.deleted_at.is_(None)
                )
            ).first()
            if site is None:
                return None
            pools = db.scalars(
                select(Pool)
                .where(Pool.site_id == site.id, Pool.deleted_at.is_(None))
                .order_by(Pool.priority.desc(), Pool.id)
            ).all()
            return _site_entry(public_key, site, list(pools))


# Every cache of this process, so a change made here applies here at once (``forget_site``).
_caches: weakref.WeakSet[SiteCache] = weakref.WeakSet()


def forget_site(public_key: str) -> None:
    """The site changed in this process (its origins, say): its next visit here reads it
    again; other processes see the change within ``TTL``."""
    for cache in list(_caches):
        cache.forget(public_key)


def _site_entry(public_key: str, site: Row[Any], pools: list[Pool]) -> SiteEntry:
    origins = frozenset(str(origin).lower().rstrip("/") for origin in site.allowed_origins or [])
    targets: dict[tuple[str | None, str | None], list[PoolEntry]] = {}
    session_pools = {pool.id: _session_pool(pool) for pool in pools if pool.kind == SESSION}
    for pool in pools:
        entry = _pool_entry(pool, session_pools)
        if entry is not None:
            targets.setdefault((entry.target, entry.selector), []).append(entry)
    minutes = [p.lease_minutes for p in pools if p.kind == SESSION] or [DEFAULT_LEASE_MINUTES]
    return SiteEntry(
        id=site.id,
        account_id=site.account_id,
        public_key=public_key,
        region=site.region,
        origins=origins,
        own_hosts=frozenset(host for host in map(host_of, origins) if host),
        targets=tuple(tuple(group) for group in targets.values()),
        session_minutes=max(minutes),
        heartbeat_seconds=heartbeat_seconds(min(minutes)),
    )


def _session_pool(pool: Pool) -> SessionPool:
    return SessionPool(
        id=pool.id,
        lease_minutes=pool.lease_minutes,
        overflow_policy=pool.overflow_policy,
        overflow_number=pool.overflow_number,
        max_per_address=pool.max_leases_per_address,
    )


def _pool_entry(pool: Pool, session_pools: dict[int, SessionPool]) -> PoolEntry | None:
    try:
        rules = compile_rules(pool.rules)
    except ValueError as error:
        # Rules are validated when a pool is saved; one stored before that must not break visits.
        log.warning("pool %s has invalid rules and serves no visit: %s", pool.id, error)
        return None
    others = None
    if pool.kind != SESSION and pool.others_pool_id is not None:
        # A session pool of this site that is live; a deleted or foreign one means "original".
        others = session_pools.get(pool.others_pool_id)
    return PoolEntry(
        id=pool.id,
        name=pool.name,
        kind=pool.kind,
        # A pool without a swap target replaces its own original number where it appears.
        target=pool.swap_number or (None if pool.swap_selector else pool.original_number),
        selector=pool.swap_selector,
        rules=rules,
        session=session_pools.get(pool.id),
        others=others,
    )
