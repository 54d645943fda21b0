"""Calls: route every one, store it, attribute it; apply status callbacks; read them back.

The order of concerns is the product's promise: the caller reaches the business first, the
record comes second. A call is routed from the routing table (the database is asked only for a
number the table lacks) and written to the local spool before it is answered; ``replay_spool``
then stores and attributes it, at once in the background when the database answers, later when
it does not. So a slow, locked or absent database never holds up a caller, and nothing the
carrier told us is lost.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callpool import clock
from callpool.calls import repository, schemas, spool
from callpool.calls.attribution import Attribution, attribute, is_withheld
from callpool.calls.routing import Route, route_of, routing_table
from callpool.db import UNAVAILABLE, Database
from callpool.errors import Invalid
from callpool.integrations import events
from callpool.models import Call, Pageview, Pool, Tracker
from callpool.models.visit import CLICK_IDS
from callpool.restapi import MAX_ID
from callpool.settings import Settings
from callpool.telephony.base import (
    CallStatus,
    Forward,
    InboundCall,
    StatusUpdate,
    webhook_base,
    webhook_urls,
)

log = logging.getLogger(__name__)

# A status callback of a call no process has stored yet waits this long for it: as long as a
# database outage may last before the call's spooling process stores it (its spool keeps it).
STATUS_WAITS_FOR_CALL = timedelta(hours=24)


@dataclass(frozen=True)
class Routed:
    """Where a call goes, and the tracker's current route (to keep the routing table fresh)."""

    forward_to: str
    record: bool
    whisper: str | None
    route: Route | None


def whisper_url(settings: Settings, provider_name: str, words: str) -> str:
    # The words travel in the URL, so the whisper plays even while the database is down;
    # the provider signs its request for this exact URL, so no one else can change them.
    base = webhook_base(settings.public_url, provider_name)
    return f"{base}/whisper?{urlencode({'say': words})}"


# Inbound calls


def receive_call(
    database: Database, settings: Settings, provider_name: str, inbound: InboundCall
) -> Forward | None:
    """Where to forward ``inbound`` (spooled, to be stored); None when its number is no
    tracker of ours. The webhook does the same with a deadline on the database's part."""
    route = routing_table(settings).lookup(inbound.to_number) or find_route(
        database, settings, inbound.to_number
    )
    return None if route is None else take_call(settings, provider_name, inbound, route)


def find_route(database: Database, settings: Settings, number: str) -> Route | None:
    """A number the routing table lacks (a tracker bought in another process since its last
    refresh): ask the database, and keep the answer in the table."""
    with database.reader() as db:
        found = repository.live_tracker(db, number)
        route = None if found is None else route_of(*found)
    if route is None:
        log.warning("call to %s: no such tracker", number)
        return None
    routing_table(settings).remember(route)
    return route


def take_call(
    settings: Settings,
    provider_name: str,
    inbound: InboundCall,
    route: Route,
    journal: spool.Journal | None = None,
) -> Forward:
    """Spool the call (synced to disk; through ``journal`` if given) and say where it goes.
    Blocks on the disk: run it off the event loop. ``replay_spool`` stores it, once, whichever
    process replays it."""
    _spool_call(settings, provider_name, inbound, inbound.at or clock.now(), route, journal)
    return forward(settings, provider_name, inbound, route.forward_to, route.record, route.whisper)


def forward(
    settings: Settings,
    provider_name: str,
    inbound: InboundCall,
    to: str,
    record: bool,
    whisper: str | None,
) -> Forward:
    # Showing the caller's number lets the business call back; a withheld one cannot be shown,
    # and Twilio refuses a <Dial> whose callerId is not a number, so show the tracker instead.
    caller = inbound.from_number
    caller_id = inbound.to_number if is_withheld(caller) else caller
    return Forward(
        to=to,
        caller_id=caller_id,
        record=record,
        whisper=whisper,
        status_callback_url=webhook_urls(settings.public_url, provider_name)[1],
        whisper_url=whisper_url(settings, provider_name, whisper) if whisper else None,
    )


