"""Settings from config/ccr.toml (or CCR_CONFIG) overridden by CCR_* environment variables.

Validated once at start: a wrong value stops the program with one line naming the setting.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from gateway.volume_settings import VolumeSettings
from routing.approvals import ApprovalRules
from routing.enums import Stage

DEFAULT_CONFIG_FILE = Path("config/ccr.toml")


class SettingsError(Exception):
    """A setting is missing or wrong; the message is one line naming it."""


def _split_list(value: Any) -> Any:
    # Environment variables carry lists as comma-separated text.
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _host_port(value: str) -> str:
    # Port 0 lets the system choose a free port; the servers print the one they got.
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"expected host:port such as 127.0.0.1:2525, got {value!r}")
    return value


def _downstream(value: str) -> str:
    if value.startswith("maildir:") and len(value) > len("maildir:"):
        return value
    parts = urlsplit(value)
    if parts.scheme == "smtp" and parts.hostname and parts.port:
        return value
    raise ValueError(f"expected smtp://host:port or maildir:PATH, got {value!r}")


def _database_url(value: str) -> str:
    if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
        raise ValueError(f"expected a sqlite:/// or postgresql+psycopg:// URL, got {value!r}")
    return value


def _redis_url(value: str | None) -> str | None:
    if value and not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"expected a redis:// URL, got {value!r}")
    return value or None


def _mailbox(value: str) -> str:
    local, at, domain = value.partition("@")
    if not (local and at and "." in domain) or " " in value:
        raise ValueError(f"expected an email address, got {value!r}")
    return value.lower()


def _public_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"expected the web UI's address, such as https://ccr.example.org, got {value!r}"
        )
    return value.rstrip("/")


def _folder(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.strip():
        raise ValueError("expected a folder path, got an empty value")
    if Path(value).exists() and not Path(value).is_dir():
        raise ValueError(f"expected a folder, but {value!r} is a file")
    return value


def _readable_file(value: str | None) -> str | None:
    if value is None:
        return None
    if not Path(value).is_file():
        raise ValueError(f"no such file: {value!r}")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


HostPort = Annotated[str, AfterValidator(_host_port)]
Mailbox = Annotated[str, AfterValidator(_mailbox)]
MailboxList = Annotated[list[Mailbox], BeforeValidator(_split_list)]
ReadableFile = Annotated[str | None, AfterValidator(_readable_file)]
DomainList = Annotated[list[str], BeforeValidator(_split_list)]
StageList = Annotated[list[Stage], BeforeValidator(_split_list)]


class Settings(BaseModel):
    """Every setting with its default: the embedded defaults need no configuration at all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: Annotated[str, AfterValidator(_database_url)] = "sqlite:///var/ccr.db"
    redis_url: Annotated[str | None, AfterValidator(_redis_url)] = None
    smtp_listen: HostPort = "127.0.0.1:2525"
    web_listen: HostPort = "127.0.0.1:8025"
    # waitress worker threads: requests run on these, connections wait on one event loop.
    web_threads: Annotated[int, Field(ge=1, le=256)] = 8
    # Staff sign-in cookies carry the Secure flag: set it when the web UI is reached over
    # HTTPS (a TLS-terminating proxy in front of waitress), which production must be.
    web_secure_cookies: bool = False
    # How many reverse proxies stand in front of the web server. Each one adds the address it
    # heard from to X-Forwarded-For; the last this-many entries are believed (and the scheme
    # from X-Forwarded-Proto), so the audit log records the staff member's own address. 0:
    # the headers are ignored, as anyone can send them.
    web_trusted_proxies: Annotated[int, Field(ge=0, le=5)] = 0
    # A signed-in session ends after this long without a request, and after web_session_hours
    # whatever happens, so a shared contact-centre screen does not stay signed in.
    web_session_idle_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 30
    web_session_hours: Annotated[int, Field(ge=1, le=24)] = 10
    # Failed sign-ins in a row before an account is locked; each further failure doubles
    # the lock (1 minute, 2, 4, ... up to an hour).
    web_lockout_after: Annotated[int, Field(ge=1, le=100)] = 5
    downstream: Annotated[str, AfterValidator(_downstream)] = "maildir:var/mail"
    accepted_domains: DomainList = Field(default_factory=lambda: ["council.example.org"])
    secret_key: str | None = None
    calls_drop: Annotated[str | None, AfterValidator(_folder)] = None
    # How often the drop folder is looked at, and how long a file must be left unchanged
    # before it is taken (so a file still being copied in is not read half-way).
    calls_drop_poll_seconds: Annotated[int, Field(ge=1, le=3600)] = 10
    calls_drop_settle_seconds: Annotated[float, Field(ge=0, le=3600)] = 10.0
    # Format of every file in the drop folder; unset: recognised from each file's first line.
    calls_drop_format: str | None = None
    # Call-log format mappings (one TOML file per format); the shipped presets are found
    # here, and a council adds its own export by adding a file.
    call_formats_dir: str = "config/call_formats"

    smtp_hostname: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9.-]+$")] = (
        "ccr-gateway.localdomain"
    )
    spool_dir: str = "var/spool"
    max_message_bytes: Annotated[int, Field(ge=1024, le=200 * 1024 * 1024)] = 25 * 1024 * 1024
    max_recipients: Annotated[int, Field(ge=1, le=1000)] = 100
    # SMTP sessions open at once; one more is answered 421 and closed. Each idle session is
    # held for up to aiosmtpd's 300 s timeout, so without a limit a few hundred idle
    # connections would take the gateway's descriptors. Real senders retry a 421 later.
    smtp_max_connections: Annotated[int, Field(ge=1, le=10_000)] = 100
    tls_cert_file: ReadableFile = None
    tls_key_file: ReadableFile = None
    downstream_starttls: bool = True
    # A private CA bundle for the downstream's certificate (councils' internal relays often
    # use one); without it the system's trusted CAs apply.
    downstream_ca_file: ReadableFile = None
    delivery_lifetime_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 120.0
    delivery_sweep_seconds: Annotated[int, Field(ge=1, le=3600)] = 30
    delivery_retry_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0

    records_mailbox: Mailbox = "records@council.example.org"
    ig_mailbox: Mailbox = "information.governance@council.example.org"
    # Told at once of every safeguarding concern (a notice with a link, never the words).
    safeguarding_mailbox: Mailbox = "safeguarding@council.example.org"
    # Letters to the customer, from the council's own templates in letters_dir: who they come
    # from (the address on one line, parts separated by commas, or on several lines), and
    # whether the council's policy offers an appeal. With appeals_offered, a letter about a
    # decision gives appeal_days from the day it was sent to appeal; without, it points the
    # customer to the Local Government and Social Care Ombudsman instead.
    council_name: Annotated[str, Field(min_length=1, max_length=200)] = "Example Council"
    council_address: Annotated[str, Field(min_length=1, max_length=500)] = (
        "Council Offices, 1 High Street, Exampletown, EX1 1AA"
    )
    appeals_offered: bool = True
    letters_dir: str = "config/letters"
    # Where staff reach the web UI: the links in notices the gateway sends start with it.
    public_url: Annotated[str, AfterValidator(_public_url)] = "http://127.0.0.1:8025"
    exempt_mailboxes: MailboxList = Field(default_factory=list)
    installation_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.-]+$")] = (
        "ccr-gateway"
    )
    fold_plus_addresses: bool = True
    phone_region: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "GB"
    timezone: Annotated[str, AfterValidator(_timezone)] = "Europe/London"
    exclude_bank_holidays: bool = True

    register_refresh_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    default_review_months: Annotated[int, Field(ge=1, le=12)] = 3
    appeal_days: Annotated[int, Field(ge=0, le=90)] = 14
    # Approvals by stage (routing/approvals.py). The stages only a senior approver may
    # approve (the rest: any approver); the stages whose approver declares no prior
    # involvement in the case; the stages whose proposal needs a business case. Empty: any
    # approver approves any stage and nothing more is asked.
    senior_approval_stages: StageList = Field(default_factory=list)
    no_prior_involvement_stages: StageList = Field(default_factory=list)
    business_case_stages: StageList = Field(default_factory=list)
    review_reminder_days: Annotated[int, Field(ge=0, le=90)] = 14
    dormant_after_days: Annotated[int, Field(ge=0, le=3650)] = 0
    retention_months: Annotated[int, Field(ge=1, le=240)] = 24
    # How long records of people no restriction covers are kept (docs/retention.md).
    contact_retention_months: Annotated[int, Field(ge=1, le=120)] = 12
    mail_record_days: Annotated[int, Field(ge=1, le=3650)] = 90
    closed_alert_months: Annotated[int, Field(ge=1, le=120)] = 24
    # A proposal (draft or awaiting approval) unchanged this long is withdrawn by the
    # system, so that it stops keeping the person's records.
    abandoned_proposal_months: Annotated[int, Field(ge=1, le=60)] = 6
    # What staff see in the header and every page title: the service, not the package.
    service_name: Annotated[str, Field(min_length=1, max_length=80)] = (
        "Customer contact restrictions"
    )
    # Audit entries are evidence for years; the database refuses to delete one younger than
    # two (migration 0009), so no setting may go below that.
    audit_retention_years: Annotated[int, Field(ge=2, le=100)] = 6
    # The SPOC's queue: how long each item keeps its copy of the message (docs/retention.md),
    # and how many days a new item has before it shows as overdue without an outcome.
    spoc_item_days: Annotated[int, Field(ge=1, le=3650)] = 365
    spoc_response_days: Annotated[int, Field(ge=0, le=90)] = 5
    # The digest of due items goes on a restriction's response day at this local hour.
    spoc_digest_hour: Annotated[int, Field(ge=0, le=23)] = 8
    maintenance_interval_seconds: Annotated[int, Field(ge=5, le=86400)] = 3600
    log_level: Annotated[str, Field(pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")] = "INFO"
    # Contact volume alert thresholds (gateway/volume_settings.py; CCR_VOLUME takes JSON).
    volume: VolumeSettings = Field(default_factory=VolumeSettings)

    def approval_rules(self) -> ApprovalRules:
        """The approval settings as the lifecycle reads them."""
        return ApprovalRules(
            senior_stages=frozenset(self.senior_approval_stages),
            declaration_stages=frozenset(self.no_prior_involvement_stages),
            business_case_stages=frozenset(self.business_case_stages),
        )


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: Path | None = None
) -> Settings:
    """Read the TOML file (if present) and the CCR_* environment, validate, and return them."""
    environ = os.environ if environ is None else environ
    values = _read_toml(
        config_file or Path(environ.get("CCR_CONFIG", DEFAULT_CONFIG_FILE)),
        explicit=config_file is not None or "CCR_CONFIG" in environ,
    )
    values.update(_read_environment(environ))
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsError(_first_error_line(exc)) from None


def _read_toml(path: Path, *, explicit: bool) -> dict[str, Any]:
    if not path.exists():
        if explicit:
            raise SettingsError(f"configuration file {path} does not exist (CCR_CONFIG)")
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"configuration file {path} is not valid TOML: {exc}") from None


def _read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    known = {f"CCR_{name.upper()}": name for name in Settings.model_fields}
    unknown = sorted(
        k
        for k in environ
        if k.startswith("CCR_")
        and k not in known
        and k != "CCR_CONFIG"
        and not k.startswith("CCR_TEST_")
    )
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]} in the environment")
    return {known[key]: value for key, value in environ.items() if key in known}


def _first_error_line(exc: ValidationError) -> str:
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "?"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"unknown setting {name!r} in the configuration file"
    return f"setting {name} (CCR_{name.upper()}): {message}"
