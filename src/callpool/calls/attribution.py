"""Which visit made the phone ring (DESIGN.md "Attribution").

Session pools: the leases of the tracker covering the call; if none, the leases that ended
within the attribution window with nobody given the number since. Several candidates (overflow
"reuse" shares one number) are ranked by the evidence for each (``EVIDENCE``: a ``tel:`` click
on the number just before the call, the caller seen before as that visitor, the caller's line
type against the visit's device, the latest activity); the first is attributed with confidence
lowered, and the ranking is kept with each candidate's reasons. Automated and manual pools: the
source/medium the tracker served at that moment. A repeat caller with no visit of their own
keeps first touch.

Everything here only reads; the caller applies the result to the call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

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
from callpool.settings import ATTRIBUTION_EVIDENCE
from callpool.telephony.base import LANDLINE, VOIP

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
SHARED_WITH_CALLER_SEEN_BEFORE = 0.75
# A fixed-line caller makes a visit on a phone unlikely, not impossible (a desk phone within
# reach of someone browsing on their mobile): the rest keep some doubt however few they are.
SHARED_BY_LINE_TYPE = 0.6
SOURCE_ASSIGNMENT = 1.0
REPEAT_CALLER_FACTOR = 0.8

# The evidence that ranks the candidates of a shared number, each a reason a user can read.
# ``EVIDENCE`` is the default order of trust (``CALLPOOL_ATTRIBUTION_EVIDENCE``): a signal
# decides only between candidates the ones before it leave equal. Measured one by one in
# ``bench/evidence.py`` (docs/benchmarks.md, "Evidence where numbers are shared").
TEL_CLICK, CALLER_SEEN_BEFORE, LINE_TYPE, LATEST_ACTIVITY = EVIDENCE = ATTRIBUTION_EVIDENCE
# tel_click: tapped this number's tel: link just before the call; caller_seen_before: the
# caller's earlier call was this visitor's; line_type: the visit's device fits the caller's
# fixed line; latest_activity: the visit active nearest the call (the tie-breaker).
LINE_TYPE_MISMATCH = "line_type_mismatch"  # against: a visit on a phone, a fixed-line caller
FIXED_LINES = (LANDLINE, VOIP)
PHONE = "mobile"  # VisitSession.device of a visit on a phone (the visits domain names it)
# The call's reason when a signal decided between shared-number candidates.
SHARED_REASONS = {
    TEL_CLICK: "tel_click",
    CALLER_SEEN_BEFORE: "caller_seen_before",
    LINE_TYPE: "line_type",
    LATEST_ACTIVITY: "recent_activity",
}


@dataclass(frozen=True)
class Ranked:
    """One candidate of a shared number with the reasons it ranks where it does."""

    session_id: str
    reasons: list[str]

    def stored(self) -> dict[str, Any]:
        """As ``calls.ranking`` keeps it."""
        return {"session_id": self.session_id, "reasons": list(self.reasons)}


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
    # Every candidate of a shared number with its reasons, winner first (empty with one).
    ranking: list[Ranked] = field(default_factory=list)


def attribute(
    db: Session,
    *,
    tracker: Tracker,
    pool: Pool,
    call: Call,
    window: timedelta,
    evidence: tuple[str, ...] = EVIDENCE,
) -> Attribution:
    at = call.started_at
    if pool.kind == SESSION:
        facts = CallFacts(
            at=at,
            account_id=call.account_id,
            call_id=call.id,
            caller=call.from_number,
            line_type=call.caller_line_type,
            evidence=evidence,
        )
        found = attribute_to_session(db, tracker, facts, window)
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
        ranking=found.ranking,
    )


def attribute_to_session(
    db: Session, tracker: Tracker, call: CallFacts, window: timedelta
) -> Attribution:
    at = call.at
    live = live_leases(db, tracker.id, at)
    if live:
        return choose(db, tracker, live, call, certainty=LIVE_LEASE, reason="lease")
    ended = recently_ended_leases(db, tracker.id, at, window)
    if ended:
        return choose(db, tracker, ended, call, certainty=ENDED_LEASE, reason="recent_lease")
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
    call: CallFacts,
    *,
    certainty: float,
    reason: str,
) -> Attribution:
    session_ids = list(dict.fromkeys(lease.session_id for lease in leases))
    sessions = list(db.scalars(select(VisitSession).where(VisitSession.id.in_(session_ids))))
    if len(sessions) == 1:
        return _to(sessions[0], reason, certainty, [])
    found = gather(db, tracker, sessions, call)
    ranked = sorted(sessions, key=found.key, reverse=True)
    winner, runner_up = ranked[0], ranked[1]
    decided_by = found.decided_by(winner, runner_up)
    confidence = certainty * found.share(decided_by, sessions)
    return _to(
        winner,
        f"shared_lease_{SHARED_REASONS[decided_by or LATEST_ACTIVITY]}",
        confidence,
        [s.id for s in ranked[1:]],
        [Ranked(s.id, found.reasons(s)) for s in ranked],
    )


@dataclass(frozen=True)
class CallFacts:
    """What the call itself tells about its caller."""

    at: datetime
    account_id: int | None = None
    call_id: int | None = None
    caller: str = ""
    line_type: str | None = None  # mobile | landline | voip, where the carrier says
    evidence: tuple[str, ...] = EVIDENCE


@dataclass(frozen=True)
class Found:
    """The evidence for each candidate session of a shared number."""

    call: CallFacts
    clicks: dict[str, int]  # session id → rank of its latest tel: click (0 = the latest)
    seen_visitors: frozenset[str]  # visitors of the caller's earlier calls
    latest: datetime  # the latest activity of any candidate (up to the call)

    def key(self, session: VisitSession) -> tuple[Any, ...]:
        """Larger is likelier: one part per signal, in the order the settings trust them;
        then the latest start, then the id, so that equal evidence still ranks the same way
        every time."""
        parts: list[Any] = []
        for signal in self.call.evidence:
            if signal == TEL_CLICK:
                clicked = session.id in self.clicks
                parts.append((clicked, -self.clicks.get(session.id, 0)))
            elif signal == CALLER_SEEN_BEFORE:
                parts.append(session.visitor_id in self.seen_visitors)
            elif signal == LINE_TYPE:
                parts.append(not self._mismatch(session))
            elif signal == LATEST_ACTIVITY:
                parts.append(_activity(session, self.call.at))
        return (*parts, session.started_at, session.id)

    def decided_by(self, winner: VisitSession, runner_up: VisitSession) -> str | None:
        """The first signal that puts the winner ahead of the runner-up (None: a tie that
        only the start times broke)."""
        first, second = self.key(winner), self.key(runner_up)
        for index, signal in enumerate(self.call.evidence):
            if first[index] != second[index]:
                return signal
        return None

    def share(self, decided_by: str | None, candidates: list[VisitSession]) -> float:
        """How much of a lease's certainty the winner keeps. A tel: click or a caller seen
        before names one session; activity alone, or a line type that only rules some out,
        leaves a blind pick among those still in."""
        if decided_by == TEL_CLICK:
            return (
                SHARED_WITH_TEL_CLICK if len(self.clicks) == 1 else SHARED_WITH_SEVERAL_TEL_CLICKS
            )
        if decided_by == CALLER_SEEN_BEFORE:
            return SHARED_WITH_CALLER_SEEN_BEFORE
        if decided_by == LINE_TYPE:
            fitting = sum(1 for s in candidates if not self._mismatch(s))
            return min(SHARED_BY_LINE_TYPE, 1 / fitting)
        return 1 / len(candidates)

    def reasons(self, session: VisitSession) -> list[str]:
        """What speaks for (or, ``line_type_mismatch``, against) a candidate, in words the
        call page and the API show."""
        reasons = []
        for signal in self.call.evidence:
            if signal == TEL_CLICK and session.id in self.clicks:
                reasons.append(TEL_CLICK)
            elif signal == CALLER_SEEN_BEFORE and session.visitor_id in self.seen_visitors:
                reasons.append(CALLER_SEEN_BEFORE)
            elif signal == LINE_TYPE and self.call.line_type in FIXED_LINES and session.device:
                # A visit whose device is unknown has nothing to say for or against it.
                reasons.append(LINE_TYPE_MISMATCH if self._mismatch(session) else LINE_TYPE)
            elif signal == LATEST_ACTIVITY and _activity(session, self.call.at) == self.latest:
                reasons.append(LATEST_ACTIVITY)
        return reasons

    def _mismatch(self, session: VisitSession) -> bool:
        # Someone calling from a landline or a desk's VoIP phone is unlikely to be the visit
        # on a phone: that visitor would tap or dial on the phone in their hand. A mobile
        # caller fits any device (they read the number off a computer screen).
        return self.call.line_type in FIXED_LINES and session.device == PHONE


def gather(db: Session, tracker: Tracker, sessions: list[VisitSession], call: CallFacts) -> Found:
    """Read the evidence the settings trust (nothing for a signal they leave out)."""
    ids = [s.id for s in sessions]
    clicks: list[str] = []
    if TEL_CLICK in call.evidence:
        previous = previous_call_to(db, tracker, call)
        clicks = sessions_with_tel_click(db, ids, tracker.number, call.at, previous)
    seen: frozenset[str] = frozenset()
    if CALLER_SEEN_BEFORE in call.evidence:
        seen = visitors_of_earlier_calls(db, call)
    latest = max(_activity(s, call.at) for s in sessions)
    return Found(call, {sid: rank for rank, sid in enumerate(clicks)}, seen, latest)


def previous_call_to(db: Session, tracker: Tracker, call: CallFacts) -> datetime | None:
    """When the tracker last rang before this call, within the reach of a tel: click."""
    earlier = select(Call.started_at).where(
        Call.tracker_id == tracker.id,
        Call.started_at >= call.at - TEL_CLICK_BEFORE - TEL_CLICK_AFTER,
        Call.started_at <= call.at,
    )
    if call.call_id is not None:
        earlier = earlier.where(
            Call.id != call.call_id, or_(Call.started_at < call.at, Call.id < call.call_id)
        )
    return db.scalar(earlier.order_by(Call.started_at.desc()).limit(1))


def visitors_of_earlier_calls(db: Session, call: CallFacts) -> frozenset[str]:
    """The visitors the caller's earlier calls were attributed to (DESIGN: a repeat caller is
    the same visitor). None for a withheld caller id, which names nobody."""
    if call.account_id is None or is_withheld(call.caller):
        return frozenset()
    earlier = (
        select(VisitSession.visitor_id)
        .join(Call, Call.session_id == VisitSession.id)
        .where(
            Call.account_id == call.account_id,
            Call.from_number == call.caller,
            Call.started_at <= call.at,
        )
    )
    if call.call_id is not None:
        earlier = earlier.where(Call.id != call.call_id)
    return frozenset(db.scalars(earlier.distinct()))


def _activity(session: VisitSession, at: datetime) -> datetime:
    """The session's latest activity up to the call (a later one does not bring it nearer)."""
    return min(session.last_seen_at, at)


