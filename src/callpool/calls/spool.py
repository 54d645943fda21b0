"""Every call and status callback, kept as a file before it is answered, until it is stored.

One JSON file per webhook in ``settings.call_spool_dir``, written atomically and synced (the
file and its directory), named so that a directory listing is arrival order.
``service.replay_spool`` stores them in the background, at once when the database answers and
later when it does not. A replayer claims a file by renaming it, so several replayers (each app
process, the worker) never store one twice.

A webhook does not wait for those two syncs: each is a commit of the filesystem's journal,
and on a busy disk one took up to 165 ms here. It writes its entry into a free slot of its
process's ``Journal`` (a preallocated file, overwritten in place and synced with ``fdatasync``:
no metadata changes, so no filesystem-journal commit; p99 5 ms against 26 ms on the same disk
under load), and the journal's thread then publishes the entry as a file and frees the slot.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from callpool.calls.routing import write_atomically

log = logging.getLogger(__name__)

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


def spool(
    directory: Path,
    kind: str,
    call_id: str,
    data: dict[str, Any],
    *,
    journal: Journal | None = None,
) -> None:
    """Write one entry, durably; ``data`` must hold ``at`` (when the webhook arrived, ISO 8601).
    Into ``journal`` if one is given and has room, else straight to its file."""
    if journal is None or not journal.write(kind, call_id, data):
        _publish(directory, time.time_ns(), kind, call_id, data)


def _publish(directory: Path, ns: int, kind: str, call_id: str, data: dict[str, Any]) -> None:
    path = directory / f"{ns:020d}-{kind}-{_safe(call_id)}.json"
    write_atomically(path, json.dumps({**data, "kind": kind, "call_id": call_id}))
    _sync_directory(directory)  # the rename too must survive a power cut: the call is answered


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
    """Entries not stored yet, claimed, or still in a journal (``failed/`` holds the ones
    never to be)."""
    if not directory.is_dir():
        return 0
    names = os.listdir(directory)
    # By name only: a file renamed by its claim between the listing and a stat would be missed.
    files = sum(1 for name in names if name.endswith((".json", CLAIMED)))
    journals = (directory / name for name in names if name.endswith(JOURNAL_SUFFIX))
    return files + sum(len(_slots(path)) for path in journals)


# The journal: the webhooks' fast, durable front of the spool

SLOT_BYTES = 4096  # one page: a call's entry takes ~300 bytes
JOURNAL_SLOTS = 256  # 1 MiB a process; when all are taken, entries go straight to files
JOURNAL_SUFFIX = ".slots"
_EMPTY = bytes(SLOT_BYTES)


class Journal:
    """This process's slots for spool entries, in one preallocated file of ``directory``.

    ``write`` puts an entry in a free slot and syncs it; a thread publishes written slots as
    spool files, in the order they were taken, then frees them. The file is locked while its
    process lives; a journal left by a process that died is published by the next one to
    start on the folder. A slot published twice (a crash between publishing and freeing it)
    is two files of one entry, which the replay stores once.
    """

    def __init__(self, directory: Path, on_published: Callable[[], None] = lambda: None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.on_published = directory, on_published
        self.path = directory / f"journal-{os.getpid()}-{time.time_ns()}{JOURNAL_SUFFIX}"
        with self.path.open("wb") as file:  # written out, not sparse: no allocation later
            file.write(bytes(SLOT_BYTES * JOURNAL_SLOTS))
            file.flush()
            os.fsync(file.fileno())
        _sync_directory(directory)
        self._fd = os.open(self.path, os.O_RDWR)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._free = deque(range(JOURNAL_SLOTS))
        self._taken: dict[int, int] = {}  # slot → order taken (ns), written or being written
        self._written: set[int] = set()
        self._lock = threading.Lock()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="spool-journal")

    def start(self) -> None:
        self._thread.start()

    def write(self, kind: str, call_id: str, data: dict[str, Any]) -> bool:
        """Put an entry in a slot, durably; False when it must go to a file instead."""
        with self._lock:
            if not self._free:
                return False
            slot, ns = self._free.popleft(), time.time_ns()
            self._taken[slot] = ns
        record = json.dumps({**data, "kind": kind, "call_id": call_id, "ns": ns}).encode()
        if len(record) > SLOT_BYTES:
            with self._lock:
                del self._taken[slot]
                self._free.appendleft(slot)
            return False
        os.pwrite(self._fd, record.ljust(SLOT_BYTES, b"\0"), slot * SLOT_BYTES)
        os.fdatasync(self._fd)
        with self._lock:
            self._written.add(slot)
        self._wake.set()
        return True

    def close(self) -> None:
        """Publish what is left and remove the file (kept if publishing failed)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(30)
        try:
            self._publish_written()
        except OSError:
            log.exception("could not publish the call journal %s; the next start will", self.path)
            os.close(self._fd)
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)

    def _run(self) -> None:
        self._recover_others()
        self.on_published()
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                if self._publish_written():
                    self.on_published()
            except OSError:  # the disk: the slots stay taken and are tried again
                log.exception("could not publish call journal entries")
                self._stop.wait(1.0)

    def _publish_written(self) -> int:
        with self._lock:
            # In the order taken; a slot still being written holds back the ones after it.
            ready = []
            for slot, _ in sorted(self._taken.items(), key=lambda item: item[1]):
                if slot not in self._written:
                    break
                ready.append(slot)
        for slot in ready:
            record = _record(os.pread(self._fd, SLOT_BYTES, slot * SLOT_BYTES))
            if record is not None:
                _publish_record(self.directory, record)
            # Not synced: a crash before the zeros reach the disk publishes it again, harmless.
            os.pwrite(self._fd, _EMPTY, slot * SLOT_BYTES)
            with self._lock:
                del self._taken[slot]
                self._written.discard(slot)
                self._free.append(slot)
        return len(ready)

    def _recover_others(self) -> None:
        for path in sorted(self.directory.glob(f"*{JOURNAL_SUFFIX}")):
            if path == self.path:
                continue
            try:
                recover_journal(path)
            except OSError:
                log.exception("could not recover the call journal %s", path)


