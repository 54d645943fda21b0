"""Attribution accuracy against pool size, ours beside a naive allocator; writes the "accuracy"
section of ``docs/benchmarks.md``::

    .venv/bin/python bench/accuracy.py            # 6 minutes alone on 2 cores; more if shared
    .venv/bin/python bench/accuracy.py --quick    # a smoke run: fewer days, no doc written

Three sites of the traffic model (``callpool.simulation.traffic``, its defaults but for the
share of sessions that call, see ``CALL_SHARE``): 100, 500 (the seed's example, about 15
concurrent visitors) and 5,000 sessions a day. For each, one traffic goes through a table of
pool sizes with our rules (the real code, ``callpool.simulation.run``) and the naive allocator
(``callpool.simulation.naive``), and the smallest size reaching 95 %, 99 % and 99.9 % is
searched for each allocator (bisection between the table's sizes). Also measured: how long a
month at 5,000 sessions a day takes through the real code, for one pool size.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from figures import write_section  # noqa: E402 (bench/figures.py)

from callpool.simulation.advice import smallest_size  # noqa: E402
from callpool.simulation.naive import simulate_naive  # noqa: E402
from callpool.simulation.run import PoolSetup, simulate  # noqa: E402
from callpool.simulation.score import OUTCOMES, Score  # noqa: E402
from callpool.simulation.traffic import (  # noqa: E402
    TIMINGS,
    Assumptions,
    Traffic,
    assumption_fields,
    generate,
)

HEADING = "Attribution accuracy against pool size (`bench/accuracy.py`)"
SEED = 1
TARGETS = (0.95, 0.99, 0.999)
# Calls do not change which numbers visitors get (a tel: click only extends a lease the page's
# heartbeats extend anyway), so several times the model's 3 % gives several times the calls to
# measure accuracy by, for the same allocation.
CALL_SHARE = 0.2
PRECISION = 0.1  # sizes needed are searched to within 10 %: each step is a whole run


@dataclass(frozen=True)
class Site:
    daily: int
    days: float
    sizes: tuple[int, ...]


# Days chosen for about a thousand calls each at ``CALL_SHARE``: a call costs ~4 ms through
# the real code (an ORM transaction, attribution's queries), a visit ~0.3 ms, and the machine
# is shared. 99.9 % is then told apart from 100 % by a call or two: a rough figure.
SITES = (
    Site(100, 30, (2, 4, 6, 8, 10, 20, 40, 80, 160)),
    Site(500, 10, (5, 10, 15, 20, 30, 60, 120, 250, 500, 1000)),
    Site(5000, 1, (20, 40, 60, 80, 120, 250, 500, 1000, 2500, 5000, 10000)),
)


@dataclass
class Outcome:
    site: Site
    traffic: Traffic
    ours: dict[int, Score]
    naive: dict[int, Score]
    needed: dict[str, dict[float, int | None]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a day per site; no doc written")
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args()
    model = Assumptions(call_share=CALL_SHARE)
    setup = PoolSetup()
    outcomes = []
    for site in SITES:
        days = 1 if args.quick else site.days
        traffic = generate(replace(model, daily_visitors=site.daily), days, SEED)
        print(f"{site.daily}/day: {len(traffic.sessions)} sessions, {len(traffic.calls)} calls")
        outcomes.append(measure(replace(site, days=days), traffic, setup))
    month = None if args.quick else month_timing(setup)
    text = render(outcomes, model, month)
    print(text)
    if not (args.quick or args.no_write):
        write_section("accuracy", text, HEADING)


def measure(site: Site, traffic: Traffic, setup: PoolSetup) -> Outcome:
    ours: dict[int, Score] = {}
    naive: dict[int, Score] = {}

    def ours_at(size: int) -> float:
        if size not in ours:
            ours[size] = simulate(traffic, size, setup)
            print(f"  ours  {size:>6}: {ours[size].accuracy:.4f} ({ours[size].seconds:.1f} s)")
        return ours[size].accuracy

    def naive_at(size: int) -> float:
        if size not in naive:
            naive[size] = simulate_naive(traffic, size, setup, SEED)
        return naive[size].accuracy

    for size in site.sizes:
        ours_at(size)
        naive_at(size)
    needed = {
        "ours": {target: search(ours_at, site.sizes, target) for target in TARGETS},
        "naive": {target: search(naive_at, site.sizes, target) for target in TARGETS},
    }
    return Outcome(site, traffic, ours, naive, needed)


def search(
    accuracy_at: Callable[[int], float], sizes: tuple[int, ...], target: float
) -> int | None:
    """The smallest size reaching ``target`` (within ``PRECISION`` of it), by bisection between
    the table's last size short of it and its first size reaching it."""
    return smallest_size(accuracy_at, target, sizes, precision=PRECISION)