def record_call(
    db: Session,
    provider_name: str,
    inbound: InboundCall,
    at: datetime,
    settings: Settings,
    *,
    forwarded_to: str | None = None,
) -> Routed | None:
    """Store the call once (idempotent on the provider's call id) and attribute it.

    ``forwarded_to``: where the answer sent it (from the routing table), if known; else where
    the tracker forwards now.
    """
    existing = repository.call_by_provider_id(db, inbound.call_id)
    if existing is not None:
        return _routed_as_before(db, existing)
    found = repository.live_tracker(db, inbound.to_number)
    if found is None:
        return None
    tracker, pool = found
    route = route_of(tracker, pool)
    call = Call(
        provider=provider_name,
        provider_call_id=inbound.call_id,
        account_id=pool.account_id,
        tracker_id=tracker.id,
        pool_id=pool.id,
        from_number=inbound.from_number,
        to_number=inbound.to_number,
        forwarded_to=forwarded_to or route.forward_to,
        started_at=at,
        status=CallStatus.RINGING,
        status_rank=0,
        candidates=[],
        caller_line_type=inbound.line_type,
    )
    try:
        with db.begin_nested():
            db.add(call)
    except IntegrityError:
        # The same webhook delivered twice at once: the other request stored it.
        existing = repository.call_by_provider_id(db, inbound.call_id)
        if existing is None:
            raise
        return _routed_as_before(db, existing)
    _attribute(db, call, tracker, pool, settings)
    events.call_stored(db, call)  # outbox rows in this transaction: webhooks
    return Routed(route.forward_to, route.record, route.whisper, route)


def _routed_as_before(db: Session, call: Call) -> Routed:
    pool = db.get(Pool, call.pool_id) if call.pool_id else None
    forward_to = call.forwarded_to or (pool.original_number if pool else call.to_number)
    return Routed(
        forward_to, bool(pool and pool.record_calls), pool.whisper if pool else None, None
    )


def _attribute(db: Session, call: Call, tracker: Tracker, pool: Pool, settings: Settings) -> None:
    window = timedelta(hours=settings.attribution_window_hours)
    try:
        with db.begin_nested():
            found = attribute(
                db,
                tracker=tracker,
                pool=pool,
                call=call,
                window=window,
                evidence=settings.attribution_evidence,
            )
    except UNAVAILABLE:
        raise  # the database went away: the call is not stored either; the replay retries
    except Exception:  # a call with no attribution beats a call not stored
        log.exception("attribution failed for call %s", call.provider_call_id)
        found = Attribution(reason="attribution_failed")
    call.session_id = found.session_id
    call.source = found.source
    call.medium = found.medium
    call.confidence = found.confidence
    call.candidates = list(found.candidates)
    call.ranking = [ranked.stored() for ranked in found.ranking]
    call.attribution_reason = found.reason
    call.first_call_id = found.first_call_id


def _spool_call(
    settings: Settings,
    provider_name: str,
    inbound: InboundCall,
    at: datetime,
    route: Route,
    journal: spool.Journal | None,
) -> None:
    data = {
        "provider": provider_name,
        "to": inbound.to_number,
        "from": inbound.from_number,
        "at": at.isoformat(),
        "forward_to": route.forward_to,
        "line_type": inbound.line_type,
    }
    try:
        spool.spool(settings.call_spool_dir, spool.CALL, inbound.call_id, data, journal=journal)
    except OSError:
        log.exception("could not spool call %s: it is forwarded but will not be stored", data)


# Status callbacks


def receive_status(
    settings: Settings, update: StatusUpdate, journal: spool.Journal | None = None
) -> None:
    """Spool a status callback (synced to disk; through ``journal`` if given) for
    ``replay_spool`` to apply after its call, in arrival order; one about an unknown call then
    changes nothing. Blocks on the disk."""
    _spool_status(settings, update, clock.now(), journal)


def status_rank(update: StatusUpdate) -> int:
    """Order of callbacks: later states first, then the forwarded leg, then SequenceNumber.

    The forwarded leg's final state (no-answer, busy, completed) says what happened to the
    caller, so it outranks the inbound leg's plain "completed", whichever arrives first.
    """
    if update.status is None:
        return 0
    stage = CallStatus(update.status).rank * 2 + (1 if update.dialed else 0)
    return stage * 1000 + min(update.sequence or 0, 999)