def recover_journal(path: Path) -> int:
    """Publish the entries of a journal whose process is gone, then remove it; 0 (and nothing
    done) while its process still holds it."""
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # alive
        records = _records(path)
        for record in records:
            _publish_record(path.parent, record)
        path.unlink()
        return len(records)
    finally:
        os.close(fd)


def _records(path: Path) -> list[dict[str, Any]]:
    """The entries a journal file holds, in the order they were taken."""
    records = [record for slot in _slots(path) if (record := _record(slot)) is not None]
    return sorted(records, key=lambda record: int(record["ns"]))


def _slots(path: Path) -> list[bytes]:
    """A journal's slots that are not free (some may be being written)."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return []
    slots = (content[at : at + SLOT_BYTES] for at in range(0, len(content), SLOT_BYTES))
    return [slot for slot in slots if slot.strip(b"\0")]


def _record(slot: bytes) -> dict[str, Any] | None:
    if not slot.strip(b"\0"):
        return None  # free
    try:
        record: dict[str, Any] = json.loads(slot.rstrip(b"\0"))
    except ValueError:
        log.error("a call journal slot is unreadable (a write cut short by a crash): skipped")
        return None
    return record


def _publish_record(directory: Path, record: dict[str, Any]) -> None:
    data = {key: value for key, value in record.items() if key not in ("kind", "call_id", "ns")}
    _publish(directory, int(record["ns"]), record["kind"], record["call_id"], data)


def _stale(path: Path) -> bool:
    try:
        return time.time() - path.stat().st_mtime > STALE_CLAIM_SECONDS
    except FileNotFoundError:
        return False


def _safe(call_id: str) -> str:
    # Call ids come from the network: never let one name a path outside the spool.
    return re.sub(r"[^A-Za-z0-9_-]", "_", call_id)[:64]
