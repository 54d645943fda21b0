"""Events become outbox messages, in the transaction of the event.

``call_stored`` and ``call_ended`` are called by ``callpool.calls.service`` where a call is
stored and where it reaches a final status: one line each there. Accounts with no endpoint for
the event and no one to email pay one or two indexed reads, nothing more.

``pool.exhausted`` is derived by the worker from ``pool_events`` (``exhausted_pools``) rather
than written by the visit path: exhaustion is recorded there already, durably and in the
visit's own transaction; reading it afterwards keeps the hottest path as it is, and gives one
place to send at most one message per pool per endpoint per hour, however many visits found
the pool full.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from itertools import takewhile

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callpool import clock
from callpool.db import Database
from callpool.integrations import outbox, payloads
from callpool.integrations.email import notices, smtp
from callpool.integrations.ga4 import sender as ga4
from callpool.integrations.webhooks.repository import WEBHOOK, enabled_endpoints, subscribers
from callpool.models import Call, OutboxCursor, OutboxMessage, Pool, PoolEvent
from callpool.settings import Settings

log = logging.getLogger(__name__)

EXHAUSTED = "exhausted"  # PoolEvent.kind, as callpool.visits.claim writes it
CURSOR = "pool.exhausted"
# Events are read in id order once this old: a visit's transaction that took an id earlier
# has committed by then (PostgreSQL batches give up after 2 s), so none is skipped.
EVENTS_SETTLE = timedelta(seconds=10)
PER_POOL = timedelta(hours=1)
SETTLE = "settle"  # the outbox kind whose delivery writes a settled event's messages
# Carriers report both legs of a call within a second or two of its end.
SETTLE_CALL = timedelta(seconds=15)
READ_AT_ONCE = 5000


def call_stored(db: Session, call: Call) -> None:
    """``call.started``; and ``call.attributed`` when the call was attributed to a visit or a
    source (attribution is settled when the call is stored)."""
    events = [payloads.CALL_STARTED]
    if call.session_id is not None or call.source is not None:
        events.append(payloads.CALL_ATTRIBUTED)
    _guarded(db, call, lambda db, call: _write_call_messages(db, call, events))


def call_ended(db: Session, call: Call) -> None:
    """``call.completed`` and the call emails, once the call's final status has settled.

    The first final status is not always the last: the inbound leg's "completed" may come
    before the forwarded leg's "no-answer", which outranks it (``calls.service.status_rank``),
    and a missed call must be told as missed. So one ``settle`` message is written now, due
    ``SETTLE_CALL`` later; the worker then writes the webhooks and emails from the call as it
    stands (``settle_call``), each once. The GA4 event waits as long, for the final duration."""
    _guarded(db, call, _write_settle)
    _guarded(db, call, lambda db, call: ga4.call_ended(db, call, SETTLE_CALL))


def _write_settle(db: Session, call: Call) -> None:
    if subscribers(db, call.account_id, payloads.CALL_COMPLETED) or notices.anyone_emailed(
        db, call.account_id
    ):
        outbox.enqueue(
            db,
            account_id=call.account_id,
            kind=SETTLE,
            target_id=call.id,
            event=payloads.CALL_COMPLETED,
            payload={},
            dedupe_key=f"{SETTLE}:{payloads.CALL_COMPLETED}:{call.id}",
            delay=SETTLE_CALL,
        )


def settle_call(database: Database, settings: Settings, message: outbox.Message) -> outbox.Outcome:
    """The ``settle`` kind's delivery: write ``call.completed`` for each endpoint and the call
    emails, from the call as it stands. Run again (a worker killed before recording it), it
    writes only what is missing: each message's ``dedupe_key`` names the settle message and
    its target. Its id is the settle message's: one ``webhook-id`` per call completion."""
    with database.session() as db:
        call = db.get(Call, message.target_id)
        if call is None:
            return outbox.Outcome(ok=True, error="the call is gone")
        targets = [(WEBHOOK, e.id) for e in subscribers(db, call.account_id, message.event)]
        if smtp.is_on(settings):  # email off: no email is written, none waits to fail
            targets += [(notices.EMAIL, user) for user in notices.call_recipients(db, call)]
        keys = {f"{message.message_id}:{kind}:{target}": (kind, target) for kind, target in targets}
        written = set(
            db.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys)))
        )
        missing = {key: target for key, target in keys.items() if key not in written}
        if not missing:
            return outbox.Outcome(ok=True)
        data = payloads.call_data(db, call)
        for key, (kind, target) in missing.items():
            outbox.enqueue(
                db,
                account_id=call.account_id,
                kind=kind,
                target_id=target,
                event=message.event if kind == WEBHOOK else notices.CALL,
                payload=payloads.envelope(message.event, data) if kind == WEBHOOK else data,
                message_id=message.message_id,
                dedupe_key=key,
            )
    return outbox.Outcome(ok=True)