def sessions_with_tel_click(
    db: Session,
    session_ids: list[str],
    number: str,
    at: datetime,
    previous_call: datetime | None = None,
) -> list[str]:
    """Sessions with a click on this tracker's ``tel:`` link around the call, latest first.

    A page can show several tracking numbers (one per pool): a click on another one is no
    evidence for this call. Nor is a click that placed an earlier call to the number
    (``previous_call``, the latest before this one): a tap dials once, and without this rule
    a visitor who tapped and called would also be credited with the next caller of the
    number within minutes (measured in bench/evidence.py: it cost 1 % of shared calls).
    """
    since = at - TEL_CLICK_BEFORE
    if previous_call is not None:
        since = max(since, previous_call + TEL_CLICK_AFTER)
    rows = db.execute(
        select(SessionEvent.session_id, SessionEvent.detail)
        .where(
            SessionEvent.session_id.in_(session_ids),
            SessionEvent.kind == "tel_click",
            SessionEvent.at >= since,
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


def _to(
    session: VisitSession,
    reason: str,
    confidence: float,
    others: list[str],
    ranking: list[Ranked] | None = None,
) -> Attribution:
    return Attribution(
        reason=reason,
        session_id=session.id,
        source=session.source,
        medium=session.medium,
        confidence=round(confidence, 3),
        candidates=others,
        ranking=ranking or [],
    )
