"""The durable outbox: messages written in the event's transaction, delivered by workers.

A message is a row of ``outbox``, written by ``enqueue`` in the same transaction as the event
it tells about, so it exists exactly when the event does. ``deliver_due`` (the worker, and each
``serve`` on SQLite) claims due rows with a conditional UPDATE that sets a lease: several
workers never take the same row, and a worker killed mid-send leaves the row to be taken again
once the lease runs out. The receiver may then see a message twice, with the same id; it never
misses one. Sending happens outside any transaction; each attempt is recorded afterwards.

A failed attempt is retried with exponential backoff and jitter (the first retry within 10 s,
the second within a minute) for at least 24 hours; then the message fails and its kind's
``give_up`` runs (webhooks: the endpoint is disabled and its owners told).

Each kind of delivery (webhook, email; Google Ads, GA4 later) is a ``Delivery`` in ``KINDS``
(see ``callpool.integrations.kinds``): a ``send`` that makes one attempt, a ``give_up``.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from callpool import clock
from callpool.db import Database
from callpool.models import DeliveryAttempt, OutboxMessage, UTCDateTime
from callpool.settings import Settings

log = logging.getLogger(__name__)

PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"
STATES = (PENDING, SENDING, DELIVERED, FAILED)

# A live worker must keep its claim while it works off its batch: at worst every send of it
# times out (10 s), BATCH / SENDERS in a row, 40 s. A killed worker's messages wait this long.
LEASE = timedelta(seconds=120)
FIRST_DELAY_SECONDS = 10.0  # the first retry comes within 10 s, the second within 50 s
BACKOFF_FACTOR = 5.0
MAX_DELAY = timedelta(hours=6)
RETRY_WINDOW = timedelta(hours=24)
KEPT = timedelta(days=30)  # delivered and failed messages are listed this long, then deleted
BATCH = 64  # rows claimed at once
SENDERS = 16  # sends in flight at once per worker: a 50 ms receiver is then ~300 per second
MAX_ERROR = 500
MAX_RESPONSE_START = 500  # characters of a receiver's answer kept with the attempt


@dataclass(frozen=True)
class Message:
    """What a sender needs of a claimed row (no session: it is sent outside transactions)."""

    id: int
    account_id: int
    kind: str
    target_id: int
    event: str
    message_id: str
    payload: dict[str, Any]
    attempts: int
    window_started_at: datetime
    claim: str


@dataclass(frozen=True)
class Outcome:
    ok: bool
    response_code: int | None = None
    response_start: str | None = None
    latency_ms: int | None = None
    error: str | None = None
    # Retrying cannot help (the endpoint was deleted or disabled, email is off): fail now.
    permanent: bool = False


@dataclass(frozen=True)
class Delivery:
    """One kind of message: how to make one attempt, and what to do when retries run out."""

    send: Callable[[Database, Settings, Message], Outcome]
    give_up: Callable[[Session, Settings, Message, Outcome], None] = field(
        default=lambda _db, _settings, _message, _outcome: None
    )


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def enqueue(
    db: Session,
    *,
    account_id: int,
    kind: str,
    target_id: int,
    event: str,
    payload: dict[str, Any],
    message_id: str | None = None,
    dedupe_key: str | None = None,
    delay: timedelta = timedelta(0),
) -> OutboxMessage:
    """Write a message in the caller's transaction: it is delivered if and only if the caller
    commits, ``delay`` from now at the earliest. ``dedupe_key``: unique; callers that might
    write the same message twice check it first."""
    now = clock.now()
    row = OutboxMessage(
        account_id=account_id,
        kind=kind,
        target_id=target_id,
        event=event,
        message_id=message_id or new_message_id(),
        dedupe_key=dedupe_key,
        payload=payload,
        state=PENDING,
        next_attempt_at=now + delay,
        created_at=now,
    )
    db.add(row)
    return row


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 10 s, 50 s, 4 min, 21 min, 1.7 h,
    then 6 h, each times a random 0.5–1 so receivers that failed together are not retried
    together."""
    full = FIRST_DELAY_SECONDS * BACKOFF_FACTOR ** (max(attempts, 1) - 1)
    return min(timedelta(seconds=full), MAX_DELAY) * random.uniform(0.5, 1.0)


