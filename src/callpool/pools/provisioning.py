"""Buying and releasing tracking numbers through the telephony provider.

A purchase and the row that records it must not part ways: if buying the k-th number fails,
the k-1 bought before are released again and the error propagates, so the transaction rolls
back with nothing stored and nothing left paid for at the provider.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from callpool import clock
from callpool.errors import Conflict
from callpool.models import Pool, Tracker
from callpool.models.pool import SESSION
from callpool.models.tracker import ACTIVE, AVAILABLE, RELEASED
from callpool.pools import repository
from callpool.pools.assignments import close_assignment
from callpool.telephony.base import Provider, ProviderError, PurchasedNumber

MAX_SEARCH = 1000


def webhook_urls(provider: Provider, public_url: str) -> tuple[str, str]:
    base = f"{public_url.rstrip('/')}/webhooks/{provider.name}"
    return f"{base}/voice", f"{base}/status"


def buy_trackers(
    db: Session, provider: Provider, pool: Pool, count: int, *, public_url: str
) -> list[Tracker]:
    """Buy ``count`` numbers in the pool's area code (or toll-free) and add them to the pool.

    Raises ``Conflict`` when the provider has too few numbers, ``ProviderError`` when it fails.
    """
    if count <= 0:
        return []
    # The provider may offer numbers this install already owns (the sandbox always does):
    # ask for enough to skip them all.
    limit = min(count + repository.count_live_numbers(db), MAX_SEARCH)
    offered = provider.search_numbers(
        area_code=pool.area_code, toll_free=pool.toll_free, limit=limit
    )
    taken = repository.taken_numbers(db, offered)
    free = [number for number in offered if number not in taken][:count]
    if len(free) < count:
        where = "toll-free" if pool.toll_free else f"area code {pool.area_code or 'default'}"
        raise Conflict(
            f"the provider has only {len(free)} {where} numbers available, {count} needed"
        )
    return _buy_all(db, provider, pool, free, public_url=public_url)


def buy_given_number(
    db: Session, provider: Provider, pool: Pool, number: str, *, public_url: str
) -> Tracker:
    if repository.taken_numbers(db, [number]):
        raise Conflict(f"{number} is already a live tracking number")
    return _buy_all(db, provider, pool, [number], public_url=public_url)[0]


def _buy_all(
    db: Session, provider: Provider, pool: Pool, numbers: list[str], *, public_url: str
) -> list[Tracker]:
    voice_url, status_url = webhook_urls(provider, public_url)
    bought: list[PurchasedNumber] = []
    try:
        for number in numbers:
            bought.append(provider.buy_number(number, voice_url=voice_url, status_url=status_url))
    except ProviderError:
        _release_quietly(provider, bought)
        raise
    trackers = [_new_tracker(pool, provider, purchase) for purchase in bought]
    db.add_all(trackers)
    db.flush()
    return trackers


def _new_tracker(pool: Pool, provider: Provider, purchase: PurchasedNumber) -> Tracker:
    now = clock.now()
    # Session-pool trackers are leased by the visit engine, so they are active from the start.
    # Source-level trackers wait as available; their forward number is still the pool's, so a
    # call to a number nobody is shown yet still reaches the business.
    session_pool = pool.kind == SESSION
    return Tracker(
        pool_id=pool.id,
        number=purchase.number,
        provider=provider.name,
        provider_sid=purchase.provider_sid,
        status=ACTIVE if session_pool else AVAILABLE,
        original_number=pool.original_number,
        created_at=now,
        activated_at=now if session_pool else None,
    )


def _release_quietly(provider: Provider, bought: list[PurchasedNumber]) -> None:
    for purchase in bought:
        try:
            provider.release_number(purchase.provider_sid)
        except ProviderError:
            # Nothing better to do while already failing; the number is orphaned at the
            # provider, which the operator sees on the provider's bill, not as a crash here.
            continue


def release_tracker(db: Session, provider: Provider, tracker: Tracker) -> None:
    """Give the number back and keep the row (calls and leases point at it)."""
    if tracker.status == RELEASED:
        return
    if tracker.provider_sid and tracker.provider == provider.name:
        provider.release_number(tracker.provider_sid)
    now = clock.now()
    close_assignment(db, tracker, now)
    tracker.status = RELEASED
    tracker.released_at = now
    tracker.leased_until = None
    db.flush()
