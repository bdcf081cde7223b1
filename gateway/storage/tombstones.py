"""The tombstone log: one line per revocation and erasure, kept outside Redis and its backups.

A restored Redis backup brings back what was revoked or erased after the backup was taken.
This log is what tells the gateway, after the restore, what to destroy again
(`admin replay-erasures`). It lives on a file system the operator names
(`GATEWAY_TOMBSTONE_DIR`) and must not be restored together with Redis.

One JSON document per line, in one file per month (`tombstones-YYYY-MM.jsonl`), each line
written whole with O_APPEND, then fsynced before the revocation or erasure is acknowledged.
Writers in several processes append to the same file; a line torn by a crash is skipped
on reading and counted. A line holds only random ids (the user's, the grant's), the kind of
ending and what was destroyed: nothing that names a person.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PATTERN = "tombstones-*.jsonl"


@dataclass
class TombstoneRead:
    """The tombstones since a time, oldest first, and how many lines could not be read."""

    tombstones: list[dict[str, Any]] = field(default_factory=list)
    unreadable: int = 0


class TombstoneLog:
    """Append-only JSON lines in `folder`, created (mode 0700) when first written."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def _file(self, at: float) -> Path:
        return self.folder / time.strftime("tombstones-%Y-%m.jsonl", time.gmtime(at))

    def append(self, tombstone: dict[str, Any]) -> None:
        """Write one tombstone durably (fsync), or raise OSError: the caller decides."""
        line = (json.dumps(tombstone, sort_keys=True, separators=(",", ":")) + "\n").encode()
        with self._lock:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self._file(tombstone["at"])
            while True:
                fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)  # a prune in another process rewrites it
                    if _same_file(fd, path):
                        _append_line(fd, line)
                        return
                finally:
                    os.close(fd)  # replaced by a prune meanwhile: open it again by name

    def read(self, since: float = 0.0) -> TombstoneRead:
        """Every tombstone at or after `since`, oldest first."""
        found = TombstoneRead()
        if not self.folder.is_dir():
            return found
        for path in sorted(self.folder.glob(PATTERN)):
            for line in _lines(path):
                try:
                    tombstone = json.loads(line)
                    at = float(tombstone["at"])
                except (ValueError, KeyError, TypeError):
                    found.unreadable += 1
                    continue
                if at >= since:
                    found.tombstones.append(tombstone)
        found.tombstones.sort(key=lambda t: float(t["at"]))
        return found

    def prune(self, before: float) -> int:
        """Delete the tombstones older than `before`; returns how many went."""
        removed = 0
        if not self.folder.is_dir():
            return removed
        with self._lock:
            for path in sorted(self.folder.glob(PATTERN)):
                removed += _prune_file(path, before)
        return removed


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _append_line(fd: int, line: bytes) -> None:
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        line = b"\n" + line  # after a line torn by a crash: start a fresh one
    os.write(fd, line)  # one write of a whole line: O_APPEND keeps lines apart
    os.fsync(fd)


def _prune_file(path: Path, before: float) -> int:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        kept: list[bytes] = []
        removed = 0
        for line in _lines(path):
            try:
                old = float(json.loads(line)["at"]) < before
            except (ValueError, KeyError, TypeError):
                old = False  # unreadable: left for a person to look at
            if old:
                removed += 1
            else:
                kept.append(line if line.endswith(b"\n") else line + b"\n")
        if not removed:
            return 0
        if not kept:
            path.unlink()
            return removed
        fresh = path.with_suffix(".tmp")
        fresh.write_bytes(b"".join(kept))
        os.chmod(fresh, 0o600)
        os.replace(fresh, path)  # appenders that waited on the lock reopen by name
        return removed
    finally:
        os.close(fd)


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        for line in file:
            if line.strip():
                yield line
