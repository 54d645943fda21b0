"""How many new sessions one client address may start: a token bucket per address (hashed).

A pool cannot be drained from one address: the numbers an address holds are capped where
they are leased (``callpool.visits.claim._own_number``), in the database, across
processes. This bounds the rest of what a flood of new sessions costs (rows, CPU) and is
checked before any of it is done. It lives in each process's memory: checking it must cost
nothing on the visit path, and with N processes an address gets at most N times the rate,
still a bound. An address over it is answered 429; the page keeps its own number.

The same memory tells the assignment engine whether an address is new to this process: the
first session of one is not counted against its limit of numbers (``visits.claim``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

MAX_ADDRESSES = 100_000  # the least recently seen are forgotten first: memory stays bounded


class NewSessionRate:
    """At most ``per_minute`` new sessions a minute per address, in bursts of as many."""

    def __init__(self, per_minute: int, max_addresses: int = MAX_ADDRESSES) -> None:
        self._per_second = per_minute / 60
        self._burst = float(per_minute)
        self._max_addresses = max_addresses
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()  # PostgreSQL's batches run in threads

    def allow(self, address: str) -> tuple[bool, bool]:
        """Whether ``address`` may start a session now (if so, it is counted), and whether it
        is a repeat: one this process has seen start a session before (and remembers)."""
        now = time.monotonic()
        with self._lock:
            seen = self._buckets.pop(address, None)
            tokens, at = (self._burst, now) if seen is None else seen
            tokens = min(self._burst, tokens + (now - at) * self._per_second)
            allowed = tokens >= 1
            self._buckets[address] = (tokens - 1 if allowed else tokens, now)
            if len(self._buckets) > self._max_addresses:
                self._buckets.popitem(last=False)
            return allowed, seen is not None


class Admission:
    """One request's question to a ``NewSessionRate``: asked once, however many times the
    request's unit of work runs (a group commit may run it again: ``visits.group_commit``)."""

    __slots__ = ("_answer", "_rate")

    def __init__(self, rate: NewSessionRate) -> None:
        self._rate = rate
        self._answer: tuple[bool, bool] | None = None

    def allow(self, address: str) -> tuple[bool, bool]:
        """``NewSessionRate.allow``'s answer for this request."""
        if self._answer is None:
            self._answer = self._rate.allow(address)
        return self._answer