def _guarded(db: Session, call: Call, write: Callable[[Session, Call], None]) -> None:
    """``write`` the call's messages in a savepoint: should it fail (a bug), the call is
    stored all the same, without them, and the failure logged."""
    try:
        with db.begin_nested():
            write(db, call)
    except Exception:  # a stored call beats a message about it: never fail the call's write
        log.exception("outbox messages for call %s could not be written", call.id)


def _write_call_messages(db: Session, call: Call, events: Sequence[str]) -> None:
    endpoints = enabled_endpoints(db, call.account_id)
    wanted = [(event, [e for e in endpoints if event in e.events]) for event in events]
    if not any(targets for _event, targets in wanted):
        return
    data = payloads.call_data(db, call)
    for event, targets in wanted:
        message_id = outbox.new_message_id()  # one message, sent to each endpoint
        body = payloads.envelope(event, data)
        for endpoint in targets:
            outbox.enqueue(
                db,
                account_id=call.account_id,
                kind=WEBHOOK,
                target_id=endpoint.id,
                event=event,
                payload=body,
                message_id=message_id,
            )


# pool.exhausted, from pool_events


def exhausted_pools(database: Database) -> int:
    """Turn new exhaustion events into ``pool.exhausted`` messages; returns how many were
    written. A read when there is nothing new (no write lock on SQLite)."""
    with database.reader() as db:
        position = db.scalar(select(OutboxCursor.position).where(OutboxCursor.name == CURSOR))
        new = db.scalar(_events_after(position or 0).limit(1))
    if new is None:
        return 0
    try:
        with database.session() as db:
            return _exhausted_pools(db)
    except IntegrityError:  # another worker created the cursor first: its turn
        return 0


def _events_after(position: int) -> Select[int, int, datetime]:
    return (
        select(PoolEvent.id, PoolEvent.pool_id, PoolEvent.at)
        .where(PoolEvent.kind == EXHAUSTED, PoolEvent.id > position)
        .order_by(PoolEvent.id)
    )


def _exhausted_pools(db: Session) -> int:
    now = clock.now()
    # FOR UPDATE: one worker at a time moves the cursor (SQLite's BEGIN IMMEDIATE does that).
    cursor = db.get(OutboxCursor, CURSOR, with_for_update=True)
    if cursor is None:
        cursor = OutboxCursor(name=CURSOR, position=0)
        db.add(cursor)
        db.flush()
    rows = db.execute(_events_after(cursor.position).limit(READ_AT_ONCE)).all()
    settled = list(takewhile(lambda row: row.at <= now - EVENTS_SETTLE, rows))
    if not settled:
        return 0
    pools: dict[int, list[tuple[int, str]]] = {}
    for row in settled:
        pools.setdefault(row.pool_id, []).append((row.id, row.at.isoformat()))
    written = sum(_pool_exhausted(db, pool_id, seen) for pool_id, seen in pools.items())
    cursor.position = settled[-1].id
    return written


def _pool_exhausted(db: Session, pool_id: int, seen: list[tuple[int, str]]) -> int:
    pool = db.get(Pool, pool_id)
    if pool is None:
        return 0
    endpoints = subscribers(db, pool.account_id, payloads.POOL_EXHAUSTED)
    written = 0
    message_id = outbox.new_message_id()
    first_id, first_at = seen[0]
    body = payloads.envelope(
        payloads.POOL_EXHAUSTED, payloads.pool_data(pool, first_at=first_at, events=len(seen))
    )
    for endpoint in endpoints:
        prefix = f"{payloads.POOL_EXHAUSTED}:{endpoint.id}:{pool.id}:"
        if _sent_within(db, prefix, PER_POOL):
            continue
        outbox.enqueue(
            db,
            account_id=pool.account_id,
            kind=WEBHOOK,
            target_id=endpoint.id,
            event=payloads.POOL_EXHAUSTED,
            payload=body,
            message_id=message_id,
            dedupe_key=f"{prefix}{first_id}",
        )
        written += 1
    return written


def _sent_within(db: Session, prefix: str, period: timedelta) -> bool:
    return (
        db.scalar(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.dedupe_key.startswith(prefix, autoescape=True),
                OutboxMessage.created_at > clock.now() - period,
            )
            .limit(1)
        )
        is not None
    )