def month_timing(setup: PoolSetup) -> tuple[int, int, float]:
    """(sessions, calls, seconds) of a month at 5,000 sessions a day, the model's defaults,
    through the real code."""
    traffic = generate(Assumptions(daily_visitors=5000), 30, SEED)
    score = simulate(traffic, 120, setup)
    return len(traffic.sessions), len(traffic.calls), score.seconds


def render(
    outcomes: list[Outcome], model: Assumptions, month: tuple[int, int, float] | None
) -> str:
    lines = [
        "Accuracy = calls attributed to the session that made them, with no other candidate, "
        "over all calls. Ours: the real assignment and attribution code (`callpool simulate`); "
        "naive: a random free number, a random shared one when none is free, attributed by the "
        f"same rule. Seed {SEED}; the model's defaults except a call share of "
        f"{CALL_SHARE:.0%} (see below).",
        "",
    ]
    for outcome in outcomes:
        lines += site_section(outcome)
    lines += [
        "**Pool size needed** (smallest size reaching the accuracy, searched to within "
        f"{PRECISION:.0%}; — : none up to the table's largest):",
        "",
        "| daily sessions | days | calls | "
        + " | ".join(f"ours {t:.1%}" for t in TARGETS)
        + " | "
        + " | ".join(f"naive {t:.1%}" for t in TARGETS)
        + " |",
        "|" + "---:|" * (3 + 2 * len(TARGETS)),
    ]
    for outcome in outcomes:
        cells = [str(outcome.site.daily), f"{outcome.site.days:g}", str(len(outcome.traffic.calls))]
        for allocator in ("ours", "naive"):
            cells += [_size(outcome.needed[allocator][t]) for t in TARGETS]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if month is not None:
        sessions, calls, seconds = month
        lines.append(
            f"Speed: a month at 5,000 sessions a day ({sessions:,} sessions, {calls:,} calls) "
            f"ran through the real code in {seconds:.0f} s for one pool size (120 numbers) on "
            "this shared 2-core machine."
        )
        lines.append("")
    lines += assumptions_table(model)
    return "\n".join(lines)


def site_section(outcome: Outcome) -> list[str]:
    site = outcome.site
    lines = [
        f"**{site.daily:,} sessions a day**, {site.days:g} days: {len(outcome.traffic.sessions):,} "
        f"sessions, {len(outcome.traffic.calls):,} calls.",
        "",
        "| size | "
        + " | ".join(OUTCOMES)
        + " | accuracy | naive | "
        + " | ".join(f"{t} ok" for t in TIMINGS)
        + " | exhausted | peak leases |",
        "|" + "---:|" * (len(OUTCOMES) + 5 + len(TIMINGS)),
    ]
    for size in site.sizes:
        ours, naive = outcome.ours[size], outcome.naive[size]
        timings = [
            f"{ok / calls:.1%}" if calls else "—"
            for calls, ok in (ours.by_timing[t] for t in TIMINGS)
        ]
        lines.append(
            f"| {size} | "
            + " | ".join(str(ours.counts[name]) for name in OUTCOMES)
            + f" | {ours.accuracy:.2%} | {naive.accuracy:.2%} | "
            + " | ".join(timings)
            + f" | {ours.exhausted} | {ours.peak_leases} |"
        )
    lines.append("")
    return lines


def assumptions_table(model: Assumptions) -> list[str]:
    lines = [
        "The model's assumptions (each a `callpool simulate` flag):",
        "",
        "| flag | value | why |",
        "|---|---:|---|",
    ]
    for name, _, text in assumption_fields():
        value = getattr(model, name)
        lines.append(f"| `--{name.replace('_', '-')}` | {value:g} | {text.replace('%%', '%')} |")
    return lines


def _size(size: int | None) -> str:
    return "—" if size is None else str(size)


if __name__ == "__main__":
    main()
