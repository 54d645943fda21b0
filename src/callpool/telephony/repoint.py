"""Re-pointing numbers at callpool: every live number's webhooks at ``CALLPOOL_PUBLIC_URL``.

A number's voice and status URLs are set when it is bought. When the public URL changes (a new
domain, a move behind another proxy) the carrier keeps calling the old one, and calls stop
being tracked. ``callpool numbers repoint`` re-points every live number; ``callpool serve``
does it at start when the URL differs from the one the install remembers from its last start.

Carrier calls happen outside any transaction, one per number, as ``pools/provisioning.py``
does: a slow carrier holds no database lock.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callpool.db import Database
from callpool.models import InstallSetting, Tracker
from callpool.models.tracker import ROUTED_STATUSES
from callpool.telephony.base import Provider, ProviderError, webhook_urls

log = logging.getLogger(__name__)

# The public URL the live numbers' webhooks were last pointed at.
PUBLIC_URL_KEY = "webhooks.public_url"


@dataclass(frozen=True)
class Repointed:
    numbers: int  # re-pointed
    failed: list[str] = field(default_factory=list)  # "<number>: <the carrier's words>"


def repoint(database: Database, provider: Provider, public_url: str) -> Repointed:
    """Point every live number the provider holds for this install at ``public_url``.

    Numbers being bought take the current URL with their purchase; numbers being released
    need none. A failure for one number does not stop the others; it is reported.
    """
    voice_url, status_url = webhook_urls(public_url, provider.name)
    with database.reader() as db:
        numbers = db.execute(
            select(Tracker.number, Tracker.provider_sid)
            .where(
                Tracker.provider == provider.name,
                Tracker.status.in_(ROUTED_STATUSES),
                Tracker.provider_sid.is_not(None),
            )
            .order_by(Tracker.id)
        ).all()
    failed: list[str] = []
    for number, sid in numbers:
        try:
            provider.configure_webhooks(str(sid), voice_url=voice_url, status_url=status_url)
        except ProviderError as error:
            log.warning("re-pointing %s at %s failed: %s", number, public_url, error)
            failed.append(f"{number}: {error}")
    return Repointed(len(numbers) - len(failed), failed)


def repoint_and_remember(database: Database, provider: Provider, public_url: str) -> Repointed:
    """``callpool numbers repoint``: re-point, and remember the URL once every number follows
    it (so the next start does not do it again)."""
    outcome = repoint(database, provider, public_url)
    if not outcome.failed:
        with database.session() as db:
            _forget(db, None)
            db.add(InstallSetting(key=PUBLIC_URL_KEY, value=public_url))
    return outcome


def remembered_public_url(database: Database) -> str | None:
    with database.reader() as db:
        return db.scalar(select(InstallSetting.value).where(InstallSetting.key == PUBLIC_URL_KEY))


def repoint_if_moved(database: Database, provider: Provider, public_url: str) -> Repointed | None:
    """At start: re-point the numbers if the public URL is not the one of the last start.
    None when there was nothing to do, or when another process (several app processes share
    one PostgreSQL) claimed the change first. A failure gives the claim back, so the next
    start tries again."""
    previous = _claim_move(database, public_url)
    if previous is None:
        return None
    outcome = repoint(database, provider, public_url)
    if outcome.failed:
        _give_back(database, public_url, previous)
        log.error(
            "%d of %d numbers still point at the old public URL; run `callpool numbers "
            "repoint` once the carrier answers",
            len(outcome.failed),
            outcome.numbers + len(outcome.failed),
        )
    elif outcome.numbers:
        log.warning("public URL changed: %d numbers now call %s", outcome.numbers, public_url)
    return outcome


def repoint_in_background(
    database: Database, provider: Provider, public_url: str
) -> threading.Thread:
    """``repoint_if_moved`` in its own thread: a start never waits on the carrier."""
    thread = threading.Thread(
        target=_repoint_logged, args=(database, provider, public_url), daemon=True, name="repoint"
    )
    thread.start()
    return thread


def _repoint_logged(database: Database, provider: Provider, public_url: str) -> None:
    try:
        repoint_if_moved(database, provider, public_url)
    except Exception:  # the database went away: the next start tries again
        log.exception("re-pointing the numbers at %s failed", public_url)


def _claim_move(database: Database, public_url: str) -> str | None:
    """Remember ``public_url`` if it is new; returns the URL it replaces ('' for none yet), or
    None if it is not new or another process remembered it first (a conditional UPDATE, or
    the key's primary key for the first start)."""
    with database.session() as db:
        previous = db.scalar(
            select(InstallSetting.value).where(InstallSetting.key == PUBLIC_URL_KEY)
        )
        if previous == public_url:
            return None
        if previous is None:
            try:
                with db.begin_nested():
                    db.add(InstallSetting(key=PUBLIC_URL_KEY, value=public_url))
            except IntegrityError:
                return None
            return ""
        moved = db.execute(
            update(InstallSetting)
            .where(InstallSetting.key == PUBLIC_URL_KEY, InstallSetting.value == previous)
            .values(value=public_url)
        )
        return previous if moved.rowcount == 1 else None  # type: ignore[attr-defined]


def _give_back(database: Database, public_url: str, previous: str) -> None:
    with database.session() as db:
        if previous:
            db.execute(
                update(InstallSetting)
                .where(InstallSetting.key == PUBLIC_URL_KEY, InstallSetting.value == public_url)
                .values(value=previous)
            )
        else:
            _forget(db, public_url)


def _forget(db: Session, value: str | None) -> None:
    """Drop the remembered URL (only if it is ``value``, when given)."""
    statement = delete(InstallSetting).where(InstallSetting.key == PUBLIC_URL_KEY)
    if value is not None:
        statement = statement.where(InstallSetting.value == value)
    db.execute(statement)
