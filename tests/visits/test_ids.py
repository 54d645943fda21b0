"""Visitor and session ids: unguessable, and in creation order (see ``service.new_id``)."""

from __future__ import annotations

import re

from callpool.clock import FrozenClock
from callpool.visits.service import new_id


def test_ids_are_22_url_safe_characters_and_never_repeat() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", id_) for id_ in ids)
    assert len(set(ids)) == len(ids)


def test_later_ids_sort_after_earlier_ones(clock: FrozenClock) -> None:
    ids = []
    for _ in range(5):
        ids.append(new_id())
        clock.advance(milliseconds=1)  # ids made within one millisecond are in random order
    assert ids == sorted(ids)


def test_ids_carry_the_clocks_time(clock: FrozenClock) -> None:
    """The first 8 characters are the millisecond (48 bits): the same clock, the same prefix."""
    made_now = new_id()
    assert new_id()[:8] == made_now[:8]
    clock.advance(days=365)
    assert new_id()[:8] > made_now[:8]
