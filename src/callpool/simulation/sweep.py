"""One traffic through several pool sizes, ours and the naive allocator side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callpool.settings import ATTRIBUTION_EVIDENCE
from callpool.simulation.advice import smallest_size
from callpool.simulation.naive import simulate_naive
from callpool.simulation.run import PoolSetup, simulate
from callpool.simulation.score import OUTCOMES, Score
from callpool.simulation.traffic import Traffic


@dataclass(frozen=True, slots=True)
class Sweep:
    ours: list[Score]
    naive: list[Score]
    target: float
    # The smallest size reaching the target: searched between the sizes tried (bisection
    # past the first that reaches it); None when none of them does.
    recommended: int | None
    sessions: int
    calls: int
    days: float

    def as_dict(self) -> dict[str, Any]:
        """What ``callpool simulate --json`` prints."""
        return {
            "sessions": self.sessions,
            "days": self.days,
            "target": self.target,
            "recommended_size": self.recommended,
            "sizes": [
                {**ours.as_dict(), "naive": naive.as_dict()}
                for ours, naive in zip(self.ours, self.naive, strict=True)
            ],
        }


def sweep(
    traffic: Traffic,
    sizes: list[int],
    setup: PoolSetup,
    *,
    seed: int,
    target: float,
    evidence: tuple[str, ...] = ATTRIBUTION_EVIDENCE,
) -> Sweep:
    """``sizes`` (ascending) with our rules and the naive allocator, and the size to advise;
    ``evidence`` ranks the visits sharing a number (``CALLPOOL_ATTRIBUTION_EVIDENCE``)."""
    ours: dict[int, Score] = {}

    def accuracy_at(size: int) -> float:
        if size not in ours:
            ours[size] = simulate(traffic, size, setup, evidence=evidence)
        return ours[size].accuracy

    for size in sizes:
        accuracy_at(size)
    recommended = smallest_size(accuracy_at, target, sizes)
    naive = [simulate_naive(traffic, size, setup, seed) for size in sizes]
    return Sweep(
        [ours[size] for size in sizes],
        naive,
        target,
        recommended,
        len(traffic.sessions),
        len(traffic.calls),
        traffic.days,
    )


HEADER = (
    "size",
    "calls",
    *OUTCOMES,
    "accuracy",
    "naive",
    "exhausted",
    "peak leases",
)


def table(result: Sweep) -> str:
    """The sweep as an aligned text table, with the recommendation under it."""
    rows: list[tuple[str, ...]] = [HEADER]
    for ours, naive in zip(result.ours, result.naive, strict=True):
        rows.append(
            (
                str(ours.size),
                str(ours.calls),
                *(str(ours.counts[name]) for name in OUTCOMES),
                percent(ours.accuracy),
                percent(naive.accuracy),
                str(ours.exhausted),
                str(ours.peak_leases),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.append("")
    lines.append(recommendation(result))
    return "\n".join(lines)


def recommendation(result: Sweep) -> str:
    target = percent(result.target)
    if result.recommended is not None:
        return f"recommended size: {result.recommended} (the smallest reaching {target})"
    best = max(result.ours, key=lambda score: score.accuracy, default=None)
    reached = f"; the best, {best.size}, reaches {percent(best.accuracy)}" if best else ""
    return f"no size tried reaches {target}{reached}"


def percent(share: float) -> str:
    return f"{share * 100:.1f} %"
