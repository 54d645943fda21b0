"""What each piece of evidence gains where a number is shared; writes the "evidence" section of
``docs/benchmarks.md``::

    .venv/bin/python bench/evidence.py     # about a minute alone on 2 cores

Pools too small for their traffic share numbers (overflow "reuse"), and a call to a shared
number has several candidate sessions. The attribution picks one (``callpool.calls.attribution``):
the session with a ``tel:`` click on that number just before the call, else the one active
last. This measures, through the real code (``callpool.simulation``), how often that pick is the
session that called: against a blind pick among the candidates, with the activity rule alone
(no visitor taps the number), and with tel: clicks (half the calls during a visit tapped).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from callpool.simulation.run import simulate  # noqa: E402
from callpool.simulation.score import AMBIGUOUS, Score  # noqa: E402
from callpool.simulation.traffic import Assumptions, generate  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:evidence:start -->", "<!-- bench:evidence:end -->"
SEED = 1
DAILY, DAYS, SIZES = 500, 7, (10, 15)
MODEL = Assumptions(daily_visitors=DAILY, call_share=0.3)


def main() -> None:
    rows = []
    for size in SIZES:
        for clicks in (0.0, MODEL.tel_click_share):
            traffic = generate(replace(MODEL, tel_click_share=clicks), DAYS, SEED)
            score = simulate(traffic, size)
            print(size, clicks, score.as_dict())
            rows.append((size, clicks, score))
    text = render(rows)
    print(text)
    if "--no-write" not in sys.argv:
        write_section(text)


def render(rows: list[tuple[int, float, Score]]) -> str:
    lines = [
        f"{DAILY} sessions a day, {DAYS} days, seed {SEED}, 30 % of sessions calling (the model's "
        "other defaults). Ambiguous: calls to a number shared at the time. Blind pick: how many "
        "of them a pick at random among the candidates would get right (the sum of 1 / "
        "candidates).",
        "",
        "| size | tel: taps (of calls during a visit) | calls | ambiguous | blind pick right | "
        "callpool's pick right |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for size, clicks, score in rows:
        ambiguous = score.counts[AMBIGUOUS]
        lines.append(
            f"| {size} | {clicks:.0%} | {score.calls} | {ambiguous} | "
            f"{score.ambiguous_chance:.0f} ({_share(score.ambiguous_chance, ambiguous)}) | "
            f"{score.ambiguous_right} ({_share(score.ambiguous_right, ambiguous)}) |"
        )
    return "\n".join(lines)


def _share(part: float, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "—"


def write_section(text: str) -> None:
    document = DOCS.read_text()
    if START not in document:
        document += (
            f"\n## Evidence where numbers are shared (`bench/evidence.py`)\n\n{START}\n{END}\n"
        )
    before, rest = document.split(START, 1)
    _, after = rest.split(END, 1)
    DOCS.write_text(f"{before}{START}\n{text}\n{END}{after}")


if __name__ == "__main__":
    main()
