"""The simulator against cases worked out by hand, through the real assignment and attribution.

Each case is a few planned visits and calls on a pool of one or two numbers; the expected
outcome follows from DESIGN.md's rules (a 30-minute lease after the last activity, a 2-minute
provisional lease until the first heartbeat, calls after a lease attributed to its holder for
24 hours while nobody else has had the number).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callpool.simulation.naive import simulate_naive
from callpool.simulation.run import PoolSetup, simulate
from callpool.simulation.score import AMBIGUOUS, CORRECT, UNATTRIBUTED, WRONG
from callpool.simulation.traffic import (
    DURING,
    LATER,
    SOON,
    START,
    Assumptions,
    PlannedCall,
    PlannedSession,
    Traffic,
    generate,
)
from callpool.visits.claim import FALLBACK, ORIGINAL, REUSE

NOON = START + timedelta(hours=12)


def session(visitor: int, at: datetime, *, minutes: float = 5) -> PlannedSession:
    """A visit of two pages, the second halfway, left after ``minutes``."""
    seconds = minutes * 60
    return PlannedSession(visitor, at, (0.0, seconds / 2), seconds, mobile=False)


def call(index: int, at: datetime, timing: str = DURING, tel_click: bool = False) -> PlannedCall:
    return PlannedCall(index, at, timing, tel_click)


def outcomes(traffic: Traffic, size: int, **setup: object) -> dict[str, int]:
    score = simulate(traffic, size, PoolSetup(**setup))  # type: ignore[arg-type]
    return {name: count for name, count in score.counts.items() if count}


def test_one_visitor_one_number_a_call_during_the_visit_is_correct() -> None:
    traffic = Traffic([session(0, NOON)], [call(0, NOON + timedelta(minutes=3))], 1)
    score = simulate(traffic, 1)
    assert score.counts[CORRECT] == 1
    assert (score.calls, score.accuracy, score.exhausted, score.peak_leases) == (1, 1.0, 0, 1)
    assert score.by_timing[DURING] == [1, 1]


def test_two_overlapping_visitors_on_one_number_share_it_and_the_call_is_ambiguous() -> None:
    traffic = Traffic(
        [session(0, NOON), session(1, NOON + timedelta(minutes=1))],
        [call(1, NOON + timedelta(minutes=4))],
        1,
    )
    score = simulate(traffic, 1)
    assert score.counts[AMBIGUOUS] == 1
    # The visitor active last is the likeliest: the caller's second page came at 12:03:30,
    # the other visitor's at 12:02:30.
    assert score.ambiguous_right == 1
    assert (score.exhausted, score.peak_leases) == (1, 2)
    # With two numbers nobody shares, and the call is certain.
    assert outcomes(traffic, 2) == {CORRECT: 1}


def test_a_tel_click_picks_the_caller_among_visitors_sharing_a_number() -> None:
    # The second visitor was active last (a page at 12:03:30); the first one tapped the
    # number just before calling.
    traffic = Traffic(
        [session(0, NOON), session(1, NOON + timedelta(minutes=1))],
        [call(0, NOON + timedelta(minutes=4), tel_click=True)],
        1,
    )
    score = simulate(traffic, 1)
    assert score.counts[AMBIGUOUS] == 1
    assert score.ambiguous_right == 1
    untapped = Traffic(traffic.sessions, [call(0, NOON + timedelta(minutes=4))], 1)
    assert simulate(untapped, 1).ambiguous_right == 0


def test_a_call_after_the_lease_goes_to_its_holder_until_someone_else_gets_the_number() -> None:
    first = session(0, NOON)  # leaves at 12:05, the lease ends at 12:35
    second = session(1, NOON + timedelta(hours=2))  # the number is free again: it is his
    traffic = Traffic(
        [first, second],
        [
            call(0, NOON + timedelta(minutes=50), SOON),  # lease ended, nobody since
            call(0, NOON + timedelta(hours=3), LATER),  # the second visitor has the number now
        ],
        1,
    )
    score = simulate(traffic, 1)
    assert score.counts[CORRECT] == 1
    assert score.counts[WRONG] == 1
    assert score.by_timing[SOON] == [1, 1]
    assert score.by_timing[LATER] == [1, 0]
    # Two numbers: the least recently used one goes to the second visitor, and the first
    # visitor's number stays theirs.
    assert outcomes(traffic, 2) == {CORRECT: 2}


def test_a_call_after_the_attribution_window_is_unattributed() -> None:
    traffic = Traffic([session(0, NOON)], [call(0, NOON + timedelta(hours=30), LATER)], 2)
    assert outcomes(traffic, 1) == {UNATTRIBUTED: 1}
    assert outcomes(traffic, 1, window_hours=48) == {CORRECT: 1}


@pytest.mark.parametrize(
    ("policy", "second_call"),
    [(REUSE, AMBIGUOUS), (FALLBACK, UNATTRIBUTED), (ORIGINAL, UNATTRIBUTED)],
)
def test_exhaustion_under_each_overflow_policy(policy: str, second_call: str) -> None:
    """One number, two overlapping visitors who both call: the first holds the number; the
    second shares it (reuse: both calls become ambiguous), or sees the fallback number or the
    business's own (neither is a tracker: the second call cannot be attributed)."""
    traffic = Traffic(
        [session(0, NOON), session(1, NOON + timedelta(minutes=1))],
        [call(0, NOON + timedelta(minutes=2)), call(1, NOON + timedelta(minutes=3))],
        1,
    )
    score = simulate(traffic, 1, PoolSetup(overflow_policy=policy))
    assert score.exhausted == 1
    expected = {CORRECT: 1, second_call: 1} if policy != REUSE else {AMBIGUOUS: 2}
    assert {name: count for name, count in score.counts.items() if count} == expected


