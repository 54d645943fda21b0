"""Where the benchmarks write their figures: each script owns one marked section of
``docs/benchmarks.md`` (``<!-- bench:NAME:start -->`` … ``<!-- bench:NAME:end -->``) and replaces
what is between its marks on every run."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(name: str, text: str, heading: str) -> None:
    """Put ``text`` between the marks of section ``name``; the first run adds the section at
    the end of the document under ``heading``."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    document = DOCS.read_text()
    if start not in document:
        document += f"\n## {heading}\n\n{start}\n{end}\n"
    before, rest = document.split(start, 1)
    _, after = rest.split(end, 1)
    DOCS.write_text(f"{before}{start}\n{text}\n{end}{after}")
