"""The one way tests (and benchmarks) wait for something another thread or process does: poll
a condition until it holds, failing after a deadline. Never a bare sleep: a sleep long enough
on a loaded machine is slow everywhere else, and one short enough fails under load."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(
    condition: Callable[[], object], what: str, timeout: float = 20.0, interval: float = 0.02
) -> None:
    """Poll ``condition`` every ``interval`` seconds until it is true; raise ``TimeoutError``
    naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(interval)