def apply_status(db: Session, update: StatusUpdate, at: datetime) -> bool:
    """False when the call is unknown. Never moves a call's status or recording backwards."""
    call = repository.call_by_provider_id(db, update.call_id, lock=True)
    if call is None:
        return False
    if update.recording_url and _newer_recording(call, update):
        call.recording_url = update.recording_url
        call.recording_at = update.recording_at
    rank = status_rank(update)
    if update.status is not None and rank > call.status_rank:
        call.status = update.status
        call.status_rank = rank
        if update.duration is not None:
            call.duration = update.duration
        if CallStatus(update.status).final and call.ended_at is None:
            call.ended_at = at
            events.call_ended(db, call)  # call.completed, call emails (outbox)
    elif update.duration is not None and call.duration is None:
        call.duration = update.duration  # a stale callback may still carry what we lack
    return True


def _newer_recording(call: Call, update: StatusUpdate) -> bool:
    """Whether the callback's recording replaces the stored one: the first one always; then
    only one that began later, by the provider's clock, so a replayed older callback loses."""
    if call.recording_url is None:
        return True
    if update.recording_at is None or call.recording_at is None:
        return False  # no order to go by: keep what is stored
    return update.recording_at > call.recording_at


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _spool_status(
    settings: Settings, update: StatusUpdate, at: datetime, journal: spool.Journal | None = None
) -> None:
    data = {
        "at": at.isoformat(),
        "status": update.status,
        "duration": update.duration,
        "recording_url": update.recording_url,
        "recording_at": update.recording_at.isoformat() if update.recording_at else None,
        "sequence": update.sequence,
        "dialed": update.dialed,
    }
    try:
        spool.spool(settings.call_spool_dir, spool.STATUS, update.call_id, data, journal=journal)
    except OSError:
        log.exception("could not spool status of call %s", update.call_id)


# The spool


class DatabaseGone(Exception):
    """An error while storing, and the database no longer answers."""


@dataclass(frozen=True)
class Replayed:
    stored: int  # entries stored (or found to change nothing) and removed
    unreachable: bool  # stopped early: the database is away; the rest waits


def replay_spool(database: Database, settings: Settings) -> int:
    """Store what the spool holds, oldest first; returns how many entries were replayed."""
    replayed = replay(database, settings)
    if replayed.unreachable:
        log.warning("database unreachable; %d spooled entries stored so far", replayed.stored)
    return replayed.stored


def replay(database: Database, settings: Settings) -> Replayed:
    """``replay_spool``, saying whether it stopped at the first sign the database is still
    away (the rest waits for the next run). An entry that fails twice for any other reason,
    the database answering, is set aside in ``failed/`` with the reason."""
    stored = 0
    for entry in spool.claim_all(settings.call_spool_dir):
        try:
            applied = _replay_entry(database, entry, settings)
        except (*UNAVAILABLE, DatabaseGone):
            spool.release(entry)
            return Replayed(stored, unreachable=True)
        except Exception as error:
            log.exception("spooled %s cannot be stored", entry.path.name)
            spool.fail(entry.path, f"{type(error).__name__}: {error}")
            continue
        if applied:
            spool.done(entry)
            stored += 1
        else:
            spool.release(entry)  # its call is being stored by another replayer: next time
    return Replayed(stored, unreachable=False)


def _replay_entry(database: Database, entry: spool.Entry, settings: Settings) -> bool:
    """Store one entry in its own transaction. A server that goes away in the middle of it
    does not always say so with an ``UNAVAILABLE`` error (a savepoint's rollback that fails
    leaves the session unusable, for one): any other error is tried once more, and counts
    as the database's absence if the database does not answer."""
    try:
        return _replay_committed(database, entry, settings)
    except UNAVAILABLE:
        raise
    except Exception:
        if not _answers(database):
            raise DatabaseGone from None
        log.warning("storing spooled %s failed once; trying again", entry.path.name)
    return _replay_committed(database, entry, settings)


def _replay_committed(database: Database, entry: spool.Entry, settings: Settings) -> bool:
    with database.session() as db:
        applied = _replay(db, entry, settings)
        # A connection lost inside a savepoint whose error was caught (attribution, the
        # outbox) leaves nothing to commit, and the commit does not say so: the entry
        # would be removed with nothing stored.
        if db.connection().invalidated:
            raise DatabaseGone
    return applied