def test_naive_allocator_on_the_hand_computed_cases() -> None:
    overlapping = Traffic(
        [session(0, NOON), session(1, NOON + timedelta(minutes=1))],
        [call(1, NOON + timedelta(minutes=3))],
        1,
    )
    naive = simulate_naive(overlapping, 1, PoolSetup(), seed=1)
    assert (naive.counts[AMBIGUOUS], naive.exhausted, naive.peak_leases) == (1, 1, 2)
    assert simulate_naive(overlapping, 2, PoolSetup(), seed=1).counts[CORRECT] == 1


def test_our_rules_beat_a_random_free_number_on_calls_after_the_visit() -> None:
    traffic = generate(Assumptions(daily_visitors=300, call_share=0.2), days=1, seed=7)
    ours = simulate(traffic, 12)
    naive = simulate_naive(traffic, 12, PoolSetup(), seed=7)
    assert ours.calls == naive.calls > 30
    assert ours.accuracy > naive.accuracy


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=10_000),
    size=st.integers(min_value=1, max_value=12),
    more=st.integers(min_value=1, max_value=6),
)
def test_accuracy_never_falls_when_the_pool_grows(seed: int, size: int, more: int) -> None:
    """Without returning visitors: with them it can fall (see the next test)."""
    model = Assumptions(daily_visitors=150, call_share=0.1, returning_share=0)
    traffic = generate(model, days=1, seed=seed)
    assert simulate(traffic, size + more).accuracy >= simulate(traffic, size).accuracy


@pytest.mark.xfail(
    strict=True,
    reason="DESIGN.md's 'the visitor's previous tracker if it is free' hands a returning "
    "visitor a number another visitor left minutes ago, whose call then goes to the wrong "
    "session; the least recently used number would have kept it. It is why accuracy can "
    "fall when a pool grows (seed 1 of 150 visitors a day: 95.2 % with 10 numbers, 90.5 % "
    "with 11); without that preference it never fell in 40 seeds x 15 sizes.",
)
def test_a_returning_visitor_does_not_take_a_number_someone_just_left() -> None:
    traffic = Traffic(
        [
            session(0, NOON - timedelta(hours=2)),  # number A (never leased, first)
            session(1, NOON - timedelta(hours=1)),  # number B (never leased)
            session(2, NOON),  # A again: free the longest; left at 12:05, lease to ~12:35
            session(0, NOON + timedelta(minutes=40)),  # returns; A is free, B freer
        ],
        [call(2, NOON + timedelta(minutes=45), SOON)],
        1,
    )
    assert outcomes(traffic, 2) == {CORRECT: 1}