def _due(now: datetime) -> Any:
    return or_(
        and_(OutboxMessage.state == PENDING, OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.state == SENDING, OutboxMessage.lease_until <= now),
    )


def any_due(database: Database) -> bool:
    """Whether a message is due now (a read: on SQLite it takes no write lock)."""
    now = clock.now()
    with database.reader() as db:
        return db.scalar(select(OutboxMessage.id).where(_due(now)).limit(1)) is not None


def claim_due(database: Database, limit: int = BATCH) -> list[Message]:
    """Take up to ``limit`` due messages for this worker: one conditional UPDATE that only
    changes rows still due, so of several workers each row goes to one."""
    now = clock.now()
    token = secrets.token_hex(8)
    with database.session() as db:
        ids = list(
            db.scalars(
                select(OutboxMessage.id)
                .where(_due(now))
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
            )
        )
        if not ids:
            return []
        db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), _due(now))
            .values(
                state=SENDING,
                claim=token,
                lease_until=now + LEASE,
                attempts=OutboxMessage.attempts + 1,
                window_started_at=func.coalesce(
                    OutboxMessage.window_started_at, literal(now, UTCDateTime())
                ),
            )
            .execution_options(synchronize_session=False)
        )
        # Columns, not ORM objects: the claim is in the write lock's time on SQLite.
        rows = db.execute(select(*_FIELDS).where(OutboxMessage.claim == token)).all()
        return [Message(*row) for row in rows]


_FIELDS = (
    OutboxMessage.id,
    OutboxMessage.account_id,
    OutboxMessage.kind,
    OutboxMessage.target_id,
    OutboxMessage.event,
    OutboxMessage.message_id,
    OutboxMessage.payload,
    OutboxMessage.attempts,
    OutboxMessage.window_started_at,
    OutboxMessage.claim,
)  # in the order of ``Message``'s fields


def deliver_due(
    database: Database,
    settings: Settings,
    kinds: Mapping[str, Delivery],
    *,
    limit: int = BATCH,
    senders: int = SENDERS,
) -> int:
    """Claim what is due, send it (``senders`` at once), record each attempt; returns how
    many messages were attempted. A no-op read when nothing is due."""
    if not any_due(database):
        return 0
    messages = claim_due(database, limit)
    if not messages:
        return 0
    outcomes = list(
        _senders(senders).map(lambda message: _send(database, settings, kinds, message), messages)
    )
    record(database, settings, kinds, list(zip(messages, outcomes, strict=True)))
    return len(messages)


@lru_cache
def _senders(count: int) -> ThreadPoolExecutor:
    """Threads kept for the process's life: starting 16 per batch cost ~0.3 ms a message."""
    return ThreadPoolExecutor(max_workers=count, thread_name_prefix="outbox-send")


def _send(
    database: Database, settings: Settings, kinds: Mapping[str, Delivery], message: Message
) -> Outcome:
    delivery = kinds.get(message.kind)
    if delivery is None:
        return Outcome(ok=False, error=f"no delivery for kind {message.kind!r}", permanent=True)
    try:
        return delivery.send(database, settings, message)
    except Exception as error:  # a sender's bug must not lose the message: retry it
        log.exception("sending outbox message %s failed", message.id)
        return Outcome(ok=False, error=f"{type(error).__name__}: {error}"[:MAX_ERROR])


