"""``callpool simulate`` as a user runs it: on the model, on a site's recorded traffic, and
refusing bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from callpool.cli import main
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account
from callpool.settings import get_settings
from callpool.simulation.history import recorded_traffic
from callpool.simulation.traffic import Assumptions
from tests.factories import ORIGIN, Factory

REQUIRED = {"size", "calls", "correct", "ambiguous", "wrong", "unattributed", "accuracy"}


def simulate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", *args])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[None]:
    """The CLI's settings point at the test's database."""
    monkeypatch.setenv("CALLPOOL_DATABASE_URL", database_url)
    monkeypatch.setenv("CALLPOOL_SECRET_KEY", "test-secret-key-0123456789")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_json_has_one_object_per_size_and_the_recommended_size(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = simulate(
        capsys,
        "--daily-visitors",
        "200",
        "--days",
        "1",
        "--sizes",
        "2,30",
        "--json",
        "--target",
        "0.5",
        "--call-share",
        "0.2",
    )
    assert code == 0
    result = json.loads(out)
    sizes = result["sizes"]
    assert [entry["size"] for entry in sizes] == [2, 30]
    for entry in sizes:
        assert entry.keys() >= REQUIRED
        assert entry["naive"].keys() >= REQUIRED
        outcomes = entry["correct"] + entry["ambiguous"] + entry["wrong"] + entry["unattributed"]
        assert outcomes == entry["calls"] > 0
    assert sizes[1]["accuracy"] > sizes[0]["accuracy"]
    assert result["target"] == 0.5
    # The smallest size reaching the target: between the sizes tried, found by bisection.
    assert 2 < result["recommended_size"] <= 30


def test_the_table_names_each_outcome_and_the_advice(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = simulate(capsys, "--daily-visitors", "100", "--days", "1", "--sizes", "3")
    assert code == 0
    header = out.splitlines()[1].split()
    assert header[:7] == [
        "size",
        "calls",
        "correct",
        "ambiguous",
        "wrong",
        "unattributed",
        "accuracy",
    ]
    assert "naive" in header
    assert "recommended size: 3" in out or "no size tried reaches 99.0 %" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sizes", "0,5"], "each size must be within 1-10000"),
        (["--sizes", "five"], "must be whole numbers"),
        (["--call-share", "2"], "call-share must be between 0 and 1"),
        (["--during-share", "0.8", "--soon-share", "0.3"], "must not exceed 1"),
        (["--days", "0"], "must be positive"),
    ],
)
def test_bad_input_is_refused_with_a_message(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = simulate(capsys, *args)
    assert code == 2
    assert message in err
    assert out == ""


@pytest.mark.usefixtures("environment")
def test_an_unknown_site_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = simulate(capsys, "--site", "999", "--days", "1")
    assert code == 2
    assert "no site has the id 999" in err


@pytest.mark.usefixtures("environment")
def test_a_site_s_recorded_sessions_are_replayed(
    capsys: pytest.CaptureFixture[str], database: Database, clock: FrozenClock, account: Account
) -> None:
    factory = Factory(database, clock)
    site = factory.site(account)
    pool = factory.pool(site, size=7)
    factory.trackers(pool, [f"+1512555020{i}" for i in range(7)])
    start = clock.now()
    for i in range(30):  # a session every 37 minutes, each with a second page a minute later
        at = start + timedelta(minutes=37 * i)
        session = factory.session(site, started_at=at, last_seen_at=at + timedelta(minutes=2))
        factory.pageview(session, f"{ORIGIN}/", at)
        factory.pageview(session, f"{ORIGIN}/services", at + timedelta(minutes=1))
    factory.session(site, started_at=start, is_bot=True)  # never given a number: left out
    factory.session(site, started_at=start - timedelta(days=4))  # before the window
    clock.set(start + timedelta(days=1))

    with database.reader() as db:
        traffic = recorded_traffic(
            db,
            site.id,
            since=clock.now() - timedelta(days=3),
            until=clock.now(),
            assumptions=Assumptions(call_share=0.5),
            seed=1,
        )
    assert len(traffic.sessions) == 30
    assert traffic.days == 1.0  # since its first session, not the 3 days asked: a new site
    assert {(s.pages, s.leave) for s in traffic.sessions} == {((0.0, 60.0), 120.0)}
    assert traffic.sessions[1].start - traffic.sessions[0].start == timedelta(minutes=37)
    with database.reader() as db:  # a busy site: only its latest sessions, a shorter span
        latest = recorded_traffic(
            db,
            site.id,
            since=clock.now() - timedelta(days=3),
            until=clock.now(),
            assumptions=Assumptions(),
            seed=1,
            max_sessions=10,
        )
    assert [s.start for s in latest.sessions] == [s.start for s in traffic.sessions[-10:]]
    assert latest.days == (clock.now() - traffic.sessions[-10].start) / timedelta(days=1)

    code, out, _ = simulate(
        capsys, "--site", str(site.id), "--days", "3", "--call-share", "0.5", "--json"
    )
    assert code == 0
    result: dict[str, Any] = json.loads(out)
    assert result["sessions"] == 30
    sizes = [entry["size"] for entry in result["sizes"]]
    assert 7 in sizes  # the pool's own size is always tried
    calls = {entry["calls"] for entry in result["sizes"]}
    assert calls == {len(traffic.calls)}
    assert len(traffic.calls) > 0


def test_evidence_chooses_what_ranks_the_visits_sharing_a_number(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A pool of 3 for 200 sessions a day shares numbers all day: the same calls, the same
    doubts, but the evidence decides how many of the shared calls the top pick gets right."""
    model = ("--daily-visitors", "200", "--days", "1", "--sizes", "3", "--call-share", "0.5")
    picks = {}
    for evidence in ("", "tel_click,caller_seen_before,line_type,latest_activity"):
        code, out, _ = simulate(capsys, *model, "--json", "--evidence", evidence)
        assert code == 0
        [size] = json.loads(out)["sizes"]
        picks[evidence] = (size["calls"], size["ambiguous"], size["ambiguous_right"])
    (calls, shared, blind), (calls_too, shared_too, informed) = picks.values()
    assert (calls, shared) == (calls_too, shared_too)
    assert shared > 0
    assert informed > blind  # the visits' start order alone picks worse

    code, _, err = simulate(capsys, *model, "--evidence", "tel_click,gut_feeling")
    assert code == 2
    assert "unknown signal 'gut_feeling'" in err
