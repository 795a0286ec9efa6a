"""The `volume` settings: thresholds for contact volume alerts, and how far a rescan looks back.

In config/ccr.toml (dotted keys, so the block can sit anywhere in the file)::

    volume.rules.emails_1d = 10                        # more than 10 emails in any 24 hours
    volume.services."Housing repairs".emails_1d = 25   # that service's own threshold
    volume.services."Adult social care".calls_1d = false   # never counted for that service

or, whole, as JSON in CCR_VOLUME. Rules not named keep their defaults
(routing.volume.DEFAULT_THRESHOLDS). Every mistake is one line naming the key.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from routing.volume import DEFAULT_THRESHOLDS, RuleSet, VolumeConfigError, build_rules

KEYS = ("rules", "services", "rescan_days")
MAX_RESCAN_DAYS = 366


class VolumeSettings(BaseModel):
    """Contact volume thresholds (merged over the defaults) and the rescan look-back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: dict[str, int | bool] = Field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    services: dict[str, dict[str, int | bool]] = Field(default_factory=dict)
    # `ccr alerts rescan` rebuilds alerts for windows ending in this many days up to now.
    rescan_days: int = 90

    @model_validator(mode="before")
    @classmethod
    def _checked(cls, value: Any) -> Any:
        # Checked here, not field by field, so that every message names its key in full.
        if isinstance(value, str):
            value = _from_json(value)
        if not isinstance(value, dict):
            raise ValueError("expected a table of volume settings")
        unknown = sorted(set(value) - set(KEYS))
        if unknown:
            raise ValueError(f"unknown key volume.{unknown[0]}; expected one of {', '.join(KEYS)}")
        rules = {**DEFAULT_THRESHOLDS, **_table(value.get("rules", {}), "volume.rules")}
        services = _table(value.get("services", {}), "volume.services")
        try:
            build_rules(rules, services)
        except VolumeConfigError as exc:
            raise ValueError(f"volume.{exc}") from None
        days = value.get("rescan_days", 90)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_RESCAN_DAYS:
            raise ValueError(
                f"volume.rescan_days: expected a whole number of days from 1 to "
                f"{MAX_RESCAN_DAYS}, got {days!r}"
            )
        return {"rules": rules, "services": services, "rescan_days": days}

    @cached_property
    def rule_set(self) -> RuleSet:
        """The rules in force, built once per settings object."""
        return build_rules(self.rules, self.services)


def _from_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ValueError('expected JSON such as {"rules": {"emails_1d": 20}}') from None


def _table(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a table")
    return dict(value)
