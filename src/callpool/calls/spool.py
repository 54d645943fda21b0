"""Every call and status callback, kept as a file before it is answered, until it is stored.

One JSON file per webhook in ``settings.call_spool_dir``, written atomically and synced (the
file and its directory) before the carrier gets its answer, named so that a directory listing
is arrival order. ``service.replay_spool`` stores them in the background, at once when the
database answers and later when it does not. A replayer claims a file by renaming it, so
several replayers (each app process, the worker) never store one twice.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from callpool.calls.routing import write_atomically

CALL, STATUS = "call", "status"
CLAIMED = ".replaying"
FAILED_DIR = "failed"
# A claim older than this belongs to a worker that died mid-replay: take it over.
STALE_CLAIM_SECONDS = 600


@dataclass(frozen=True)
class Entry:
    path: Path
    kind: str  # call | status
    data: dict[str, Any]

    @property
    def at(self) -> datetime:
        return datetime.fromisoformat(self.data["at"])


def spool(directory: Path, kind: str, call_id: str, data: dict[str, Any]) -> Path:
    """Write one entry; ``data`` must hold ``at`` (when the webhook arrived, ISO 8601)."""
    name = f"{time.time_ns():020d}-{kind}-{_safe(call_id)}.json"
    path = directory / name
    write_atomically(path, json.dumps({"kind": kind, "call_id": call_id, **data}))
    _sync_directory(directory)  # the rename too must survive a power cut: the call is answered
    return path


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def has_pending_call(directory: Path, call_id: str) -> bool:
    """Whether the call itself still waits in the spool (its status callbacks must wait too)."""
    pattern = f"*-{CALL}-{_safe(call_id)}.json*"
    return directory.is_dir() and any(directory.glob(pattern))


def claim_all(directory: Path) -> Iterator[Entry]:
    """Entries in arrival order, each renamed to mark it as ours before it is yielded."""
    if not directory.is_dir():
        return
    for path in sorted(directory.iterdir()):
        if path.name.endswith(".json"):
            claimed = path.with_name(path.name + CLAIMED)
        elif path.name.endswith(CLAIMED) and _stale(path):
            claimed = path
        else:
            continue
        try:
            os.replace(path, claimed)
        except FileNotFoundError:
            continue  # another worker claimed it first
        try:
            os.utime(claimed)  # the claim's age, not the webhook's, decides when it is stale
            data = json.loads(claimed.read_text())
            entry = Entry(claimed, data["kind"], data)
        except (OSError, ValueError, KeyError) as error:
            fail(claimed, f"unreadable: {error}")
            continue
        yield entry


def done(entry: Entry) -> None:
    entry.path.unlink(missing_ok=True)


def release(entry: Entry) -> None:
    """Give a claimed entry back (the database went away again): replayed next time."""
    with suppress(FileNotFoundError):
        os.replace(entry.path, entry.path.with_name(entry.path.name.removesuffix(CLAIMED)))


def fail(path: Path, reason: str) -> None:
    """Set aside an entry that can never be stored, with the reason beside it."""
    failed = path.parent / FAILED_DIR
    failed.mkdir(exist_ok=True)
    target = failed / path.name.removesuffix(CLAIMED)
    with suppress(FileNotFoundError):
        os.replace(path, target)
        target.with_suffix(".reason.txt").write_text(reason + "\n")


def pending(directory: Path) -> int:
    """Entries not stored yet, claimed or not (``failed/`` holds the ones never to be)."""
    if not directory.is_dir():
        return 0
    # By name only: a file renamed by its claim between the listing and a stat would be missed.
    return sum(1 for name in os.listdir(directory) if name.endswith((".json", CLAIMED)))


def _stale(path: Path) -> bool:
    try:
        return time.time() - path.stat().st_mtime > STALE_CLAIM_SECONDS
    except FileNotFoundError:
        return False


def _safe(call_id: str) -> str:
    # Call ids come from the network: never let one name a path outside the spool.
    return re.sub(r"[^A-Za-z0-9_-]", "_", call_id)[:64]
