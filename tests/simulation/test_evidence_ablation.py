"""The simulator measures each signal's gain by running the product with a chosen evidence
setting: cases worked out by hand where only one signal picks the visitor who called.

One number (overflow "reuse": a second visitor shares it), a 30-minute lease, heartbeats every
5 minutes (``heartbeat_seconds(30)``): a visit's last activity is its latest pageview or
heartbeat before the call.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from callpool.simulation.run import simulate
from callpool.simulation.score import AMBIGUOUS, CORRECT
from callpool.simulation.traffic import DURING, START, PlannedCall, PlannedSession, Traffic

NOON = START + timedelta(hours=12)
LATEST = "latest_activity"
ALL = ("tel_click", "caller_seen_before", "line_type", LATEST)


def visit(visitor: int, at: datetime, *, minutes: float, phone: bool = False) -> PlannedSession:
    """Two pages, the second halfway; left after ``minutes``."""
    seconds = minutes * 60
    return PlannedSession(visitor, at, (0.0, seconds / 2), seconds, mobile=phone)


def shared_call_right(traffic: Traffic, evidence: tuple[str, ...]) -> int:
    """How many shared-number calls the top pick got right, with that evidence setting."""
    score = simulate(traffic, 1, evidence=evidence)
    assert score.counts[AMBIGUOUS] == 1
    return score.ambiguous_right


# Visitor 0 calls at noon (their visit alone has the number), comes back three hours later and
# calls again while visitor 1, who arrived after them, shares the number. At the second call
# visitor 0 was last active 9 - 5 = 4 minutes before (their first heartbeat), visitor 1 a
# minute before (arrival): the latest activity points at visitor 1. Only the caller seen
# before (the noon call was visitor 0's) names visitor 0.
BACK = NOON + timedelta(hours=3)
RETURNING = Traffic(
    sessions=[
        visit(0, NOON, minutes=5),
        visit(0, BACK, minutes=20),
        visit(1, BACK + timedelta(minutes=8), minutes=20),
    ],
    calls=[
        PlannedCall(0, NOON + timedelta(minutes=3), DURING, tel_click=False),
        PlannedCall(1, BACK + timedelta(minutes=9), DURING, tel_click=False),
    ],
    days=1,
)


@pytest.mark.parametrize(
    ("evidence", "right"),
    [
        ((LATEST,), 0),
        (("tel_click", LATEST), 0),
        (("line_type", LATEST), 0),
        (("caller_seen_before", LATEST), 1),
        (ALL, 1),
    ],
)
def test_only_the_caller_seen_before_picks_the_returning_caller(
    evidence: tuple[str, ...], right: int
) -> None:
    score = simulate(RETURNING, 1, evidence=evidence)

    assert (score.counts[CORRECT], score.counts[AMBIGUOUS]) == (1, 1)  # the noon call: alone
    assert score.ambiguous_right == right
    assert score.ambiguous_chance == 0.5  # a blind pick between the two


# Visitor 0 browses on a computer and calls from their landline (the carrier says so) four
# minutes in; visitor 1 arrived on a phone a minute before: the latest activity, but unlikely
# to be a landline caller.
LANDLINE = Traffic(
    sessions=[
        visit(0, NOON, minutes=20),
        visit(1, NOON + timedelta(minutes=3), minutes=20, phone=True),
    ],
    calls=[
        PlannedCall(
            0,
            NOON + timedelta(minutes=4),
            DURING,
            tel_click=False,
            fixed_line=True,
            line_type_known=True,
        )
    ],
    days=1,
)


def test_only_the_line_type_picks_the_landline_caller() -> None:
    assert shared_call_right(LANDLINE, (LATEST,)) == 0
    assert shared_call_right(LANDLINE, ("caller_seen_before", LATEST)) == 0
    assert shared_call_right(LANDLINE, ("line_type", LATEST)) == 1
    assert shared_call_right(LANDLINE, ALL) == 1


def test_without_the_carriers_line_type_the_signal_has_nothing_to_go_by() -> None:
    [planned] = LANDLINE.calls
    unknown = PlannedCall(planned.session, planned.at, DURING, False, fixed_line=True)
    traffic = Traffic(LANDLINE.sessions, [unknown], 1)

    assert shared_call_right(traffic, ALL) == 0
