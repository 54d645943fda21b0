"""What each piece of evidence gains where a number is shared; writes the "evidence" section of
``docs/benchmarks.md``::

    .venv/bin/python bench/evidence.py     # about two minutes alone on 2 cores

Pools too small for their traffic share numbers (overflow "reuse"), and a call to a shared
number has several candidate sessions. The attribution ranks them by the evidence
``CALLPOOL_ATTRIBUTION_EVIDENCE`` trusts (``callpool.calls.attribution``) and picks the first.
This measures, through the real code (``callpool.simulation``, which runs the product with
that setting), how often the pick is the session that called, with each signal on its own
beside the latest activity, with all of them, and against a blind pick among the candidates.
The same traffic runs every time, and which calls are shared does not depend on the ranking,
so every column counts the same calls.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from figures import write_section  # noqa: E402 (bench/figures.py)

from callpool.simulation.run import simulate  # noqa: E402
from callpool.simulation.score import AMBIGUOUS, Score  # noqa: E402
from callpool.simulation.traffic import Assumptions, Traffic, generate  # noqa: E402

HEADING = "Evidence where numbers are shared (`bench/evidence.py`)"
SEED = 1
DAILY, DAYS, SIZES = 500, 7, (10, 15)
MODEL = Assumptions(daily_visitors=DAILY, call_share=0.3)
LATEST = "latest_activity"
ALL = ("tel_click", "caller_seen_before", "line_type", LATEST)  # the product's default order
# (column, the evidence setting it runs with)
VARIANTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("latest activity only", (LATEST,)),
    ("+ tel: click", ("tel_click", LATEST)),
    ("+ caller seen before", ("caller_seen_before", LATEST)),
    ("+ line type", ("line_type", LATEST)),
    ("all (the default order)", ALL),
    ("all, caller seen before first", ("caller_seen_before", "tel_click", "line_type", LATEST)),
)


def main() -> None:
    started = time.perf_counter()
    traffic = generate(MODEL, DAYS, SEED)
    rows = [(size, measure(traffic, size)) for size in SIZES]
    text = render(traffic, rows, time.perf_counter() - started)
    print(text)
    if "--no-write" not in sys.argv:
        write_section("evidence", text, HEADING)


def measure(traffic: Traffic, size: int) -> list[Score]:
    scores = []
    for name, evidence in VARIANTS:
        score = simulate(traffic, size, evidence=evidence)
        print(f"size {size}, {name}: {score.as_dict()}", file=sys.stderr)
        scores.append(score)
    # Which calls are shared depends on the leases alone: the same in every run.
    assert len({score.counts[AMBIGUOUS] for score in scores}) == 1
    return scores


def render(traffic: Traffic, rows: list[tuple[int, list[Score]]], seconds: float) -> str:
    fixed = sum(call.fixed_line for call in traffic.calls)
    lines = [
        f"{DAILY} sessions a day, {DAYS} days, seed {SEED}, 30 % of sessions calling (the "
        f"model's other defaults: half the calls during a visit tap the tel: link, 25 % of "
        f"sessions by returning visitors, 55 % on phones, 30 % of visitors with a fixed line "
        f"they call from after a visit on a computer, the line type reported on every call): "
        f"{len(traffic.sessions)} sessions, {len(traffic.calls)} calls, {fixed} from fixed "
        "lines. Shared: calls to a number several sessions held at the time. Each cell: how "
        "many of them the top pick got right. Blind pick: the sum of 1 / candidates. '+ x': "
        "that signal, then the latest activity (the tie-breaker). "
        f"{len(SIZES) * len(VARIANTS)} runs in {seconds:.0f} s.",
        "",
        "| size | calls | shared | blind pick | " + " | ".join(name for name, _ in VARIANTS) + " |",
        "|---:|---:|---:|---:|" + "---:|" * len(VARIANTS),
    ]
    for size, scores in rows:
        shared = scores[0].counts[AMBIGUOUS]
        cells = [f"{s.ambiguous_right} ({_share(s.ambiguous_right, shared)})" for s in scores]
        blind = scores[0].ambiguous_chance
        lines.append(
            f"| {size} | {scores[0].calls} | {shared} | {blind:.0f} ({_share(blind, shared)}) | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def _share(part: float, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "—"


if __name__ == "__main__":
    main()
