"""Buying and releasing tracking numbers, with no carrier call inside a database transaction.

Each carrier step is written down before and after it (DESIGN.md "Carriers"), so a slow carrier
holds no lock (on SQLite, the one write lock the visits need) and a crash loses nothing:

- Buying: ``reserve`` adds ``provisioning`` rows (the unique index on live numbers keeps two
  buyers off one number) and the caller commits; ``buy`` calls the carrier outside any
  transaction and commits each purchase's ``provider_sid``; then the rows go live.
- Releasing: ``mark_releasing`` takes the row out of service (routing skips it, visits never
  get it) in the caller's transaction; ``finish_releases`` calls the carrier, then records
  ``released``. A release the carrier failed stays ``releasing`` for the worker to retry.

A row under work is claimed (``claimed_by``, ``claimed_at``) by a conditional UPDATE whose row
count says who won. A claim older than ``CLAIM_TIMEOUT`` belongs to a dead process: the
worker's ``finish_carrier_work`` takes it over and asks the carrier what it owns. A reserved
number the carrier owns is recorded (or released, if its pool was deleted meanwhile); one it
does not own is bought again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from callpool import clock
from callpool.calls.routing import refresh_routing
from callpool.db import Database
from callpool.errors import Conflict
from callpool.models import Pool, PoolEvent, Tracker
from callpool.models.pool import SESSION
from callpool.models.tracker import (
    ACTIVE,
    AVAILABLE,
    PROVISIONING,
    RELEASED,
    RELEASING,
    ROUTED_STATUSES,
)
from callpool.pools import repository
from callpool.pools.assignments import close_assignment
from callpool.settings import Settings
from callpool.telephony.base import Provider, ProviderError, webhook_urls

log = logging.getLogger(__name__)

MAX_SEARCH = 1000
# Far beyond one carrier call (Twilio's client gives up after 15 s): a claim this old is a
# dead process's. A live buyer renews its claim before each number, so it never looks dead.
CLAIM_TIMEOUT = timedelta(minutes=5)
ERROR_LENGTH = 500


def new_claim() -> str:
    """Who is working on a row: one value per request or worker pass."""
    return uuid.uuid4().hex


# -- buying --------------------------------------------------------------------------------


def search(
    database: Database, provider: Provider, *, area_code: str | None, toll_free: bool, count: int
) -> list[str]:
    """Numbers the carrier offers, asked outside any transaction. The carrier may offer numbers
    this install already holds (the sandbox's fiction is small): ask for enough to skip them."""
    if count <= 0:
        return []
    with database.reader() as db:
        held = repository.count_live_numbers(db)
    limit = min(count + held, MAX_SEARCH)
    return provider.search_numbers(area_code=area_code, toll_free=toll_free, limit=limit)


def reserve(
    db: Session, provider: Provider, pool: Pool, offered: Sequence[str], count: int, claim: str
) -> list[int]:
    """``count`` of ``offered`` that no live tracker holds, as ``provisioning`` rows of ``pool``
    claimed by ``claim``, in the caller's transaction. ``Conflict`` when too few are free."""
    if count <= 0:
        return []
    taken = repository.taken_numbers(db, offered)
    free = [number for number in offered if number not in taken][:count]
    if len(free) < count:
        where = "toll-free" if pool.toll_free else f"area code {pool.area_code or 'default'}"
        raise Conflict(
            f"the provider has only {len(free)} {where} numbers available, {count} needed"
        )
    now = clock.now()
    trackers = [
        Tracker(
            pool_id=pool.id,
            number=number,
            provider=provider.name,
            status=PROVISIONING,
            original_number=pool.original_number,
            created_at=now,
            claimed_by=claim,
            claimed_at=now,
        )
        for number in free
    ]
    db.add_all(trackers)
    db.flush()
    return [tracker.id for tracker in trackers]


def reserve_given(db: Session, provider: Provider, pool: Pool, number: str, claim: str) -> int:
    if repository.taken_numbers(db, [number]):
        # The number may be another account's: never say so, nor whose.
        raise Conflict(f"{number} is not available")
    return reserve(db, provider, pool, [number], 1, claim)[0]


def buy(
    database: Database,
    provider: Provider,
    tracker_ids: Sequence[int],
    claim: str,
    *,
    public_url: str,
    all_or_nothing: bool,
) -> int:
    """Buy reserved numbers, one carrier call each, outside any transaction. Returns how many
    went live.

    ``all_or_nothing`` (an operator's request): the rows go live together after the last
    purchase; a failure releases what was bought, drops the reservations and raises, so the
    request changes nothing. Otherwise (the worker) each number goes live as soon as it is
    bought; a transient failure leaves the rest reserved for the next pass, a refusal drops
    the row and records a ``provision_failed`` event.
    """
    voice_url, status_url = webhook_urls(public_url, provider.name)
    numbers = _numbers(database, tracker_ids)
    for tracker_id in tracker_ids:
        if not _claim(database, tracker_id, PROVISIONING, claim):
            continue  # taken over by the worker after a long stall: it finishes this one
        try:
            purchase = provider.buy_number(
                numbers[tracker_id], voice_url=voice_url, status_url=status_url
            )
        except ProviderError as error:
            if all_or_nothing:
                undo_purchases(database, provider, tracker_ids, claim)
                raise
            _purchase_failed(database, tracker_id, claim, error)
            if error.permanent:
                continue
            _unclaim(database, tracker_ids, PROVISIONING, claim)  # the carrier is down: later
            break
        _record_purchase(database, tracker_id, claim, purchase.provider_sid)
        if not all_or_nothing:
            _go_live(database, [tracker_id], claim)
    if all_or_nothing:
        return _go_live(database, tracker_ids, claim)
    return 0 if not tracker_ids else _count_live(database, tracker_ids)


def undo_purchases(
    database: Database, provider: Provider, tracker_ids: Sequence[int], claim: str
) -> bool:
    """Give back what an all-or-nothing purchase bought and drop its reservations (never
    routed, never handed out: no history refers to them). A release the carrier fails
    leaves that row ``releasing`` for the worker. Returns whether everything was undone."""
    with database.reader() as db:
        bought = db.execute(
            select(Tracker.id, Tracker.provider_sid).where(
                Tracker.id.in_(tracker_ids),
                Tracker.status == PROVISIONING,
                Tracker.claimed_by == claim,
                Tracker.provider_sid.is_not(None),
            )
        ).all()
    stuck: list[int] = []
    for tracker_id, sid in bought:
        try:
            provider.release_number(str(sid))
        except ProviderError as error:
            log.warning("releasing %s after a failed purchase failed: %s", sid, error)
            stuck.append(tracker_id)
    with database.session() as db:
        if stuck:
            db.execute(
                update(Tracker)
                .where(Tracker.id.in_(stuck))
                .values(status=RELEASING, claimed_by=None, claimed_at=None)
            )
        db.execute(
            delete(Tracker).where(
                Tracker.id.in_(tracker_ids),
                Tracker.status == PROVISIONING,
                Tracker.claimed_by == claim,
            )
        )
    return not stuck


def _record_purchase(database: Database, tracker_id: int, claim: str, sid: str) -> None:
    """The purchase, committed at once: from here a crash cannot lose the number's sid."""
    with database.session() as db:
        db.execute(
            update(Tracker)
            .where(Tracker.id == tracker_id, Tracker.claimed_by == claim)
            .values(provider_sid=sid, last_error=None)
        )


def _go_live(database: Database, tracker_ids: Sequence[int], claim: str) -> int:
    """Bought rows enter service: session-pool trackers active at once (the visit engine
    leases them), source-level ones available, forwarding to the pool's number meanwhile."""
    with database.session() as db:
        rows = db.scalars(
            select(Tracker)
            .where(
                Tracker.id.in_(tracker_ids),
                Tracker.status == PROVISIONING,
                Tracker.claimed_by == claim,
                Tracker.provider_sid.is_not(None),
            )
            .with_for_update()
        ).all()
        for tracker in rows:
            pool = db.get_one(Pool, tracker.pool_id)
            _enter_service(tracker, pool)
        return len(rows)


def _enter_service(tracker: Tracker, pool: Pool) -> None:
    now = clock.now()
    session_pool = pool.kind == SESSION
    tracker.status = ACTIVE if session_pool else AVAILABLE
    tracker.activated_at = now if session_pool else None
    tracker.original_number = pool.original_number
    tracker.claimed_by = tracker.claimed_at = tracker.last_error = None
    tracker.attempts = 0


def _purchase_failed(database: Database, tracker_id: int, claim: str, error: ProviderError) -> None:
    with database.session() as db:
        if not error.permanent:
            _note_error(db, tracker_id, error)
            return
        # Refused (the number was sold meanwhile, say): drop the reservation, say why.
        tracker = db.get_one(Tracker, tracker_id)
        detail = {"number": tracker.number, "error": str(error)}
        db.add(
            PoolEvent(
                pool_id=tracker.pool_id, kind="provision_failed", at=clock.now(), detail=detail
            )
        )
        db.execute(
            delete(Tracker).where(
                Tracker.id == tracker_id,
                Tracker.status == PROVISIONING,
                Tracker.claimed_by == claim,
                Tracker.provider_sid.is_(None),
            )
        )


# -- releasing -----------------------------------------------------------------------------


def mark_releasing(db: Session, tracker: Tracker, claim: str) -> bool:
    """Take ``tracker`` out of service, in the caller's transaction; the carrier is called by
    ``finish_releases`` after the commit. The row (and the number's history) stays."""
    if tracker.status not in ROUTED_STATUSES:
        return False
    now = clock.now()
    close_assignment(db, tracker, now)
    tracker.status = RELEASING
    tracker.leased_until = None
    tracker.claimed_by, tracker.claimed_at = claim, now
    tracker.attempts, tracker.last_error = 0, None
    db.flush()
    return True


def finish_releases(
    database: Database, provider: Provider, tracker_ids: Sequence[int], claim: str
) -> int:
    """Release marked rows at the carrier, outside any transaction. Returns how many were
    released; the others stay ``releasing`` (unclaimed) and the worker retries them."""
    done = 0
    for tracker_id in tracker_ids:
        if _claim(database, tracker_id, RELEASING, claim):
            done += _release_claimed(database, provider, tracker_id, claim, owned=None)
    return done


def _release_claimed(
    database: Database,
    provider: Provider,
    tracker_id: int,
    claim: str,
    owned: dict[str, str] | None,
) -> int:
    with database.reader() as db:
        tracker = db.get_one(Tracker, tracker_id)
    sid = tracker.provider_sid or (owned or {}).get(tracker.number)
    try:
        if sid and tracker.provider == provider.name:
            provider.release_number(sid)
    except ProviderError as error:
        with database.session() as db:
            _note_error(db, tracker_id, error)
        _unclaim(database, [tracker_id], RELEASING, claim)
        return 0
    with database.session() as db:
        result = db.execute(
            update(Tracker)
            .where(
                Tracker.id == tracker_id, Tracker.status == RELEASING, Tracker.claimed_by == claim
            )
            .values(
                status=RELEASED,
                released_at=clock.now(),
                claimed_by=None,
                claimed_at=None,
                last_error=None,
            )
        )
    return int(result.rowcount)  # type: ignore[attr-defined]


# -- the worker: finishing what was interrupted ----------------------------------------------


def finish_carrier_work(
    database: Database,
    provider: Provider,
    *,
    public_url: str,
    timeout: timedelta = CLAIM_TIMEOUT,
    limit: int = 100,
) -> int:
    """One pass of the worker over unfinished carrier work; returns how many rows it settled.

    Trackers of deleted pools still in service are marked for release first (a purchase that
    finished after its pool was deleted, say). Then every unclaimed or abandoned
    ``provisioning`` and ``releasing`` row is claimed (several workers: one wins each row) and
    finished. The carrier's list of owned numbers is asked once per pass, only if a row needs
    it (a purchase that may have happened; a release whose sid was never recorded).
    """
    claim = new_claim()
    _retire_orphans(database)
    stale = clock.now() - timeout
    with database.reader() as db:
        work = db.execute(
            select(Tracker.id, Tracker.status, Tracker.provider_sid)
            .where(
                Tracker.status.in_((PROVISIONING, RELEASING)),
                Tracker.claimed_by.is_(None) | (Tracker.claimed_at < stale),
            )
            .order_by(Tracker.id)
            .limit(limit)
        ).all()
    # Only a number whose purchase may or may not have happened needs the carrier's list.
    blind = [row.id for row in work if row.status == PROVISIONING or row.provider_sid is None]
    owned = _owned_numbers(provider) if blind else {}
    settled = 0
    for tracker_id, status, _sid in work:
        if owned is None and tracker_id in blind:
            continue  # the list failed: next pass
        if not _claim(database, tracker_id, status, claim, take_over_before=stale):
            continue  # another worker won it
        if status == RELEASING:
            settled += _release_claimed(database, provider, tracker_id, claim, owned)
        else:
            assert owned is not None
            settled += _finish_purchase(database, provider, tracker_id, claim, owned, public_url)
    return settled


def carrier_job(database: Database, settings: Settings, provider: Provider) -> int:
    """The worker's job (``callpool.worker.Job``): finish interrupted purchases, retry failed
    releases, then refresh routing if a number entered or left service."""
    settled = finish_carrier_work(database, provider, public_url=settings.public_url)
    if settled:
        refresh_routing(database, settings)
    return settled


def _finish_purchase(
    database: Database,
    provider: Provider,
    tracker_id: int,
    claim: str,
    owned: dict[str, str],
    public_url: str,
) -> int:
    with database.reader() as db:
        tracker = db.get_one(Tracker, tracker_id)
        pool = db.get_one(Pool, tracker.pool_id)
    sid = owned.get(tracker.number)
    if pool.deleted_at is not None:
        # Nobody wants the number any more: give it back if it was bought, forget the row.
        with database.session() as db:
            db.execute(
                update(Tracker)
                .where(Tracker.id == tracker_id, Tracker.claimed_by == claim)
                .values(status=RELEASING, provider_sid=sid)
            )
        return _release_claimed(database, provider, tracker_id, claim, owned)
    if sid is not None:
        _record_purchase(database, tracker_id, claim, sid)  # bought before the crash
        return _go_live(database, [tracker_id], claim)
    return buy(database, provider, [tracker_id], claim, public_url=public_url, all_or_nothing=False)


def _owned_numbers(provider: Provider) -> dict[str, str] | None:
    """``{number: provider_sid}`` the carrier says this account owns; None if it cannot say."""
    try:
        return {p.number: p.provider_sid for p in provider.owned_numbers()}
    except ProviderError as error:
        log.warning("cannot list the numbers owned at the carrier, retrying later: %s", error)
        return None


def _retire_orphans(database: Database) -> None:
    with database.session() as db:
        deleted_pools = select(Pool.id).where(Pool.deleted_at.is_not(None))
        orphans = db.scalars(
            select(Tracker).where(
                Tracker.pool_id.in_(deleted_pools), Tracker.status.in_(ROUTED_STATUSES)
            )
        ).all()
        for tracker in orphans:
            mark_releasing(db, tracker, claim="")  # "": nobody's, the pass below takes it
            tracker.claimed_by = tracker.claimed_at = None


# -- claims --------------------------------------------------------------------------------


def _claim(
    database: Database,
    tracker_id: int,
    status: str,
    claim: str,
    *,
    take_over_before: datetime | None = None,
) -> bool:
    """Claim (or renew a claim on) one row by a conditional UPDATE; its row count says whether
    this caller holds the row. With ``take_over_before``, an unclaimed row or one claimed
    before that instant is taken; without, only a row this caller already holds."""
    with database.session() as db:
        query = update(Tracker).where(Tracker.id == tracker_id, Tracker.status == status)
        if take_over_before is None:
            query = query.where(Tracker.claimed_by == claim)
        else:
            query = query.where(
                Tracker.claimed_by.is_(None) | (Tracker.claimed_at < take_over_before)
            )
        result = db.execute(
            query.values(claimed_by=claim, claimed_at=clock.now(), attempts=Tracker.attempts + 1)
        )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _unclaim(database: Database, tracker_ids: Sequence[int], status: str, claim: str) -> None:
    with database.session() as db:
        db.execute(
            update(Tracker)
            .where(
                Tracker.id.in_(tracker_ids), Tracker.status == status, Tracker.claimed_by == claim
            )
            .values(claimed_by=None, claimed_at=None)
        )


def _note_error(db: Session, tracker_id: int, error: ProviderError) -> None:
    db.execute(
        update(Tracker).where(Tracker.id == tracker_id).values(last_error=str(error)[:ERROR_LENGTH])
    )


def _numbers(database: Database, tracker_ids: Sequence[int]) -> dict[int, str]:
    with database.reader() as db:
        query = select(Tracker.id, Tracker.number).where(Tracker.id.in_(tracker_ids))
        return {row.id: row.number for row in db.execute(query)}


def _count_live(database: Database, tracker_ids: Sequence[int]) -> int:
    with database.reader() as db:
        query = select(Tracker.id).where(
            Tracker.id.in_(tracker_ids), Tracker.status.in_(ROUTED_STATUSES)
        )
        return len(db.scalars(query).all())
