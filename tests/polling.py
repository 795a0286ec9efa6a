"""The one way tests wait for something that happens on another thread or in another process:
poll, and fail with what was awaited when it does not happen in time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    detail: Callable[[], object] | None = None,
    interval: float = 0.05,
) -> T:
    """Poll condition() until it returns something truthy, and return that.

    Raises AssertionError naming `what` (and, if given, what `detail()` says about the state
    at the end) once `timeout` seconds pass without it. condition() may raise to give up
    early, for example when the process it watches has exited.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            message = f"waited {timeout:g} s for {what}"
            if detail is not None:
                message += f"\n{detail()}"
            raise AssertionError(message)
        time.sleep(interval)
