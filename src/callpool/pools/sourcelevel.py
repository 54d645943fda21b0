"""Source-level DNI as the visit engine and the operator see it.

The visit engine's side (which number a session of this source/medium sees in an automated
or manual pool) is ``callpool.visits.trackers.offer_for_source``, on the visit path's own
statements. ``diagnose`` answers the operator: why is my pool not activating the right number
of trackers.
"""

from __future__ import annotations

import math

from sqlalchemy.orm import Session

from callpool import clock
from callpool.models import Pool, Tracker
from callpool.models.pool import AUTOMATED
from callpool.models.tracker import ACTIVE, AVAILABLE, FLAGGED
from callpool.pools import repository
from callpool.pools.rebalance import ranked_sources, top_list_length
from callpool.pools.schemas import Diagnostics, SourceDiagnosis, TrackerCounts

EXTRA_SOURCES_SHOWN = 10  # beyond the top list, enough to see who is next in line


def diagnose(db: Session, pool: Pool) -> Diagnostics:
    now = clock.now()
    trackers = repository.live_trackers(db, pool)
    counts = TrackerCounts(
        available=sum(t.status == AVAILABLE for t in trackers),
        active=sum(t.status == ACTIVE for t in trackers),
        flagged=sum(t.status == FLAGGED for t in trackers),
    )
    length = top_list_length(pool) if pool.kind == AUTOMATED else 0
    ranked = ranked_sources(db, pool, now)[: length + EXTRA_SOURCES_SHOWN]
    # An active tracker is the one shown; list it over a flagged one of the same source/medium.
    serving = {
        (t.source, t.medium): t
        for t in sorted(trackers, key=lambda t: t.status == ACTIVE)
        if t.status in (ACTIVE, FLAGGED)
    }
    sources = []
    eligible_rank = 0
    for rank, ((source, medium), visits) in enumerate(ranked, start=1):
        eligible = visits >= pool.visit_threshold
        eligible_rank += eligible
        in_top = pool.kind == AUTOMATED and eligible and eligible_rank <= length
        tracker = serving.get((source, medium))
        sources.append(
            SourceDiagnosis(
                source=source,
                medium=medium,
                visits=visits,
                rank=rank,
                in_top_list=in_top,
                tracker_id=tracker.id if tracker else None,
                tracker_number=tracker.number if tracker else None,
                reason=_reason(pool, tracker, visits, eligible, in_top, length),
            )
        )
    return Diagnostics(
        pool_id=pool.id,
        kind=pool.kind,
        size=pool.size,
        utilization=pool.utilization,
        top_list_length=length,
        visit_threshold=pool.visit_threshold,
        window_days=pool.window_days,
        trackers=counts,
        summary=_summary(pool, length, sources, counts),
        sources=sources,
    )


def _reason(
    pool: Pool, tracker: Tracker | None, visits: int, eligible: bool, in_top: bool, length: int
) -> str:
    if tracker is not None and tracker.status == ACTIVE:
        return f"active tracker {tracker.number}"
    if tracker is not None:
        return f"flagged tracker {tracker.number}: it keeps routing calls until its timeline ends"
    if pool.kind != AUTOMATED:
        return "manual pool: an operator activates trackers"
    if not eligible:
        return (
            f"under the visit threshold: {_count(visits, 'visit')} in {pool.window_days} days, "
            f"{pool.visit_threshold} needed{_pace(pool, visits)}"
        )
    if not in_top:
        return f"outside the top list of {_count(length, 'source/medium')}"
    return "no available tracker: the pool's trackers all serve other source/mediums"


def _count(number: int, word: str) -> str:
    return f"{number} {word}" if number == 1 else f"{number} {word}s"


def _pace(pool: Pool, visits: int) -> str:
    """When a source reaches the threshold at its pace over the window, in words."""
    if visits <= 0:
        return ""
    days = math.ceil((pool.visit_threshold - visits) / (visits / pool.window_days))
    return f"; at this pace it gets a number in about {_count(max(days, 1), 'day')}"


def _summary(pool: Pool, length: int, sources: list[SourceDiagnosis], counts: TrackerCounts) -> str:
    if pool.kind != AUTOMATED:
        return f"{pool.kind} pool: trackers are not activated by traffic"
    tracked = sum(s.in_top_list and s.tracker_id is not None for s in sources)
    text = (
        f"The {_count(length, 'busiest source/medium')} each get a number of their own "
        f"({pool.size} numbers × utilization {pool.utilization:g}, at least {pool.min_sources}), "
        f"once a source has {pool.visit_threshold} visits in {pool.window_days} days; "
        f"{tracked} {'has' if tracked == 1 else 'have'} one now"
    )
    eligible = sum(s.visits >= pool.visit_threshold for s in sources)
    if eligible < length:
        text += f"; only {eligible} reach {pool.visit_threshold} visits"
    if eligible == 0:
        busiest = max(sources, key=lambda s: s.visits, default=None)
        text += (
            ", so the pool assigns no number yet"
            if busiest is None
            else f", so the pool assigns no number yet: the busiest, {busiest.source} / "
            f"{busiest.medium}, has {_count(busiest.visits, 'visit')}"
            f"{_pace(pool, busiest.visits)}"
        )
    if any(s.in_top_list and s.tracker_id is None for s in sources):
        text += f"; not enough available trackers ({counts.available} available)"
    return text