def _answers(database: Database) -> bool:
    try:
        with database.reader() as db:
            db.execute(select(1))
    except Exception:
        return False
    return True


def _replay(db: Session, entry: spool.Entry, settings: Settings) -> bool:
    """Store one entry; False for a status whose call still waits in the spool."""
    data: dict[str, Any] = entry.data
    if entry.kind == spool.CALL:
        inbound = InboundCall(
            call_id=data["call_id"],
            to_number=data["to"],
            from_number=data["from"],
            line_type=data.get("line_type"),  # entries spooled before it was kept lack it
        )
        routed = record_call(
            db, data["provider"], inbound, entry.at, settings, forwarded_to=data.get("forward_to")
        )
        if routed is None:
            log.warning("spooled call %s: tracker %s is gone", inbound.call_id, inbound.to_number)
        elif routed.route is not None:
            # What the database says now beats what this process's table said.
            routing_table(settings).remember(routed.route)
    elif entry.kind == spool.STATUS:
        update = StatusUpdate(
            call_id=data["call_id"],
            status=CallStatus(data["status"]) if data["status"] is not None else None,
            duration=data["duration"],
            recording_url=data["recording_url"],
            recording_at=_moment(data.get("recording_at")),
            sequence=data["sequence"],
            dialed=data["dialed"],
        )
        if not apply_status(db, update, entry.at):
            return not _call_may_come(entry, settings)
    else:
        raise ValueError(f"unknown spool entry kind {entry.kind!r}")
    return True


def _call_may_come(status: spool.Entry, settings: Settings) -> bool:
    """Whether a status whose call is not stored should wait for it: while the call waits in
    this spool, or, for up to ``STATUS_WAITS_FOR_CALL``, in another's (behind a load balancer
    the status callback may reach a process other than the one the call reached, and be
    replayed first when the database comes back). After that the call is not coming."""
    if spool.has_pending_call(settings.call_spool_dir, status.data["call_id"]):
        return True
    if clock.now() - status.at < STATUS_WAITS_FOR_CALL:
        return True
    log.warning("status of call %s dropped: the call never arrived", status.data["call_id"])
    return False


# Simulated calls (sandbox)


def simulate_call(
    database: Database,
    settings: Settings,
    *,
    to_number: str,
    from_number: str,
    call_id: str,
    answered_seconds: int | None = 60,
    line_type: str | None = None,
) -> Forward | None:
    """A sandbox call placed in-process, through the same path as a webhook: routed, spooled,
    answered for ``answered_seconds`` (None: nobody answers), then stored and attributed."""
    inbound = InboundCall(
        call_id=call_id, to_number=to_number, from_number=from_number, line_type=line_type
    )
    routed = receive_call(database, settings, "sandbox", inbound)
    if routed is None:
        return None
    if answered_seconds is None:
        receive_status(settings, StatusUpdate(call_id, CallStatus.NO_ANSWER, dialed=True))
    else:
        receive_status(settings, StatusUpdate(call_id, CallStatus.IN_PROGRESS, dialed=True))
        receive_status(
            settings,
            StatusUpdate(call_id, CallStatus.COMPLETED, duration=answered_seconds, dialed=True),
        )
    replay_spool(database, settings)
    return routed


# Reading calls (REST API, dashboard)


def list_calls(
    database: Database, account_id: int, *, limit: int, cursor: str | None
) -> schemas.CallPage:
    with database.reader() as db:
        rows = repository.list_calls(db, account_id, limit=limit + 1, before=decode_cursor(cursor))
        calls = [call_out(row) for row in rows[:limit]]
    last = rows[limit - 1].call if len(rows) > limit else None
    return schemas.CallPage(calls=calls, next_cursor=encode_cursor(last) if last else None)


def get_call(database: Database, account_id: int, call_id: int) -> schemas.CallDetail:
    with database.reader() as db:
        return call_detail(db, repository.get_call(db, account_id, call_id))


