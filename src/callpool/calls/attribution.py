"""Which visit made the phone ring (DESIGN.md "Attribution").

Session pools: the leases of the tracker covering the call; if none, the leases that ended
within the attribution window with nobody given the number since. Several candidates (overflow
"reuse" shares one number) → the session with a ``tel:`` click just before the call, else the
one active most recently, with confidence lowered. Automated and manual pools: the source/medium
the tracker served at that moment. A repeat caller with no visit of their own keeps first touch.

Everything here only reads; the caller applies the result to the call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from callpool.models import (
    Call,
    Lease,
    Pool,
    SessionEvent,
    Tracker,
    TrackerAssignment,
    VisitSession,
)
from callpool.models.pool import SESSION

# A tel: click this long before the call (or a little after: the beacon and the carrier's
# webhook race) is evidence the clicking visitor is the caller.
TEL_CLICK_BEFORE = timedelta(minutes=10)
TEL_CLICK_AFTER = timedelta(minutes=1)

# Caller ids that say "withheld", not who called: never link calls by them. The numbers are
# how carriers spell ANONYMOUS, RESTRICTED, BLOCKED, UNKNOWN, UNAVAILABLE on a keypad.
WITHHELD = {
    "",
    "anonymous",
    "restricted",
    "unknown",
    "private",
    "unavailable",
    "+266696687",
    "+7378742833",
    "+2562533",
    "+8656696",
    "+86282452253",
}


def is_withheld(caller: str) -> bool:
    """Whether a caller id names nobody: the one rule for linking calls by their caller
    (repeat callers, earlier calls, first touch), on every page and in the API."""
    return caller.strip().lower() in WITHHELD


# Confidence, 0…1. One live lease is as good as it gets; a lease that just ended means the
# visitor may have called from the number they wrote down — very likely, a little less sure.
LIVE_LEASE = 1.0
ENDED_LEASE = 0.9
SHARED_WITH_TEL_CLICK = 0.75
SHARED_WITH_SEVERAL_TEL_CLICKS = 0.5  # the latest click wins, but who knows
SOURCE_ASSIGNMENT = 1.0
REPEAT_CALLER_FACTOR = 0.8


@dataclass(frozen=True)
class Attribution:
    reason: str
    session_id: str | None = None
    source: str | None = None
    medium: str | None = None
    confidence: float = 0.0
    candidates: list[str] = field(
        default_factory=list
    )  # the other likely sessions, likeliest first
    first_call_id: int | None = None


def attribute(
    db: Session, *, tracker: Tracker, pool: Pool, call: Call, window: timedelta
) -> Attribution:
    at = call.started_at
    if pool.kind == SESSION:
        found = attribute_to_session(db, tracker, at, window)
    else:
        found = attribute_to_source(db, tracker.id, at)
    first = first_call_of_caller(db, call)
    if first is None:
        return found
    if found.session_id is None and found.source is None and first.session_id is not None:
        # The caller came back without a visit (they kept the number): first touch stays.
        return Attribution(
            reason="repeat_caller_first_touch",
            session_id=first.session_id,
            source=first.source,
            medium=first.medium,
            confidence=round(first.confidence * REPEAT_CALLER_FACTOR, 3),
            first_call_id=first.id,
        )
    return Attribution(
        reason=found.reason,
        session_id=found.session_id,
        source=found.source,
        medium=found.medium,
        confidence=found.confidence,
        candidates=found.candidates,
        first_call_id=first.id,
    )


def attribute_to_session(
    db: Session, tracker: Tracker, at: datetime, window: timedelta
) -> Attribution:
    live = live_leases(db, tracker.id, at)
    if live:
        return choose(db, tracker, live, at, certainty=LIVE_LEASE, reason="lease")
    ended = recently_ended_leases(db, tracker.id, at, window)
    if ended:
        return choose(db, tracker, ended, at, certainty=ENDED_LEASE, reason="recent_lease")
    return Attribution(reason="no_lease")


def live_leases(db: Session, tracker_id: int, at: datetime) -> list[Lease]:
    return list(
        db.scalars(
            select(Lease).where(
                Lease.tracker_id == tracker_id, Lease.started_at <= at, Lease.leased_until > at
            )
        )
    )


def recently_ended_leases(
    db: Session, tracker_id: int, at: datetime, window: timedelta
) -> list[Lease]:
    """Leases that ended within the window while nobody has been given the number since.

    The last holders are the leases still running when the latest lease began (one holder, or
    several sharing the number under overflow "reuse"); an older lease that ended before
    someone else got the number is out, however recent.
    """
    last_start = db.scalar(
        select(Lease.started_at)
        .where(Lease.tracker_id == tracker_id, Lease.started_at <= at)
        .order_by(Lease.started_at.desc())
        .limit(1)
    )
    if last_start is None:
        return []
    return list(
        db.scalars(
            select(Lease).where(
                Lease.tracker_id == tracker_id,
                Lease.started_at <= at,
                Lease.leased_until <= at,
                Lease.leased_until >= at - window,
                or_(Lease.started_at == last_start, Lease.leased_until > last_start),
            )
        )
    )


def choose(
    db: Session,
    tracker: Tracker,
    leases: list[Lease],
    at: datetime,
    *,
    certainty: float,
    reason: str,
) -> Attribution:
    session_ids = list(dict.fromkeys(lease.session_id for lease in leases))
    sessions = {
        s.id: s for s in db.scalars(select(VisitSession).where(VisitSession.id.in_(session_ids)))
    }
    if len(sessions) == 1:
        (only,) = sessions.values()
        return _to(only, reason, certainty, [])
    clicked = sessions_with_tel_click(db, list(sessions), tracker.number, at)
    # Likeliest first: a tel: click on this number (the latest first), then the visitor active
    # last (measured in bench/evidence.py: 70 % right where a blind pick gets 42 %).
    ranked = [sessions[s] for s in clicked] + sorted(
        (s for s in sessions.values() if s.id not in clicked),
        key=lambda s: (min(s.last_seen_at, at), s.started_at),
        reverse=True,
    )
    winner = ranked[0]
    if clicked:
        confidence = certainty * (
            SHARED_WITH_TEL_CLICK if len(clicked) == 1 else SHARED_WITH_SEVERAL_TEL_CLICKS
        )
        why = "shared_lease_tel_click"
    else:
        confidence = certainty / len(sessions)
        why = "shared_lease_recent_activity"
    return _to(winner, why, confidence, [s.id for s in ranked[1:]])


def sessions_with_tel_click(
    db: Session, session_ids: list[str], number: str, at: datetime
) -> list[str]:
    """Sessions with a click on this tracker's ``tel:`` link around the call, latest first.

    A page can show several tracking numbers (one per pool): a click on another one is no
    evidence for this call.
    """
    rows = db.execute(
        select(SessionEvent.session_id, SessionEvent.detail)
        .where(
            SessionEvent.session_id.in_(session_ids),
            SessionEvent.kind == "tel_click",
            SessionEvent.at >= at - TEL_CLICK_BEFORE,
            SessionEvent.at <= at + TEL_CLICK_AFTER,
        )
        .order_by(SessionEvent.at.desc())
    ).all()
    return list(
        dict.fromkeys(
            session_id
            for session_id, detail in rows
            if (detail or {}).get("number") in (None, number)
        )
    )


def attribute_to_source(db: Session, tracker_id: int, at: datetime) -> Attribution:
    """Automated and manual pools: what the tracker stood for when the phone rang."""
    assignment = db.scalar(
        select(TrackerAssignment)
        .where(
            TrackerAssignment.tracker_id == tracker_id,
            TrackerAssignment.started_at <= at,
            or_(TrackerAssignment.ended_at.is_(None), TrackerAssignment.ended_at > at),
        )
        .order_by(TrackerAssignment.started_at.desc())
        .limit(1)
    )
    if assignment is None:
        return Attribution(reason="no_assignment")
    return Attribution(
        reason="source_assignment",
        source=assignment.source,
        medium=assignment.medium,
        confidence=SOURCE_ASSIGNMENT,
    )


def first_call_of_caller(db: Session, call: Call) -> Call | None:
    """The caller's first call to this account, if this is not it."""
    if is_withheld(call.from_number):
        return None
    return db.scalar(
        select(Call)
        .where(
            Call.account_id == call.account_id,
            Call.from_number == call.from_number,
            Call.id != call.id,
            or_(
                Call.started_at < call.started_at,
                and_(Call.started_at == call.started_at, Call.id < call.id),
            ),
        )
        .order_by(Call.started_at, Call.id)
        .limit(1)
    )


def _to(session: VisitSession, reason: str, confidence: float, others: list[str]) -> Attribution:
    return Attribution(
        reason=reason,
        session_id=session.id,
        source=session.source,
        medium=session.medium,
        confidence=round(confidence, 3),
        candidates=others,
    )
