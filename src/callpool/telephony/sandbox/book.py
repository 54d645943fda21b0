"""Which numbers the sandbox carrier has sold: its side of the ledger, apart from callpool's.

A real carrier keeps this in its own systems; the sandbox keeps it in memory (tests, one
process) or in a small JSON file that every process of one machine shares (``callpool serve``
and ``callpool worker``), so that a number bought by a process killed before it recorded the
purchase is still listed when the worker asks the carrier what it owns.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol


class NumberBook(Protocol):
    def owned(self) -> dict[str, str]:
        """``{number: provider_sid}`` of every number sold and not released."""

    def add(self, number: str, sid: str) -> bool:
        """Record a sale; False when the number is already sold."""

    def remove(self, sid: str) -> None:
        """Forget a sale (a number already gone is not an error)."""


class MemoryBook:
    def __init__(self) -> None:
        self._numbers: dict[str, str] = {}
        self._lock = threading.Lock()

    def owned(self) -> dict[str, str]:
        with self._lock:
            return dict(self._numbers)

    def add(self, number: str, sid: str) -> bool:
        with self._lock:
            if number in self._numbers:
                return False
            self._numbers[number] = sid
            return True

    def remove(self, sid: str) -> None:
        with self._lock:
            self._numbers = {n: s for n, s in self._numbers.items() if s != sid}


class FileBook:
    """The book in a JSON file, changed under an exclusive ``flock`` of a lock file beside it
    (processes) and written by rename (a crash mid-write leaves the previous version)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")

    def owned(self) -> dict[str, str]:
        with self._locked():
            return self._read()

    def add(self, number: str, sid: str) -> bool:
        with self._locked():
            numbers = self._read()
            if number in numbers:
                return False
            numbers[number] = sid
            self._write(numbers)
            return True

    def remove(self, sid: str) -> None:
        with self._locked():
            numbers = self._read()
            kept = {n: s for n, s in numbers.items() if s != sid}
            if kept != numbers:
                self._write(kept)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, str]:
        try:
            numbers: dict[str, str] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return numbers

    def _write(self, numbers: dict[str, str]) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(numbers, sort_keys=True))
        os.replace(temporary, self.path)
