"""The same traffic through a naive allocator, to show what our rules gain beside it.

Naive, as CallScaler documents its pools: "the API ensures only available (non-assigned)
numbers are distributed": a visit gets a random free number; a returning visitor gets whatever
is drawn ("if the same visitor returns the next day, they may get a different number"). When
no number is free it shares a random one. A lease lasts from the visit to 30 minutes after the
last activity, with no provisional start. Calls are attributed by the same rule as ours (the
leases covering the call, else the last holders whose lease ended within the window, with no
one given the number since; several → ambiguous), so the difference shown is the choice of
number alone.

This is a model in memory, not our code: nothing here runs the product.
"""

from __future__ import annotations

import bisect
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from callpool.simulation.run import PoolSetup
from callpool.simulation.score import Score, outcome
from callpool.simulation.traffic import Traffic, last_activity


@dataclass(frozen=True, slots=True)
class _Lease:
    session: int
    start: datetime
    end: datetime


class _Number:
    """One number's leases, in the order they started."""

    def __init__(self) -> None:
        self.leases: list[_Lease] = []
        self.starts: list[datetime] = []
        self.busy_until = datetime.min.replace(tzinfo=UTC)

    def lease(self, session: int, start: datetime, end: datetime) -> None:
        self.leases.append(_Lease(session, start, end))
        self.starts.append(start)
        self.busy_until = max(self.busy_until, end)

    def candidates(self, at: datetime, window: timedelta, longest: timedelta) -> list[int]:
        """Candidate sessions for a call at ``at``, the likeliest (latest start) first: the
        leases covering it, else the last holders that ended within the window."""
        first = bisect.bisect_left(self.starts, at - window - longest)
        last = bisect.bisect_right(self.starts, at)
        held = self.leases[first:last]
        live = [lease.session for lease in reversed(held) if lease.end > at]
        if live or not held:
            return list(dict.fromkeys(live))
        last_start = held[-1].start
        return list(
            dict.fromkeys(
                lease.session
                for lease in reversed(held)
                if at - window <= lease.end
                and (lease.start == last_start or lease.end > last_start)
            )
        )


def simulate_naive(traffic: Traffic, size: int, setup: PoolSetup, seed: int) -> Score:
    """Score ``traffic`` on a naive pool of ``size`` numbers (``seed`` draws the numbers)."""
    started = time.perf_counter()
    rng = random.Random(seed)
    score = Score(size=size, allocator="naive")
    numbers = [_Number() for _ in range(size)]
    number_of: dict[int, _Number] = {}
    latest: dict[int, int] = {}  # visitor → their latest session: the caller (see ``run``)
    ends: dict[int, datetime] = {}  # session → when its lease ends
    lease = timedelta(minutes=setup.lease_minutes)
    window = timedelta(hours=setup.window_hours)
    longest = timedelta(0)
    for at, is_call, index in _events(traffic):
        if is_call:
            call = traffic.calls[index]
            caller = latest[traffic.sessions[call.session].visitor]
            found = number_of[caller].candidates(at, window, longest)
            winner = found[0] if found else None
            result = outcome(
                str(caller),
                None if winner is None else str(winner),
                [str(other) for other in found[1:]],
            )
            score.add(call.timing, result, winner == caller, len(found))
            continue
        visitor = traffic.sessions[index].visitor
        active = timedelta(seconds=last_activity(traffic.sessions[index], setup.heartbeat_seconds))
        resumed = latest.get(visitor)
        if resumed is not None and ends[resumed] > at:
            # The visitor's session is live: resumed, on its number, as ours resumes it.
            chosen, index = number_of[resumed], resumed
        else:
            free = [number for number in numbers if number.busy_until <= at]
            if not free:
                score.exhausted += 1
            chosen = rng.choice(free or numbers)
        chosen.lease(index, at, at + active + lease)
        ends[index] = max(ends.get(index, at), at + active + lease)
        longest = max(longest, active + lease)
        number_of[index] = chosen
        latest[visitor] = index
    score.peak_leases = _peak(numbers)
    score.seconds = time.perf_counter() - started
    return score


def _events(traffic: Traffic) -> list[tuple[datetime, bool, int]]:
    """Visits and calls in time order (a visit before a call at the same instant)."""
    events = [(s.start, False, i) for i, s in enumerate(traffic.sessions)]
    events += [(c.at, True, i) for i, c in enumerate(traffic.calls)]
    events.sort()
    return events


def _peak(numbers: list[_Number]) -> int:
    """Most leases live at one moment."""
    moments = sorted(
        (moment, step)
        for number in numbers
        for lease in number.leases
        for moment, step in ((lease.start, 1), (lease.end, -1))
    )
    peak = live = 0
    for _, step in moments:  # an end sorts before a start at the same instant
        live += step
        peak = max(peak, live)
    return peak
