"""Visitor and session ids: unguessable, and in creation order (see ``service.new_id``)."""

from __future__ import annotations

import re
import time

from callpool.visits.service import new_id


def test_ids_are_22_url_safe_characters_and_never_repeat() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", id_) for id_ in ids)
    assert len(set(ids)) == len(ids)


def test_later_ids_sort_after_earlier_ones() -> None:
    ids = []
    for _ in range(5):
        ids.append(new_id())
        time.sleep(0.002)  # ids made within one millisecond are in random order
    assert ids == sorted(ids)
