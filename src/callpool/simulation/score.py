"""How one pool size did: every call put in one of four outcomes, and the pool's strain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callpool.simulation.traffic import TIMINGS

CORRECT, AMBIGUOUS, WRONG, UNATTRIBUTED = "correct", "ambiguous", "wrong", "unattributed"
OUTCOMES = (CORRECT, AMBIGUOUS, WRONG, UNATTRIBUTED)


def outcome(truth: str, session: str | None, candidates: list[str]) -> str:
    """``correct``: attributed to the session that made the call, and to no other candidate.
    ``ambiguous``: attributed with other candidates (the user sees a doubt, whichever won).
    ``wrong``: attributed, without doubt, to another session. ``unattributed``: to none."""
    if session is None:
        return UNATTRIBUTED
    if candidates:
        return AMBIGUOUS
    return CORRECT if session == truth else WRONG


@dataclass(slots=True)
class Score:
    size: int
    allocator: str  # "callpool" (our rules, the real code) or "naive"
    calls: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    # Ambiguous calls whose most likely candidate was the right session, and how many a blind
    # pick among the candidates would get right (the sum of 1 / candidates): the evidence's gain.
    ambiguous_right: int = 0
    ambiguous_chance: float = 0.0
    # Per timing (during the visit, soon after, hours later): [calls, correct].
    by_timing: dict[str, list[int]] = field(
        default_factory=lambda: {timing: [0, 0] for timing in TIMINGS}
    )
    exhausted: int = 0  # times a visit found no free number (the pool's overflow policy ran)
    peak_leases: int = 0  # most numbers leased at once
    seconds: float = 0.0  # wall time of the run

    def add(self, timing: str, result: str, winner_right: bool, candidates: int = 1) -> None:
        """One call's ``result``; ``candidates``: how many sessions it was attributed among."""
        self.calls += 1
        self.counts[result] += 1
        self.by_timing[timing][0] += 1
        if result == CORRECT:
            self.by_timing[timing][1] += 1
        elif result == AMBIGUOUS:
            self.ambiguous_right += winner_right
            self.ambiguous_chance += 1 / candidates

    @property
    def accuracy(self) -> float:
        """Share of calls attributed to the right session with no doubt (1.0 without calls)."""
        return self.counts[CORRECT] / self.calls if self.calls else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "allocator": self.allocator,
            "calls": self.calls,
            **self.counts,
            "ambiguous_right": self.ambiguous_right,
            "ambiguous_chance": round(self.ambiguous_chance, 1),
            "accuracy": round(self.accuracy, 4),
            "by_timing": {t: {"calls": c, "correct": ok} for t, (c, ok) in self.by_timing.items()},
            "exhausted": self.exhausted,
            "peak_leases": self.peak_leases,
            "seconds": round(self.seconds, 2),
        }