def call_detail(db: Session, row: repository.CallRow) -> schemas.CallDetail:
    """The call with its journey and ranking: what the API and the outgoing webhooks show."""
    views = repository.pageviews(db, row.session.id) if row.session else []
    earlier = earlier_calls(db, row.call.account_id, row.call)
    return schemas.CallDetail(
        **call_out(row).model_dump(),
        journey=journey(row, views, earlier),
        ranking=ranking(db, row.call),
    )


def ranking(db: Session, call: Call) -> list[schemas.RankedVisit]:
    """The stored ranking of a shared number's visits, with what each visit was."""
    stored = [entry for entry in call.ranking or [] if isinstance(entry, dict)]
    visits = repository.sessions_by_id(db, [entry["session_id"] for entry in stored])
    out = []
    for rank, entry in enumerate(stored, start=1):
        visit = visits.get(entry["session_id"])
        out.append(
            schemas.RankedVisit(
                session_id=entry["session_id"],
                rank=rank,
                reasons=list(entry.get("reasons", [])),
                source=visit.source if visit else None,
                medium=visit.medium if visit else None,
                landing_page=visit.landing_url if visit else None,
                device=visit.device if visit else None,
                last_seen_at=visit.last_seen_at if visit else None,
            )
        )
    return out


def earlier_calls(db: Session, account_id: int, call: Call) -> list[Call]:
    """The same caller's earlier calls, newest first; none when the caller id is withheld,
    since it names nobody (the API and the dashboard both ask here)."""
    if is_withheld(call.from_number):
        return []
    return repository.previous_calls(db, account_id, call)


def call_out(row: repository.CallRow) -> schemas.CallOut:
    call, session, pool = row.call, row.session, row.pool
    return schemas.CallOut(
        id=call.id,
        provider=call.provider,
        provider_call_id=call.provider_call_id,
        started_at=call.started_at,
        ended_at=call.ended_at,
        status=call.status,
        duration=call.duration,
        recording_url=call.recording_url,
        from_number=call.from_number,
        tracker_number=call.to_number,
        forwarded_to=call.forwarded_to,
        caller_line_type=call.caller_line_type,
        tracker_id=call.tracker_id,
        pool=schemas.PoolRef(id=pool.id, name=pool.name, kind=pool.kind) if pool else None,
        attribution=schemas.AttributionOut(
            session_id=call.session_id,
            source=call.source,
            medium=call.medium,
            campaign=session.campaign if session else None,
            term=session.term if session else None,
            content=session.content if session else None,
            click_ids=schemas.ClickIds(
                **{name: getattr(session, name) for name in CLICK_IDS} if session else {}
            ),
            landing_page=session.landing_url if session else None,
            referrer=session.referrer if session else None,
            device=session.device if session else None,
            confidence=call.confidence,
            reason=call.attribution_reason,
            candidates=list(call.candidates or []),
            first_call_id=call.first_call_id,
        ),
    )


def journey(row: repository.CallRow, views: list[Pageview], earlier: list[Call]) -> schemas.Journey:
    session, call = row.session, row.call
    start = session.started_at if session else None
    return schemas.Journey(
        session_started_at=start,
        landing_page=session.landing_url if session else None,
        pageviews=[
            schemas.PageviewOut(
                url=view.url,
                title=view.title,
                at=view.at,
                seconds_from_start=_seconds(start, view.at) if start else 0,
            )
            for view in views
        ],
        seconds_to_call=_seconds(start, call.started_at) if start else None,
        previous_calls=[
            schemas.PreviousCall(
                id=other.id,
                started_at=other.started_at,
                status=other.status,
                duration=other.duration,
                source=other.source,
                medium=other.medium,
            )
            for other in earlier
        ],
    )


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))


def encode_cursor(call: Call) -> str:
    raw = f"{call.started_at.isoformat()}|{call.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        started_at, call_id = raw.split("|")
        when = datetime.fromisoformat(started_at)
        if when.tzinfo is None:
            raise ValueError("naive time")
        if not 1 <= int(call_id) <= MAX_ID:  # past the INTEGER column: no call has it
            raise ValueError("id out of range")
        return when, int(call_id)
    except ValueError:  # also bad base64 and bad UTF-8
        raise Invalid("cursor is not one this API returned", field="cursor") from None
