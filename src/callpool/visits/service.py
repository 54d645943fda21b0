"""The visit API's work: start or resume sessions, record pageviews, keep leases alive.

Each function is one request's work inside a write transaction it is given (see
``callpool.visits.group_commit`` for how transactions are opened and shared). A new session
costs a handful of statements: claim a tracker (which writes the lease's end on it), insert the
visitor, the session, the pageview and the lease. On PostgreSQL only the claim's answer is
waited for: the writes after it are queued and sent with the ``COMMIT`` (see
``callpool.visits.sql``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from callpool import clock, phones
from callpool.errors import NotFound
from callpool.integrations.ga4 import cookies as ga_cookies
from callpool.models.visit import CLICK_IDS
from callpool.visits import claim, repository, trackers
from callpool.visits.agents import BOT, device_of
from callpool.visits.claim import Claim
from callpool.visits.classify import Attribution, classify, host_of
from callpool.visits.group_commit import Refused
from callpool.visits.limits import Admission
from callpool.visits.repository import SessionRow
from callpool.visits.schemas import EventIn, HeartbeatIn, PageviewIn, VisitIn
from callpool.visits.site_cache import PoolEntry, SiteEntry
from callpool.visits.sql import Tx


@dataclass(frozen=True, slots=True)
class Client:
    """What the request says about the browser, beyond its body."""

    user_agent: str
    ip: str | None


@dataclass(frozen=True, slots=True)
class Shown:
    """A number to show in place of one swap target."""

    pool: PoolEntry
    number: str
    leased_until: datetime | None


@dataclass(frozen=True, slots=True)
class Visit:
    visitor_id: str
    session_id: str
    bot: bool
    attribution: Attribution
    shown: list[Shown]
    expires_at: datetime


def new_id() -> str:
    """22 characters: the time in milliseconds (48 bits), then 80 random bits.

    Written in base64's characters reordered to sort as ASCII does, so that ids sort by time:
    each new visitor and session then goes at the end of the indexes on these ids, and the
    visits of one batch (see ``callpool.visits.group_commit``) share those pages instead of
    each dirtying a page of its own. 80 random bits keep the ids unguessable. The time is the
    clock's (``callpool.clock``), so tests order ids by moving it, not by sleeping.
    """
    millis = (clock.now() - _EPOCH) // _MILLISECOND
    raw = millis.to_bytes(6, "big") + secrets.token_bytes(10)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").translate(_SORTABLE).decode()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_SORTABLE = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz",
)


def hash_ip(ip: str | None, secret_key: str) -> str | None:
    """A keyed hash: visits from one address can be told apart, the address cannot be read."""
    if not ip:
        return None
    keyed = _keyed_hash(secret_key).copy()  # copying skips re-deriving the key's pads
    keyed.update(ip.encode())
    return keyed.hexdigest()


@lru_cache(maxsize=4)
def _keyed_hash(secret_key: str) -> hmac.HMAC:
    return hmac.new(secret_key.encode(), digestmod=hashlib.sha256)


def display(number: str, region: str) -> str:
    """``+15125550123`` as the site's visitors write it: ``(512) 555-0123`` on a US site.

    Formatting with ``phonenumbers`` costs about 60 µs. Numbers that differ only in their last
    two digits format alike (same length, same leading digits), so the work is done once per
    such block and the digits are filled into the cached layout.
    """
    if len(number) < 8 or not number[-2:].isdigit():
        return phones.display(number, region)
    layout = _layout(number[:-2], region)
    if layout is None:
        return phones.display(number, region)
    return layout.replace("\x00", number[-2], 1).replace("\x01", number[-1], 1)


@lru_cache(maxsize=4096)
def _layout(block: str, region: str) -> str | None:
    """How ``block`` + two digits is written, the two digits replaced by markers."""
    formatted = phones.display(block + "00", region)
    positions = [i for i, char in enumerate(formatted) if char.isdigit()][-2:]
    if len(positions) < 2:
        return None
    chars = list(formatted)
    chars[positions[0]], chars[positions[1]] = "\x00", "\x01"
    return "".join(chars)


class TooManySessions(Refused):
    """The address started more new sessions than its ``NewSessionRate`` allows."""

    def __init__(self) -> None:
        super().__init__("too many new sessions from this address; try again later")


def visit(
    tx: Tx,
    site: SiteEntry,
    body: VisitIn,
    client: Client,
    secret_key: str,
    admission: Admission | None = None,
) -> Visit:
    """Resume the session ``body.s`` if it is live, else start a new one (same visitor),
    unless ``admission`` refuses its address (``TooManySessions``, before anything is
    written)."""
    now = clock.now()
    if body.s is not None:
        session = repository.find_session(tx, body.s, site.id)
        if session is not None and _live(session.last_seen_at, site, now):
            return _resume(tx, site, body, session, now)
    address = hash_ip(client.ip, secret_key)
    repeat = True  # without a rate's memory, every session is counted
    if admission is not None and address is not None:
        allowed, repeat = admission.allow(address)
        if not allowed:
            raise TooManySessions
    return _start(tx, site, body, client, address, repeat, now)


def pools_for(site: SiteEntry, path: str, source: str, medium: str) -> list[PoolEntry]:
    """For each swap target of the site, the highest-priority pool whose rules match the visit."""
    chosen = []
    for candidates in site.targets:
        pool = next((p for p in candidates if p.rules.matches(path, source, medium)), None)
        if pool is not None:
            chosen.append(pool)
    return chosen


def _live(last_seen_at: datetime, site: SiteEntry, now: datetime) -> bool:
    return last_seen_at > now - timedelta(minutes=site.session_minutes)


def _start(
    tx: Tx,
    site: SiteEntry,
    body: VisitIn,
    client: Client,
    address: str | None,
    repeat: bool,
    now: datetime,
) -> Visit:
    device = device_of(client.user_agent)
    bot = device == BOT
    own_hosts = site.own_hosts | {host_of(body.u) or ""}
    attribution = classify(body.u, body.r, own_hosts)
    known, previous_tracker = (False, None)
    if body.v is not None:
        known, previous_tracker = repository.visitor_exists(tx, body.v, site.id)
    visitor_id = body.v if known and body.v is not None else new_id()
    session_id = new_id()

    # Claims come first: the visitor row can then carry its new tracker in the same INSERT.
    claims: list[tuple[PoolEntry, Claim]] = []
    if not bot:
        path = urlsplit(body.u).path or "/"
        for pool in pools_for(site, path, attribution.source, attribution.medium):
            claimed = _offer(tx, pool, attribution, previous_tracker, address, repeat, now)
            if claimed is not None:
                claims.append((pool, claimed))
    leased = next((c.tracker_id for _, c in claims if c.tracker_id is not None), None)

    if not known:
        repository.insert_visitor(tx, visitor_id, site.id, now, leased)
    elif leased is not None and leased != previous_tracker:
        repository.set_last_tracker(tx, visitor_id, leased)
    repository.insert_session(
        tx,
        _session_row(session_id, visitor_id, site, body, client, attribution, address, now),
    )
    repository.insert_pageview(tx, session_id, body.u, body.t, now)
    for _, claimed in claims:
        claim.record_lease(tx, claimed, session_id=session_id, now=now)
    return Visit(
        visitor_id=visitor_id,
        session_id=session_id,
        bot=bot,
        attribution=attribution,
        shown=_shown(claims),
        expires_at=_expiry(claims, site, now),
    )


def _resume(tx: Tx, site: SiteEntry, body: VisitIn, session: SessionRow, now: datetime) -> Visit:
    """A live session: the same numbers, extended; a pool it has no lease in yet is asked now."""
    _remember_ga(tx, session, body.g)
    repository.touch_session(tx, session.id, now, views=1)
    repository.insert_pageview(tx, session.id, body.u, body.t, now)
    attribution = Attribution(
        session.source, session.medium, session.campaign, session.term, session.content
    )
    if session.is_bot:
        return Visit(session.visitor_id, session.id, True, attribution, [], _expiry([], site, now))
    held = {lease.pool_id: lease for lease in claim.extend_session(tx, session.id, now)}
    path = urlsplit(body.u).path or "/"
    claims: list[tuple[PoolEntry, Claim]] = []
    for pool in pools_for(site, path, session.source, session.medium):
        lease = held.get(pool.id)
        if lease is not None:
            claimed: Claim | None = Claim(
                pool.id, lease.number, lease.tracker_id, lease.leased_until
            )
        else:
            _, previous = repository.visitor_exists(tx, session.visitor_id, site.id)
            claimed = _offer(tx, pool, attribution, previous, session.ip_hash, True, now)
            if claimed is not None:
                claim.record_lease(tx, claimed, session_id=session.id, now=now)
        if claimed is not None:
            claims.append((pool, claimed))
    return Visit(
        session.visitor_id,
        session.id,
        False,
        attribution,
        _shown(claims),
        _expiry(claims, site, now),
    )


def _offer(
    tx: Tx,
    pool: PoolEntry,
    attribution: Attribution,
    previous_tracker: int | None,
    address: str | None,
    repeat: bool,
    now: datetime,
) -> Claim | None:
    """What ``pool`` shows this visit: the one dispatch point per pool kind.

    Session pools lease a tracker per visit. Automated and manual pools (source-level DNI)
    show the active tracker of the visit's source/medium, with no lease: calls to it are
    attributed by the tracker's assignment history. A visit whose source/medium has no tracker
    sees what the pool's ``others`` setting says: a session pool's number, or the site's own.
    """
    session_pool = pool.session
    if session_pool is None:
        served = trackers.offer_for_source(tx, pool.id, attribution.source, attribution.medium)
        if served is not None:
            return Claim(pool.id, served[1])
        session_pool = pool.others
    if session_pool is None:
        return None
    return claim.claim(
        tx,
        session_pool,
        previous_tracker_id=previous_tracker,
        now=now,
        address=address,
        repeat=repeat,
    )


def _shown(claims: list[tuple[PoolEntry, Claim]]) -> list[Shown]:
    return [
        Shown(pool, claimed.number, claimed.leased_until)
        for pool, claimed in claims
        if claimed.number is not None
    ]


def _expiry(claims: list[tuple[PoolEntry, Claim]], site: SiteEntry, now: datetime) -> datetime:
    """When the snippet should ask again: the first lease to end, else the session's end. A
    provisional lease counts at its full length: the page extends it while it is seen."""
    ends = [c.seen_until or c.leased_until for _, c in claims if c.leased_until is not None]
    return min(ends) if ends else now + timedelta(minutes=site.session_minutes)


def _session_row(
    session_id: str,
    visitor_id: str,
    site: SiteEntry,
    body: VisitIn,
    client: Client,
    attribution: Attribution,
    address: str | None,
    now: datetime,
) -> dict[str, Any]:
    device = device_of(client.user_agent)
    ga_client_id, ga_sessions = ga_cookies.read(body.g)
    return {
        "id": session_id,
        "site_id": site.id,
        "visitor_id": visitor_id,
        "started_at": now,
        "last_seen_at": now,
        "source": attribution.source,
        "medium": attribution.medium,
        "campaign": attribution.campaign,
        "term": attribution.term,
        "content": attribution.content,
        **{name: attribution.click_ids.get(name) for name in CLICK_IDS},
        "ga_client_id": ga_client_id,
        "ga_sessions": ga_sessions,
        "referrer": body.r or None,
        "landing_url": body.u,
        "user_agent": client.user_agent[:MAX_USER_AGENT] or None,
        "device": device,
        "ip_hash": address,
        "is_bot": device == BOT,
        "pageview_count": 1,
    }


MAX_USER_AGENT = 1024


def pageview(tx: Tx, site: SiteEntry, body: PageviewIn) -> None:
    """A later pageview: recorded; it extends the session and its leases while they are live.

    An ended session is not revived (its tracker may be someone else's by now): the pageview
    is still recorded, and the snippet starts a new session on its next ``/t/visit``.
    """
    now = clock.now()
    session = _session_of(tx, site, body.s)
    _remember_ga(tx, session, body.g)
    if _live(session.last_seen_at, site, now):
        repository.touch_session(tx, session.id, now, views=1)
        claim.extend_session(tx, session.id, now)
    else:
        repository.count_pageview(tx, session.id)
    repository.insert_pageview(tx, session.id, body.u, body.t, now, body.w)


def heartbeat(tx: Tx, site: SiteEntry, body: HeartbeatIn) -> None:
    """The page is still visible: keep the session and its numbers."""
    now = clock.now()
    session = _session_of(tx, site, body.s)
    _remember_ga(tx, session, body.g)
    if _live(session.last_seen_at, site, now):
        repository.touch_session(tx, session.id, now, views=0)
        claim.extend_session(tx, session.id, now)
    if body.w is not None:  # the landing page's count arrives here: it is swapped after the visit
        repository.set_swaps(tx, session.id, body.w)


def event(tx: Tx, site: SiteEntry, body: EventIn) -> None:
    """A click on a ``tel:`` link: evidence for attribution, and activity that keeps the lease."""
    now = clock.now()
    session = _session_of(tx, site, body.s)
    _remember_ga(tx, session, body.g)
    repository.insert_event(tx, session.id, body.e, now, {"number": body.n})
    if _live(session.last_seen_at, site, now):
        repository.touch_session(tx, session.id, now, views=0)
        claim.extend_session(tx, session.id, now)


def _session_of(tx: Tx, site: SiteEntry, session_id: str) -> SessionRow:
    session = repository.find_session(tx, session_id, site.id)
    if session is None:
        raise NotFound("unknown session")
    return session


def _remember_ga(tx: Tx, session: SessionRow, cookies: list[str] | None) -> None:
    """GA's ids for a session that came without them: GA's tag may write its cookie after the
    visit's request (a first visit loads GA's large script; ours is small), so a later request
    of the session brings it. One UPDATE, once per session; none while the page has no GA."""
    if cookies is None or session.ga_client_id is not None:
        return
    client, ga_sessions = ga_cookies.read(cookies)
    if client is not None:
        repository.set_ga(tx, session.id, client, ga_sessions)
