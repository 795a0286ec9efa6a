"""Call-log formats: one TOML mapping file per export, so a council adds a format without code.

A mapping names the columns that hold the caller, the line called, the start time, the
duration, the direction and a call id, and says how to read the time and the duration. The
shipped presets live in `config/call_formats/` (see its README for every key); the folder is
the `call_formats_dir` setting, so a council drops its own mapping file next to them. A
mapping is validated when it is loaded, and a wrong one is refused with one line naming the
file and the key.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from gateway.settings import Settings
from routing.enums import Direction

# Found relative to the source tree as well, so the presets are there even when ccr runs from
# another working directory (tests, tools); the setting's folder is searched first.
BUILTIN_DIR = Path(__file__).resolve().parents[2] / "config" / "call_formats"

ISO = "iso"
EPOCH = "epoch"
# A date and time no format could confuse with another (day 29 > 12, hour 13, seconds 58).
_PROBE_TIME = dt.datetime(2026, 10, 29, 13, 47, 58)


class CallFormatError(ValueError):
    """A mapping file is missing or wrong, or no format fits a file; one line, for people."""


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def _timestamp_format(value: str) -> str:
    if value in (ISO, EPOCH):
        return value
    try:
        parsed = dt.datetime.strptime(_PROBE_TIME.strftime(value), value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.date() != _PROBE_TIME.date() or parsed.hour != _PROBE_TIME.hour:
        raise ValueError(
            f"expected 'iso', 'epoch' or a strptime pattern with the date and the hour "
            f"such as '%Y-%m-%d %H:%M:%S', got {value!r}"
        )
    return value


def _region(value: str | None) -> str | None:
    if value is not None and not (len(value) == 2 and value.isalpha() and value.isupper()):
        raise ValueError(f"expected a two-letter country code such as 'GB', got {value!r}")
    return value


class FieldMap(BaseModel):
    """Which column holds each part of a call (column names, as in `columns` or the header)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    caller: str = Field(min_length=1)
    called: str = Field(min_length=1)
    started_at: str = Field(min_length=1)
    duration: str | None = None  # no column: durations unknown, never flagged over_duration
    direction: str | None = None  # no column: every call takes direction.default
    call_id: str | None = None  # the system's own id for the call, when it has one

    def named(self) -> dict[str, str]:
        """Field name -> column name, for the fields this format maps."""
        return {name: column for name, column in self.model_dump().items() if column}


class TimestampRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Annotated[str, AfterValidator(_timestamp_format)] = ISO
    # The zone of times written without an offset; an offset in the value wins.
    timezone: Annotated[str, AfterValidator(_timezone)] = "Europe/London"


class DurationRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["seconds", "hh:mm:ss", "auto"] = "auto"


class DirectionRule(BaseModel):
    """Values of the direction column that mean inbound or outbound (shell-style patterns)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inbound: list[str] = Field(default_factory=lambda: ["inbound", "in"])
    outbound: list[str] = Field(default_factory=lambda: ["outbound", "out"])
    # For an empty or unlisted value (or no direction column); unset, such a row is bad.
    default: Direction | None = None

    @model_validator(mode="after")
    def _no_value_both_ways(self) -> DirectionRule:
        both = {p.casefold() for p in self.inbound} & {p.casefold() for p in self.outbound}
        if both:
            raise ValueError(f"{sorted(both)[0]!r} is listed as both inbound and outbound")
        return self

    def classify(self, value: str) -> Direction | None:
        """The direction a column value means, or the default, or None when it means neither."""
        token = value.strip().casefold()
        if token:
            for direction, patterns in (
                (Direction.INBOUND, self.inbound),
                (Direction.OUTBOUND, self.outbound),
            ):
                if any(fnmatch.fnmatchcase(token, p.casefold()) for p in patterns):
                    return direction
        return self.default


class CallFormat(BaseModel):
    """One call-log export, as its mapping file describes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    header: bool = True  # the first row names the columns
    columns: list[str] = Field(default_factory=list)  # without a header: every column, in order
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: Literal["auto", "utf-8", "cp1252"] = "auto"
    phone_region: Annotated[str | None, AfterValidator(_region)] = None
    fields: FieldMap
    timestamp: TimestampRule = Field(default_factory=TimestampRule)
    duration: DurationRule = Field(default_factory=DurationRule)
    direction: DirectionRule = Field(default_factory=DirectionRule)

    @model_validator(mode="after")
    def _columns_known(self) -> CallFormat:
        if not self.header:
            if not self.columns:
                raise ValueError("header = false needs 'columns', every column in file order")
            if len(set(self.columns)) != len(self.columns):
                raise ValueError("'columns' names a column twice")
            for field, column in self.fields.named().items():
                if column not in self.columns:
                    raise ValueError(
                        f"fields.{field}: column {column!r} is not one of the 'columns'"
                    )
        if self.fields.direction is None and self.direction.default is None:
            raise ValueError("without a fields.direction column, direction.default must be set")
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timestamp.timezone)


# --- loading --------------------------------------------------------------------------------


def format_dirs(settings: Settings) -> list[Path]:
    """Where mapping files are looked for: the configured folder, then the shipped presets."""
    configured = Path(settings.call_formats_dir)
    return [configured] if configured.resolve() == BUILTIN_DIR else [configured, BUILTIN_DIR]


def available_formats(settings: Settings) -> dict[str, Path]:
    """Format name -> mapping file, the configured folder winning over the shipped presets."""
    found: dict[str, Path] = {}
    for folder in reversed(format_dirs(settings)):
        if folder.is_dir():
            found.update((path.stem, path) for path in sorted(folder.glob("*.toml")))
    return dict(sorted(found.items()))


def load_format(name_or_path: str, settings: Settings) -> CallFormat:
    """The format with this name (or in this .toml file), validated; CallFormatError if not."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        known = available_formats(settings)
        if name_or_path not in known:
            names = ", ".join(known) or "none"
            raise CallFormatError(f"unknown call-log format {name_or_path!r} (known: {names})")
        path = known[name_or_path]
    return read_format_file(path)


def read_format_file(path: Path) -> CallFormat:
    """Read and validate one mapping file."""
    try:
        with path.open("rb") as handle:
            values = tomllib.load(handle)
    except FileNotFoundError:
        raise CallFormatError(f"call-log format file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise CallFormatError(f"call-log format {path}: not valid TOML: {exc}") from None
    values.setdefault("name", path.stem)
    try:
        return CallFormat(**values)
    except ValidationError as exc:
        raise CallFormatError(f"call-log format {path}: {_first_error(exc)}") from None


def load_all_formats(settings: Settings) -> list[CallFormat]:
    """Every available format (a broken mapping file stops the caller with its one line)."""
    return [read_format_file(path) for path in available_formats(settings).values()]


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"unknown key {where!r}"
    if error["type"] == "missing":
        return f"{where} is required"
    return f"{where}: {message}" if where else message