def record(
    database: Database,
    settings: Settings,
    kinds: Mapping[str, Delivery],
    results: list[tuple[Message, Outcome]],
) -> None:
    """Keep every attempt; move each message on, unless another worker holds it by now (our
    lease ran out mid-send): then only the attempt is kept.

    One transaction for the batch, its statements executed many at once: on SQLite the
    visits' group commits wait for this write lock (row by row through the ORM it was held
    ~100 ms per 200 messages; this way a few ms)."""
    now = clock.now()
    moves: list[dict[str, Any]] = []
    failed: list[tuple[Message, Outcome]] = []
    for message, outcome in results:
        state = _next_state(message, outcome, now)
        if state == FAILED:
            failed.append((message, outcome))
            continue
        moves.append(
            {
                "b_id": message.id,
                "b_claim": message.claim,
                "b_state": state,
                "b_delivered_at": now if state == DELIVERED else None,
                "b_next": now + retry_delay(message.attempts) if state == PENDING else now,
                "b_error": None if state == DELIVERED else _error(outcome),
            }
        )
    with database.session() as db:
        db.execute(insert(DeliveryAttempt), [_attempt(m, o, now) for m, o in results])
        if moves:
            db.connection().execute(_MOVE, moves)
        for message, outcome in failed:
            _fail(db, settings, kinds, message, outcome)


_TABLE = cast(Table, OutboxMessage.__table__)
# A message goes on only while this worker's claim holds (another may have taken it since).
_MOVE = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.claim == bindparam("b_claim"))
    .values(
        state=bindparam("b_state"),
        delivered_at=bindparam("b_delivered_at"),
        next_attempt_at=bindparam("b_next"),
        last_error=bindparam("b_error"),
        lease_until=None,
        claim=None,
    )
)


def _attempt(message: Message, outcome: Outcome, now: datetime) -> dict[str, Any]:
    return {
        "message_id": message.id,
        "at": now,
        "ok": outcome.ok,
        "response_code": outcome.response_code,
        "response_start": _clip(outcome.response_start, MAX_RESPONSE_START),
        "latency_ms": outcome.latency_ms,
        "error": _clip(outcome.error, MAX_ERROR),
    }


def _error(outcome: Outcome) -> str | None:
    return _clip(outcome.error or _status(outcome), MAX_ERROR)


def _fail(
    db: Session,
    settings: Settings,
    kinds: Mapping[str, Delivery],
    message: Message,
    outcome: Outcome,
) -> None:
    """Retries are over (or cannot help): the message fails, and its kind gives up, once."""
    moved = db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.claim == message.claim)
        .values(state=FAILED, lease_until=None, claim=None, last_error=_error(outcome))
        .execution_options(synchronize_session=False)
    )
    delivery = kinds.get(message.kind)
    if moved.rowcount == 1 and delivery is not None:  # type: ignore[attr-defined]
        delivery.give_up(db, settings, message, outcome)


def _next_state(message: Message, outcome: Outcome, now: datetime) -> str:
    if outcome.ok:
        return DELIVERED
    if outcome.permanent or now - message.window_started_at >= RETRY_WINDOW:
        return FAILED
    return PENDING


def _status(outcome: Outcome) -> str:
    return f"HTTP {outcome.response_code}" if outcome.response_code else "failed"


def _clip(value: str | None, length: int) -> str | None:
    return None if value is None else value[:length]


def purge(database: Database) -> int:
    """Delete messages delivered or failed more than ``KEPT`` ago, with their attempts;
    returns how many. The outbox is a queue with a month of history, not an archive."""
    before = clock.now() - KEPT
    with database.session() as db:
        gone = db.execute(
            delete(OutboxMessage)
            .where(OutboxMessage.state.in_((DELIVERED, FAILED)), OutboxMessage.created_at < before)
            .execution_options(synchronize_session=False)
        )
        return int(gone.rowcount)  # type: ignore[attr-defined]


# Reading and redelivering (the API and the dashboard)


def redeliver(db: Session, row: OutboxMessage) -> None:
    """Send a message again, with the same id, now, with a fresh 24-hour retry window. A
    message being sent right now is left to finish."""
    if row.state == SENDING:
        return
    row.state = PENDING
    row.next_attempt_at = clock.now()
    row.window_started_at = None
    row.delivered_at = None


def attempts_of(db: Session, message_ids: list[int]) -> dict[int, list[DeliveryAttempt]]:
    found: dict[int, list[DeliveryAttempt]] = {message_id: [] for message_id in message_ids}
    if not message_ids:
        return found
    for attempt in db.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.message_id.in_(message_ids))
        .order_by(DeliveryAttempt.id)
    ):
        found[attempt.message_id].append(attempt)
    return found
