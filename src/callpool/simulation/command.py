"""``callpool simulate``: attribution accuracy by pool size, on a model or a site's history."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta

from callpool import clock
from callpool.db import Database
from callpool.errors import NotFound
from callpool.settings import ATTRIBUTION_EVIDENCE, evidence_signals, get_settings
from callpool.simulation.advice import DEFAULT_TARGET, MAX_SIZE, sizes_to_try
from callpool.simulation.history import MAX_SESSIONS, recorded_traffic, site_pool
from callpool.simulation.run import PoolSetup
from callpool.simulation.sweep import Sweep, sweep, table
from callpool.simulation.traffic import Assumptions, Traffic, assumption_fields, generate
from callpool.visits.claim import FALLBACK, ORIGINAL, REUSE

DESCRIPTION = f"""\
Replay traffic through the real assignment and attribution code (a throwaway SQLite database,
a virtual clock) for each pool size, and the same traffic through a naive allocator (a random
free number). Each call is scored: correct (the session that made it, no other candidate),
ambiguous (attributed with other candidates), wrong, unattributed. Accuracy = correct / calls.
Traffic comes from the model (--daily-visitors and the assumptions below) or, with --site, from
that site's recorded sessions of the last --days days (calls drawn by the model's call flags;
a site with more than {MAX_SESSIONS:,} sessions in them is replayed on its latest whole days).
"""


def add_to(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "simulate",
        help="accuracy of attribution by pool size, on modelled or recorded traffic",
        description=DESCRIPTION,
    )
    parser.add_argument(
        "--site", type=int, help="replay this site's recorded sessions (default: the model)"
    )
    parser.add_argument(
        "--days", type=_positive, default=30.0, help="days of traffic (default: %(default)s)"
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        help="pool sizes to try, comma-separated (default: 5, 10, 20 … doubling up to past "
        "the daily sessions; with --site, also the pool's own size)",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="makes a run reproducible (default: %(default)s)"
    )
    parser.add_argument(
        "--until",
        type=_moment,
        help="with --site: the end of the days replayed, an ISO time with its zone (default: now)",
    )
    parser.add_argument(
        "--target",
        type=_share,
        help="accuracy the advice aims at (default: with --site, the site's account's "
        f"accuracy target; otherwise {DEFAULT_TARGET})",
    )
    parser.add_argument(
        "--evidence",
        type=_evidence,
        default=",".join(ATTRIBUTION_EVIDENCE),
        help="what ranks the visits sharing a number, most trusted first, comma-separated, as "
        "CALLPOOL_ATTRIBUTION_EVIDENCE (default: %(default)s); leave one out to see its gain",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for programs")
    pool = parser.add_argument_group("the pool (with --site: the site's own, unless given)")
    pool.add_argument(
        "--lease-minutes",
        type=int,
        help="minutes a lease lasts after the last activity (default: 30)",
    )
    pool.add_argument(
        "--overflow",
        choices=(REUSE, FALLBACK, ORIGINAL),
        help="what a visit gets when no number is free (default: reuse)",
    )
    pool.add_argument(
        "--window-hours",
        type=_positive,
        help="hours after a lease ends that a call is still attributed to it (default: 24)",
    )
    model = parser.add_argument_group("the traffic model's assumptions")
    for name, default, text in assumption_fields():
        model.add_argument(
            f"--{name.replace('_', '-')}",
            type=float,
            default=default,
            help=f"{text} (default: %(default)s)",
        )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = simulated(args)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print(f"{result.sessions} sessions, {result.calls} calls in {result.days:g} days")
        print(table(result))
    return 0


def simulated(args: argparse.Namespace) -> Sweep:
    """What ``callpool simulate`` with ``args`` finds (also run by ``simulation.daily``)."""
    assumptions = Assumptions(**{name: getattr(args, name) for name, _, _ in assumption_fields()})
    assumptions.check()  # ValueError: the CLI prints it and exits 2
    traffic, setup, own_size, target = _traffic(args, assumptions)
    sizes = args.sizes or sizes_to_try(own_size, len(traffic.sessions) / traffic.days)
    return sweep(
        traffic,
        sizes,
        setup,
        seed=args.seed,
        target=args.target or target,
        evidence=args.evidence,
    )


def _traffic(
    args: argparse.Namespace, assumptions: Assumptions
) -> tuple[Traffic, PoolSetup, int | None, float]:
    """The traffic, the pool's setup and size, and the target when none is given: the
    model's default, or with ``--site`` the site's account's own."""
    window = args.window_hours or 24.0
    if args.site is None:
        setup = PoolSetup(window_hours=window)
        traffic = generate(assumptions, args.days, args.seed)
        return traffic, _overridden(setup, args), None, DEFAULT_TARGET
    database = Database(get_settings().database_url)
    try:
        with database.reader() as db:
            found = site_pool(db, args.site, window)
            until = args.until or clock.now()
            traffic = recorded_traffic(
                db,
                args.site,
                since=until - timedelta(days=args.days),
                until=until,
                assumptions=assumptions,
                seed=args.seed,
            )
    except NotFound as error:
        raise ValueError(str(error)) from None
    finally:
        database.dispose()
    return traffic, _overridden(found.setup, args), found.size, found.target


def _overridden(setup: PoolSetup, args: argparse.Namespace) -> PoolSetup:
    return PoolSetup(
        lease_minutes=args.lease_minutes or setup.lease_minutes,
        overflow_policy=args.overflow or setup.overflow_policy,
        window_hours=setup.window_hours,
    )


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError("must be within (0, 1]")
    return value


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be an ISO time with its zone") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("must say its time zone, e.g. +00:00")
    return moment


def _evidence(text: str) -> tuple[str, ...]:
    try:
        return evidence_signals(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError("must be whole numbers, e.g. 5,10,20") from None
    if not sizes or sizes[0] < 1 or sizes[-1] > MAX_SIZE:
        raise argparse.ArgumentTypeError(f"each size must be within 1-{MAX_SIZE}")
    return sizes
