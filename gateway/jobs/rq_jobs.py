"""The job class `ccr worker` runs rq jobs with."""

from __future__ import annotations

from typing import Any

from rq.job import Job
from rq.utils import import_attribute

# rq names a queued job's function by its import path. These modules moved to their
# folders in release 0.2; a job queued in Redis by a process of the release before still
# runs after the upgrade. Remove in the release after 0.2.
MOVED_MODULES = {
    "gateway.delivery": "gateway.mail.delivery",
    "gateway.volume": "gateway.services.volume",
    "gateway.maintenance": "gateway.services.maintenance",
}


def current_path(func_name: str) -> str:
    """Where a job's function lives now, for a path recorded before a module moved."""
    module, _, name = func_name.rpartition(".")
    return f"{MOVED_MODULES.get(module, module)}.{name}"


class CcrJob(Job):
    @property
    def func(self) -> Any:
        if self.func_name is None or self.instance:
            return super().func
        return import_attribute(current_path(self.func_name))
