"""Which pool size to advise: the smallest that reaches a target accuracy."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from callpool.simulation.score import Score

DEFAULT_TARGET = 0.99  # issue 15: 99 % of calls on the right session, by default


def recommend(scores: Iterable[Score], target: float) -> int | None:
    """The smallest size among ``scores`` whose accuracy reaches ``target``; None if none does."""
    reaching = [score.size for score in scores if score.accuracy >= target]
    return min(reaching) if reaching else None


def smallest_size(
    accuracy_at: Callable[[int], float], target: float, low: int, high: int
) -> int | None:
    """The smallest size in [low, high] reaching ``target``, by bisection: accuracy does not
    fall as the pool grows under the same traffic (tested in tests/simulation). None when even
    ``high`` falls short. ``accuracy_at`` is called about log2(high - low) + 1 times."""
    if accuracy_at(high) < target:
        return None
    while low < high:
        middle = (low + high) // 2
        if accuracy_at(middle) >= target:
            high = middle
        else:
            low = middle + 1
    return low
