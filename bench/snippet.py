"""Snippet size and speed in real Chromium; writes its section of docs/benchmarks.md.

    .venv/bin/python bench/snippet.py [--runs 15]

Measures:
- the built file's raw and min+gzip bytes, with the inline stub (budget 2,000 together), and
  the debug view's (fetched only in debug mode);
- the main-thread time of one swap (text walk, matching, writes) on generated pages of 2,000
  and 16,000 elements, the number written 40 times in mixed forms and in tel: links;
- the time from the script's start to a swapped DOM on a first pageview (one request to the
  visit API on 127.0.0.1) and on a later pageview of the session (from storage, no request).

Timings come from the trail the snippet keeps only in debug mode (``?callpool_debug=1``,
``callpool.t``): its ``swap`` and ``swapped`` entries; the script's start is the moment of
its replacing the stub's ``callpool``.
The app runs in this process (uvicorn thread, SQLite file); the browser is Debian's Chromium.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from figures import write_section  # bench/figures.py
from playwright.sync_api import Browser, sync_playwright
from seed import session_pool_site  # bench/seed.py

from callpool.app import create_app
from callpool.db import Database
from callpool.settings import Settings
from callpool.snippet import install_tag

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "src" / "callpool" / "static"
BUILT = STATIC / "callpool.js"
HEADING = "Snippet size and speed (`bench/snippet.py`)"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP *.test 127.0.0.1",
]
BUSINESS = "+15125550000"  # written on the generated pages in every form below
FORMS = ["(512) 555-0000", "512-555-0000", "512.555.0000", "+1 512 555 0000", "5125550000"]
SIZES = (2_000, 16_000)
OCCURRENCES = 40


def generated_page(elements: int, tag: str) -> str:
    """A page of ``elements`` elements: sections of headings, paragraphs with inline markup
    and links; the business number written ``OCCURRENCES`` times, each with a tel: link."""
    parts: list[str] = []
    count = 0
    every = max(1, elements // 5 // OCCURRENCES)
    block = 0
    while count < elements:
        written = block % every == 0
        number = FORMS[block % len(FORMS)] if written else "our friendly team"
        link = f"tel:{BUSINESS}" if written else f"/services/{block}"
        parts.append(
            f"<section><h3>Item {block}</h3><p>Lorem <b>ipsum</b> dolor, call {number} "
            f'<a href="/x/{block}">today</a>.</p><a href="{link}">Call</a></section>'
        )
        count += 5
        block += 1
    body = "\n".join(parts)
    return f"<!doctype html><html><head><title>Bench</title></head><body>{body}{tag}</body></html>"


def bench_router(server_url: str) -> APIRouter:
    router = APIRouter()

    @router.get("/bench/{key}/{elements}/{n}")
    def page(key: str, elements: int, n: int) -> HTMLResponse:
        return HTMLResponse(generated_page(elements, install_tag(server_url, key)))

    return router


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(app: FastAPI, port: int) -> Iterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def seed(database: Database, origin: str, trackers: int) -> str:
    key = uuid.uuid4().hex[:24]
    session_pool_site(
        database, site_key=key, origin=origin, trackers=trackers, business_number=BUSINESS
    )
    return key


# The script's start: when it replaces the stub's `callpool` (its first act, before any work).
START_TIME = """{ let value;
  Object.defineProperty(window, 'callpool', { configurable: true, get: () => value,
    set: (v) => { if (value && !window.__start) window.__start = performance.now(); value = v; } });
}"""
MARKS = """() => {
  const first = (name) => callpool.t.find((entry) => entry[1] == name)?.[0];
  return { start: window.__start, swap: first('swap'), swapped: first('swapped') };
}"""


def measure(browser: Browser, agent: str, url: str, runs: int) -> dict[str, list[float]]:
    """Per run, a fresh visitor: the first pageview, then a later one of the same session."""
    found: dict[str, list[float]] = {"swap_first": [], "ready_first": [], "ready_later": []}
    for run in range(runs):
        context = browser.new_context(user_agent=agent)
        context.add_init_script(START_TIME)
        page = context.new_page()
        for label, n in (("first", 2 * run), ("later", 2 * run + 1)):
            page.goto(f"{url}/{n}?callpool_debug=1")
            page.wait_for_function("callpool.t?.some((entry) => entry[1] == 'swapped')")
            marks: dict[str, Any] = page.evaluate(MARKS)
            found[f"ready_{label}"].append(marks["swapped"] - marks["start"])
            if label == "first":
                found["swap_first"].append(marks["swapped"] - marks["swap"])
            else:
                found.setdefault("swap_later", []).append(marks["swapped"] - marks["swap"])
            assert "555-0000" not in (page.locator("section").first.text_content() or "")
        context.close()
    return found


def summary(values: list[float]) -> str:
    # The best run shows the cost itself; the median shows it on a machine that is busy too.
    return f"{statistics.median(values):.1f} ms (best {min(values):.1f})"


def sizes() -> tuple[int, int, int, int]:
    """The script raw and min+gzip, the stub (raw: it is inline), the debug view min+gzip."""
    body = BUILT.read_bytes()
    stub = (STATIC / "callpool-stub.js").read_bytes()
    view = (STATIC / "callpool-debug.js").read_bytes()
    zipped = len(gzip.compress(body, compresslevel=9))
    return len(body), zipped, len(stub), len(gzip.compress(view, compresslevel=9))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    raw, zipped, stub, view = sizes()
    load = os.getloadavg()[0]  # other work on the machine slows the browser as much as ours
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        port = free_port()
        server_url = f"http://127.0.0.1:{port}"
        origin = f"http://site.test:{port}"
        settings = Settings(
            database_url=f"sqlite:///{path}",
            public_url=server_url,
            secret_key="bench-secret-key-0123456789",  # noqa: S106 (a throwaway database)
            routing_cache_path=Path(tmp) / "routing.json",
            call_spool_dir=Path(tmp) / "spool",
            _env_file=None,  # type: ignore[call-arg]
        )
        database = Database(settings.database_url)
        database.migrate()
        key = seed(database, origin, trackers=4 * args.runs + 10)
        app = create_app(settings, database)
        app.include_router(bench_router(server_url))
        results: dict[int, dict[str, list[float]]] = {}
        with serving(app, port), sync_playwright() as runner:
            browser = runner.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            agent = (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{browser.version} Safari/537.36"
            )
            version = browser.version
            for elements in SIZES:
                url = f"{origin}/bench/{key}/{elements}"
                measure(browser, agent, url, 2)  # warm-up: caches, JIT
                results[elements] = measure(browser, agent, url, args.runs)
            browser.close()
        database.dispose()

    rows = [
        "| page | swap (main thread) | script start → swapped, first pageview | "
        "script start → swapped, later pageview |",
        "|---|---|---|---|",
    ]
    for elements, found in results.items():
        rows.append(
            f"| {elements:,} elements | {summary(found['swap_first'])} | "
            f"{summary(found['ready_first'])} | {summary(found['ready_later'])} |"
        )
    text = "\n".join(
        [
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()} "
            f"({os.cpu_count()} cores, load average {load:.1f} at the start), "
            f"Chromium {version} headless, Python {platform.python_version()}.",
            "",
            f"- Size of `src/callpool/static/callpool.js`: **{raw:,} bytes** minified, "
            f"**{zipped:,} bytes** min+gzip; with the inline stub ({stub} bytes) a visitor "
            f"loads **{zipped + stub:,} bytes** (budget 2,000, enforced by `npm run build`; "
            "gzip -9 by Python's zlib, Node's differs by a few bytes). The debug view, "
            f"fetched only in debug mode: {view:,} bytes min+gzip.",
            f"- Pages generated with the business number written {OCCURRENCES} times "
            "(five text forms, each with a `tel:` link); median (best) of "
            f"{args.runs} fresh visitors, each with a first and a later pageview.",
            "",
            *rows,
            "",
            "- *Swap*: the first full pass on a freshly loaded page (text walk, matching, "
            "writes, `tel:` links; cold JavaScript, as a visitor gets it), between the "
            "snippet's `swap` and `swapped` trail entries.",
            "- *First pageview*: includes the `POST /t/visit` round trip to the app on "
            "127.0.0.1 (SQLite); a real network adds its latency. *Later pageview*: from "
            "first-party storage, no request before the swap.",
            "",
            "Reproduce: `scripts/install --test && .venv/bin/python bench/snippet.py` "
            "(`--runs N`, `--no-write`).",
        ]
    )
    print(text)
    if not args.no_write:
        write_section("snippet", text, HEADING)


if __name__ == "__main__":
    main()
