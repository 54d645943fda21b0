"""Which pool size to advise: the smallest that reaches a target accuracy."""

from __future__ import annotations

from collections.abc import Callable, Sequence

DEFAULT_TARGET = 0.99  # issue 15: 99 % of calls on the right session, by default
MAX_SIZE = 10_000  # the largest pool simulated
MIN_LARGEST = 40  # the curve goes at least this far, for the smallest sites


def sizes_to_try(current: int | None, daily_sessions: float) -> list[int]:
    """Pool sizes for an accuracy curve: 5, 10, 20 … doubling up to past the day's sessions
    (a call hours after the visit finds its number untouched only if the pool cycles slower
    than that), and the pool's own size."""
    sizes = {5}
    while max(sizes) < min(MAX_SIZE, max(MIN_LARGEST, daily_sessions)):
        sizes.add(max(sizes) * 2)
    if current:
        sizes.add(current)
    return sorted(size for size in sizes if size <= MAX_SIZE)


def smallest_size(
    accuracy_at: Callable[[int], float],
    target: float,
    sizes: Sequence[int],
    *,
    precision: float = 0.0,
) -> int | None:
    """The smallest pool size reaching ``target``: the first of ``sizes`` (ascending) that
    does, then bisection down to the size after the last one that does not. None when none of
    ``sizes`` does. ``precision`` stops the bisection once the bracket is that share of the
    size wide (each step is a whole simulation). Accuracy nearly always grows with size (see
    tests/simulation), so the answer is the smallest size from which it stays at the target.
    """
    reaching = next((size for size in sizes if accuracy_at(size) >= target), None)
    if reaching is None:
        return None
    high = reaching
    low = max((size for size in sizes if size < high), default=0) + 1
    while low < high and high - low >= precision * high:
        middle = (low + high) // 2
        if accuracy_at(middle) >= target:
            high = middle
        else:
            low = middle + 1
    return high
