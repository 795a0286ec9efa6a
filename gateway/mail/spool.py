"""The durable message spool: write to tmp, fsync, rename, fsync the directory.

A message is in the spool before the routing rows that name it are committed, and both
happen before the gateway answers 250, so an acknowledged message survives a crash.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path


class Spool:
    """Message files by queue id under `<root>/messages`, written atomically and durably."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        self._messages = self.root / "messages"
        self._orphans = self.root / "orphans"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._messages.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def new_queue_id() -> str:
        """Time-ordered and unique across processes and machines sharing the database."""
        return f"{time.time_ns():x}{secrets.token_hex(6)}"

    def store(self, queue_id: str, data: bytes) -> Path:
        """Write one message and make it durable; raises OSError if the disk refuses."""
        self.write(queue_id, data)
        self.sync()
        return self._messages / queue_id

    def write(self, queue_id: str, data: bytes) -> None:
        """Write one message's file durably; it is findable after a crash once `sync` ran.

        Callers on several threads write at once, so their fsyncs share journal commits;
        one `sync` afterwards makes all their names durable.
        """
        temporary = self._tmp / queue_id
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temporary, self._messages / queue_id)

    def sync(self) -> None:
        """Make every message renamed into the spool so far durable (its directory entry)."""
        _fsync_directory(self._messages)

    def read(self, queue_id: str) -> bytes:
        return (self._messages / queue_id).read_bytes()

    def remove(self, queue_id: str) -> None:
        """Forget a message every copy of which has been delivered."""
        (self._messages / queue_id).unlink(missing_ok=True)

    def exists(self, queue_id: str) -> bool:
        return (self._messages / queue_id).exists()

    def older_than(self, seconds: float) -> list[str]:
        """Queue ids of the message files last written more than `seconds` ago."""
        return _names_older_than(self._messages, seconds)

    def set_aside(self, queue_id: str) -> None:
        """Move a message file no stored message names into `orphans/`, kept a while.

        Set aside, not removed: the database it was checked against may be a restored
        backup, or the wrong one, and then this file is someone's acknowledged mail.
        """
        self._orphans.mkdir(exist_ok=True)
        os.rename(self._messages / queue_id, self._orphans / queue_id)
        os.utime(self._orphans / queue_id)  # kept for its time from now, not from arrival

    def forget_old(self, orphan_seconds: float, temporary_seconds: float) -> int:
        """Remove orphans set aside, and half-written files (never acknowledged), this old."""
        removed = 0
        for folder, seconds in ((self._orphans, orphan_seconds), (self._tmp, temporary_seconds)):
            for name in _names_older_than(folder, seconds):
                with contextlib.suppress(FileNotFoundError):
                    (folder / name).unlink()
                    removed += 1
        return removed


def _fsync_directory(path: Path) -> None:
    # The rename is only durable once the directory entry itself is on disk.
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _names_older_than(folder: Path, seconds: float) -> list[str]:
    cutoff = time.time() - seconds
    found = []
    if not folder.is_dir():
        return found
    with os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):  # removed while we looked
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    found.append(entry.name)
    return found
