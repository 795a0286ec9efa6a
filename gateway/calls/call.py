"""A call as read from a log file or received live, before it is decided and recorded."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from routing.enums import Direction


# Not frozen: a frozen dataclass pays for object.__setattr__ on every field, and a log can
# hold millions of these.
@dataclass(slots=True)
class Call:
    """One call: raw numbers as the system wrote them, the start in UTC (aware)."""

    caller: str
    called: str
    started_at: dt.datetime
    duration_seconds: int | None
    direction: Direction
    call_id: str | None = None  # the telephony system's id, part of the key when present
    source_key: str | None = None  # a key chosen by the sender (API external id), used as is
    line: int = 0  # where it was in the file (0: not from a file)
    clock_change: str | None = None  # "ambiguous" or "skipped" local time (see reader)


@dataclass(frozen=True, slots=True)
class BadRow:
    """A record that is not a call, and why, by its first line in the file."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"
