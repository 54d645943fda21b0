"""Tracker ↔ source/medium assignment history: how a source-level call is attributed.

An assignment is open from the moment a tracker starts serving a source/medium until it goes
back to available or is released; a flagged tracker keeps its open assignment because it still
routes and attributes calls. Attribution reads it in one place
(``calls.attribution.attribute_to_source``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from callpool.models import Tracker, TrackerAssignment
from callpool.pools import repository


def open_assignment(db: Session, tracker: Tracker, at: datetime) -> None:
    """Record that ``tracker`` serves its current source/medium from ``at`` on."""
    assert tracker.source is not None
    assert tracker.medium is not None
    assert tracker.original_number is not None
    close_assignment(db, tracker, at)
    db.add(
        TrackerAssignment(
            tracker_id=tracker.id,
            source=tracker.source,
            medium=tracker.medium,
            original_number=tracker.original_number,
            started_at=at,
        )
    )
    db.flush()


def close_assignment(db: Session, tracker: Tracker, at: datetime) -> None:
    current = repository.open_assignment(db, tracker.id)
    if current is not None:
        current.ended_at = at
