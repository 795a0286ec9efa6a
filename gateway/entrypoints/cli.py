"""The `ccr` command: thin wrappers over the runtime; bad input gets one line and exit 2."""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, Protocol

import click
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from gateway.jobs.queue import InProcessQueue
from gateway.services.accounts import AccountError
from gateway.services.register_service import RegisterError
from gateway.settings import SettingsError
from routing.alerts import AlertRefused
from routing.enums import LetterKind, Role
from routing.lifecycle import TransitionRefused
from routing.windows import WindowSyntaxError

log = logging.getLogger("ccr")

USER_ERRORS: tuple[type[Exception], ...] = (
    SettingsError,
    RegisterError,
    AccountError,
    TransitionRefused,
    WindowSyntaxError,
    AlertRefused,
)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: run the command, turning every expected failure into one line."""
    # Everything ccr writes (database, spool, Maildirs, exports) is personal data: 0600/0700.
    os.umask(0o077)
    try:
        cli.main(args=argv, prog_name="ccr", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        _fail("aborted", 1)
    except click.ClickException as exc:
        _fail(exc.format_message(), 2)
    except USER_ERRORS as exc:
        _fail(str(exc), 2)
    except _call_format_errors() as exc:
        _fail(str(exc), 2)
    except _letter_errors() as exc:
        _fail(str(exc), 2)
    except _csv_errors() as exc:
        # The summary line first, then the line-numbered report the spreadsheet owner needs.
        click.echo(f"ccr: error: {exc}", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)
    except (OperationalError, ProgrammingError) as exc:
        _fail(_database_problem(exc), 1)
    sys.exit(0)


def _database_problem(exc: DBAPIError) -> str:
    text = str(exc.orig).lower()
    if "no such table" in text or ("does not exist" in text and "relation" in text):
        return "the database has no tables yet: run `ccr db upgrade`"
    if "connect" in text:
        return "cannot connect to the database named by CCR_DATABASE_URL (database_url)"
    # The driver's message can quote data, so only its kind is shown.
    return f"cannot use the database: {type(exc.orig).__name__}"


def _letter_errors() -> tuple[type[Exception], ...]:
    from gateway.services.letters import LetterError
    from routing.appeals import AppealRefused

    return (LetterError, AppealRefused)


def _csv_errors() -> tuple[type[Exception], ...]:
    from gateway.services.register_csv import CsvImportError

    return (CsvImportError,)


def _call_format_errors() -> tuple[type[Exception], ...]:
    from gateway.calls.formats import CallFormatError

    return (CallFormatError,)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"ccr: error: {message}", err=True)
    sys.exit(code)


def _runtime(*, one_shot: bool = True) -> Any:
    """The runtime; for a one-shot command, every audit entry it writes names the operating
    system account that ran it as its source, whoever `--by` or `--approved-by` names as
    the actor (so the log shows who typed it, not only whose authority it claims)."""
    from gateway.bootstrap import bootstrap
    from gateway.store.db import stamp_audit_source

    rt = bootstrap()
    if one_shot:
        stamp_audit_source(rt.session_factory, _cli_actor())
    return rt


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _cli_actor() -> str:
    # Commands run by the IT team are audited under the operating-system account.
    return f"cli:{getpass.getuser()}"


@click.group(help="Customer Contact Restriction gateway.")
def cli() -> None:
    pass


# --- database -----------------------------------------------------------------------------


@cli.group(help="Database schema.")
def db() -> None:
    pass


@db.command("upgrade", help="Apply every pending migration.")
def db_upgrade() -> None:
    from gateway.settings import load_settings
    from gateway.store.db import upgrade_database

    settings = load_settings()
    upgrade_database(settings.database_url)
    click.echo("database is up to date")


# --- accounts -----------------------------------------------------------------------------


@cli.group(help="Staff accounts.")
def user() -> None:
    pass


@user.command("add", help="Create a staff account (prompts for a password, or generates one).")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", "display_name", help="Name shown in the web UI.")
@click.option("--generate-password", is_flag=True, help="Generate and print a password.")
def user_add(email: str, role: str, display_name: str | None, generate_password: bool) -> None:
    from gateway.services.accounts import add_user
    from gateway.services.accounts import generate_password as make_password

    generated = generate_password or not sys.stdin.isatty()
    password = make_password() if generated else _prompt_password()
    rt = _runtime()
    with rt.uow() as session:
        created = add_user(
            session,
            email=email,
            role=Role(role),
            password=password,
            actor=_cli_actor(),
            now=_now(),
            display_name=display_name,
        )
        address = created.email
    click.echo(f"created {role} account {address}")
    if generated:
        click.echo(f"password (shown once): {password}")


@user.command("list", help="List the staff accounts: email, role, and whether each can sign in.")
def user_list() -> None:
    from gateway.services.accounts import staff_accounts

    rt = _runtime()
    with rt.session_factory() as session:
        accounts = staff_accounts(session, now=_now())
    if not accounts:
        click.echo("no staff accounts yet: create one with `ccr user add EMAIL --role admin`")
        return
    width = max(len(a.email) for a in accounts)
    for account in accounts:
        click.echo(f"{account.email:<{width}}  {account.role:<9}  {account.state}")


@user.command(
    "reset-password",
    help="Give an account a temporary password (printed once) that must be changed at its "
    "next sign-in; also unlocks it and signs it out everywhere. For when no admin can sign in.",
)
@click.argument("email")
def user_reset_password(email: str) -> None:
    from gateway.services.staff_passwords import reset_password_by_email

    rt = _runtime()
    with rt.uow() as session:
        reset = reset_password_by_email(session, email=email, actor=_cli_actor(), now=_now())
    click.echo(f"{reset.email}: signed out everywhere; temporary password (shown once):")
    click.echo(reset.temporary_password)
    click.echo("It only opens the page where its owner chooses a new password.")


@user.command("deactivate", help="Switch an account off: signed out now, cannot sign in.")
@click.argument("email")
def user_deactivate(email: str) -> None:
    _set_user_active(email, active=False)
    click.echo(f"{email}: deactivated, signed out everywhere")


@user.command("reactivate", help="Let a deactivated account sign in again.")
@click.argument("email")
def user_reactivate(email: str) -> None:
    _set_user_active(email, active=True)
    click.echo(f"{email}: can sign in again")


def _set_user_active(email: str, *, active: bool) -> None:
    from gateway.services.accounts import account_id_by_email, set_active

    rt = _runtime()
    with rt.uow() as session:
        user_id = account_id_by_email(session, email)
        # The IT team acts from outside the web UI, as no staff account (so never "itself").
        set_active(
            session, user_id=user_id, active=active, actor=_cli_actor(), actor_id=0, now=_now()
        )


def _prompt_password() -> str:
    return click.prompt(
        "Password (12 characters or more)", hide_input=True, confirmation_prompt=True
    )


@cli.group(help="API tokens for integrations.")
def token() -> None:
    pass


@token.command("add", help="Create an API token; it is printed once and stored hashed.")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="lookup or calls (repeatable).",
)
def token_add(name: str, scopes: tuple[str, ...]) -> None:
    from gateway.services.accounts import add_token

    rt = _runtime()
    with rt.uow() as session:
        secret = add_token(session, name=name, scopes=list(scopes), actor=_cli_actor(), now=_now())
    click.echo(f"token {name} (scopes: {', '.join(sorted(set(scopes)))}); shown once:")
    click.echo(secret)


@token.command("revoke", help="Revoke an API token; it stops working within seconds.")
@click.argument("name")
def token_revoke(name: str) -> None:
    from admin_ui.api.tokens import DEFAULT_CACHE_SECONDS
    from gateway.services.accounts import revoke_token

    rt = _runtime()
    with rt.uow() as session:
        revoke_token(session, name=name, actor=_cli_actor(), now=_now())
    click.echo(f"token {name} revoked; refused everywhere within {DEFAULT_CACHE_SECONDS:g} s")


# --- the register -------------------------------------------------------------------------


@cli.command(help="Print what applies now to an email address or phone number.")
@click.argument("address_or_number")
def lookup(address_or_number: str) -> None:
    from gateway.services.lookup_service import lookup_now

    rt = _runtime()
    answer = lookup_now(rt, address_or_number, actor=_cli_actor(), source="cli")
    from routing.lookup import describe

    for line in describe(answer, rt.timezone):
        click.echo(line)


@cli.group(help="Import or export the register as CSV.")
def register() -> None:
    pass


@register.command(
    "import",
    help="Load a register CSV (all-or-nothing): in force now, for the approver to confirm.",
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--approved-by",
    required=True,
    help="Email of the approver who confirms or withdraws each imported restriction.",
)
def register_import(file: Path, approved_by: str) -> None:
    from gateway.services.register_csv import import_register

    if not file.exists():
        raise click.ClickException(f"{file}: no such file")
    rt = _runtime()
    summary = import_register(
        rt, file, approved_by=approved_by, imported_by=_cli_actor(), now=_now()
    )
    rt.register.invalidate()
    click.echo(
        f"imported {summary.restrictions_created} restriction(s) for "
        f"{summary.customers_created} new and {summary.customers_matched} existing "
        f"customer(s); {summary.identities_linked} identities linked; in force now, "
        f"awaiting confirmation by {approved_by.strip().lower()}"
    )


@register.command("export", help="Write the register as CSV (to stdout or --output).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path))
def register_export(output: Path | None) -> None:
    from gateway.services.register_csv import export_register

    rt = _runtime()
    if output is None:
        export_register(rt, sys.stdout, actor=_cli_actor(), now=_now())
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        rows = export_register(rt, handle, actor=_cli_actor(), now=_now())
    click.echo(f"wrote {rows} restriction(s) to {output}", err=True)


# --- call logs ----------------------------------------------------------------------------


@cli.group(help="Call logs: import files of calls, list the formats they can be in.")
def calls() -> None:
    pass


@calls.command("import", help="Import a call-log file; prints a summary with the flag counts.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "format_name",
    help="Format name (see `ccr calls formats`) or a mapping .toml file; "
    "default: recognised from the file's first row.",
)
def calls_import(file: Path, format_name: str | None) -> None:
    from gateway.calls import CallImportError, import_file, summary_lines
    from routing.enums import CallImportStatus

    if not file.is_file():
        raise click.ClickException(f"{file}: no such file")
    rt = _runtime()
    try:
        report = import_file(rt, file, format_name, source="cli")
    except CallImportError as exc:
        raise click.ClickException(str(exc)) from None
    for line in summary_lines(report):
        click.echo(line)
    if isinstance(rt.jobs, InProcessQueue):
        # This process is the worker for the jobs the import queued (contact volume).
        rt.jobs.join(timeout=600)
    if report.status is not CallImportStatus.DONE:
        raise click.ClickException(report.error or "nothing was imported")


@calls.command("formats", help="List the call-log formats (mapping files) available.")
def calls_formats() -> None:
    from gateway.calls.formats import available_formats, read_format_file
    from gateway.settings import load_settings

    for name, path in available_formats(load_settings()).items():
        click.echo(f"{name}\t{read_format_file(path).description}\t({path})")


@cli.command(help="Load fictional demo data (example.org addresses, Ofcom drama numbers).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the register has customers.")
def demo(if_empty: bool) -> None:
    from gateway.services.demo import load_demo

    rt = _runtime()
    loaded = load_demo(rt, now=_now(), only_if_empty=if_empty)
    if not loaded:
        click.echo("register already has data; demo data not loaded")
        return
    click.echo(
        f"demo data loaded: {loaded.restrictions} restrictions for {loaded.customers} customers"
    )
    for email, role, password in loaded.staff:
        click.echo(f"  {role:<9} {email}  password: {password}")


@cli.group(help="Register upkeep.")
def maintenance() -> None:
    pass


@maintenance.command("run", help="Expire, remind, make dormant and purge now.")
def maintenance_run() -> None:
    from gateway.services.maintenance import run_maintenance

    _runtime()
    counts = run_maintenance()
    click.echo(", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in counts.items()))


# --- contact volume alerts (gateway/alerts.py, gateway/volume.py, gateway/linking.py) --------


@cli.group(
    help="Alerts for managers (contact volume, safeguarding, reviews). Alone: list them.",
    invoke_without_command=True,
)
@click.pass_context
def alerts(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is None:
        ctx.invoke(alerts_list)


@alerts.command("list", help="Open and acknowledged alerts, one line each, by reference only.")
def alerts_list() -> None:
    from gateway.services.alerts import live_alerts, record_listing

    rt = _runtime()
    with rt.uow() as session:
        lines = live_alerts(session)
        record_listing(session, _cli_actor(), _now(), len(lines))
    for line in lines:
        click.echo(line.text(rt.timezone))
    click.echo(f"{len(lines)} open alert(s)", err=True)


@alerts.command("show", help="One alert's evidence, with a chart of the days up to it.")
@click.argument("alert_id", type=int)
def alerts_show(alert_id: int) -> None:
    from gateway.services.alerts import describe_alert

    rt = _runtime()
    with rt.uow() as session:
        lines = describe_alert(session, rt, alert_id, actor=_cli_actor(), now=_now())
    for line in lines:
        click.echo(line)


@alerts.command("acknowledge", help="Mark an alert as being looked into.")
@click.argument("alert_id", type=int)
@click.option("--by", "by", required=True, help="Email of the manager acting.")
def alerts_acknowledge(alert_id: int, by: str) -> None:
    from gateway.services.alerts import acknowledge_alert, staff_actor

    rt = _runtime()
    with rt.uow() as session:
        acknowledge_alert(session, staff_actor(session, by), _now(), alert_id)
    click.echo(f"alert {alert_id} acknowledged")


@alerts.command("dismiss", help="Close an alert as reasonable contact; a reason is required.")
@click.argument("alert_id", type=int)
@click.option("--by", "by", required=True, help="Email of the manager acting.")
@click.option("--reason", help="Why the contact is reasonable (kept with the alert).")
def alerts_dismiss(alert_id: int, by: str, reason: str | None) -> None:
    from gateway.services.alerts import dismiss_alert, staff_actor

    rt = _runtime()
    with rt.uow() as session:
        dismiss_alert(session, staff_actor(session, by), _now(), alert_id, reason=reason)
    click.echo(f"alert {alert_id} dismissed")


@alerts.command("escalate", help="Close an alert and draft a warning for the person (a draft).")
@click.argument("alert_id", type=int)
@click.option("--by", "by", required=True, help="Email of the manager acting.")
@click.option("--reason", help="Note kept with the alert.")
def alerts_escalate(alert_id: int, by: str, reason: str | None) -> None:
    from gateway.services.alerts import escalate_alert, staff_actor

    rt = _runtime()
    with rt.uow() as session:
        actor = staff_actor(session, by)
        draft = escalate_alert(session, rt, actor, _now(), alert_id, reason=reason)
        reference = draft.reference
    rt.register.invalidate()
    click.echo(
        f"alert {alert_id} escalated: draft warning {reference} (submit it for approval "
        "before it applies)"
    )


@alerts.command("rescan", help="Rebuild the open contact volume alerts from recorded contacts.")
@click.option("--days", type=click.IntRange(1, 366), help="How far back (volume.rescan_days).")
def alerts_rescan(days: int | None) -> None:
    from gateway.services.volume import rescan

    rt = _runtime()
    report = rescan(rt, days=days, actor=_cli_actor())
    click.echo(
        f"rescanned {report.events} contact(s) of {report.people} people over "
        f"{report.days} days in {report.seconds:.1f} s: {report.opened} alert(s) open, "
        f"{report.removed} removed and rebuilt, {report.refreshed} acknowledged brought up to date"
    )


@alerts.command("rules", help="The contact volume rules in force, in plain words.")
def alerts_rules() -> None:
    from gateway.settings import load_settings

    for rule in load_settings().volume.rule_set.rules:
        click.echo(f"{rule.key}\t{rule.title}")


@cli.group(help="Customers on the register.")
def customers() -> None:
    pass


@customers.command(
    "link", help="Link email addresses and phone numbers to one customer; contacts count together."
)
@click.option("--email", "emails", multiple=True, help="An email address (repeatable).")
@click.option("--phone", "phones", multiple=True, help="A phone number (repeatable).")
@click.option("--customer-ref", help="The customer (created if new); default: theirs, or new.")
@click.option("--by", "by", required=True, help="Email of the manager acting.")
def customers_link(
    emails: tuple[str, ...], phones: tuple[str, ...], customer_ref: str | None, by: str
) -> None:
    from gateway.services.alerts import staff_actor
    from gateway.services.linking import link_identities
    from routing.enums import IdentityKind

    wanted = [(e, IdentityKind.EMAIL) for e in emails] + [(p, IdentityKind.PHONE) for p in phones]
    rt = _runtime()
    with rt.uow() as session:
        result = link_identities(
            session, rt, staff_actor(session, by), _now(), wanted, customer_ref=customer_ref
        )
    rt.register.invalidate()
    who = result.customer_ref or f"#{result.customer_id}"
    click.echo(
        f"linked {len(result.identity_ids)} address(es) or number(s) to "
        f"{'new ' if result.customer_created else ''}customer {who}; alerts: "
        f"{result.alerts_moved} moved, {result.alerts_merged} merged, "
        f"{len(result.alerts_opened)} opened"
    )


@cli.group(help="Letters to the customer, from the council's templates (config/letters/).")
def letters() -> None:
    pass


@letters.command("render", help="Write a letter about a restriction (by reference) as PDF.")
@click.argument("reference")
@click.option(
    "--kind",
    required=True,
    type=click.Choice([kind.value for kind in LetterKind]),
    help="notification, variation, review_outcome, lifting or appeal_outcome.",
)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def letters_render(reference: str, kind: str, out: Path) -> None:
    from gateway.services.letters import render_for_reference

    rt = _runtime()
    pdf = render_for_reference(rt, reference, LetterKind(kind), actor=_cli_actor(), now=_now())
    try:
        out.write_bytes(pdf)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from None
    click.echo(f"wrote {out}: {LetterKind(kind).value.replace('_', ' ')} letter for {reference}")


@cli.group(help="The council's services: sets of mailboxes and lines a restriction can cover.")
def services() -> None:
    pass


@services.command("add", help="Add a service with its mailboxes and phone lines.")
@click.argument("name")
@click.option("--mailbox", "mailboxes", multiple=True, help="A council mailbox (repeatable).")
@click.option("--line", "lines", multiple=True, help="A council phone line (repeatable).")
@click.option("--description", help="What the service does, in a few words.")
def services_add(
    name: str, mailboxes: tuple[str, ...], lines: tuple[str, ...], description: str | None
) -> None:
    from gateway.services.council_services import ServiceTerms, add_service

    rt = _runtime()
    terms = ServiceTerms(name, mailboxes, lines, description)
    with rt.uow() as session:
        service = add_service(
            session, terms, actor=_cli_actor(), now=_now(), region=rt.settings.phone_region
        )
        added = f"added service {service.name}: {len(service.addresses)} mailbox(es) and line(s)"
    rt.register.invalidate()
    click.echo(added)


@services.command("list", help="The services, one a line, with their mailboxes and lines.")
def services_list() -> None:
    from gateway.services.council_services import list_services

    rt = _runtime()
    with rt.uow() as session:
        found = list_services(session)
    if not found:
        click.echo("no services yet: add one with `ccr services add NAME --mailbox ADDRESS`")
    for service in found:
        reach = ", ".join([*service.mailboxes, *service.lines])
        click.echo(
            f"{service.name}: {reach} ({service.restrictions_in_force} restriction(s) in force)"
        )


@cli.group(help="Everything held on one person: subject access.")
def person() -> None:
    pass


@person.command(
    "export",
    help="Write everything held on one person (email, phone or customer reference) to a zip: "
    "a readable summary.html, person.json and CSV files.",
)
@click.argument("email_or_phone_or_ref")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def person_export(email_or_phone_or_ref: str, out: Path) -> None:
    from gateway.services.subject_access import PersonNotFound, export_person

    rt = _runtime()
    try:
        summary = export_person(rt, email_or_phone_or_ref, out, actor=_cli_actor())
    except PersonNotFound as exc:
        raise click.ClickException(str(exc)) from None
    counts = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in summary.counts().items())
    click.echo(f"wrote {out}: {counts}")


@person.command(
    "erase",
    help="Erase one person (email, phone or customer reference): their contacts, alerts, "
    "addresses and numbers, and their name and reference. Refused while a restriction, a "
    "legal hold or a retention category keeps the record.",
)
@click.argument("email_or_phone_or_ref")
@click.option("--by", "by", required=True, help="Email of the information-governance officer.")
def person_erase(email_or_phone_or_ref: str, by: str) -> None:
    from gateway.services.alerts import staff_actor
    from gateway.services.people import RightsRefused, erase_person
    from gateway.services.subject_access import PersonNotFound, find_person

    rt = _runtime()
    try:
        with rt.uow() as session:
            found = find_person(session, rt.settings, email_or_phone_or_ref)
            counts = erase_person(session, staff_actor(session, by), _now(), found)
    except (PersonNotFound, RightsRefused) as exc:
        raise click.ClickException(str(exc)) from None
    rt.register.invalidate()
    click.echo(
        "erased: " + ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items())
    )


# --- long-running processes ---------------------------------------------------------------


@cli.command(help="Everything in one process: SMTP gateway, web UI and API, jobs, schedule.")
def serve() -> None:
    from gateway.bootstrap import default_tasks
    from gateway.entrypoints.webserver import start_web
    from gateway.jobs.scheduler import Scheduler
    from gateway.smtp.server import SmtpGateway

    rt = _runtime(one_shot=False)
    scheduler = Scheduler(rt, default_tasks(rt))
    scheduler.start()
    smtp = SmtpGateway(rt).start()
    web = start_web(rt)
    click.echo(
        f"SMTP gateway: {_listening_on(rt.settings.smtp_listen, smtp)} (mail for "
        f"{', '.join(rt.settings.accepted_domains)})"
    )
    click.echo(f"web UI and API: http://{_listening_on(rt.settings.web_listen, web)}/")
    jobs = f"rq via {rt.settings.redis_url}" if rt.settings.redis_url else "in-process"
    click.echo(f"jobs: {jobs}; delivering to {rt.settings.downstream}")
    if rt.settings.calls_drop:
        click.echo(f"call-log drop folder: {rt.settings.calls_drop}")
    _wait_for_signal(lambda: (smtp.stop(), web.close(), scheduler.stop(), rt.close()))


@cli.command(help="SMTP gateway only (delivers in-process unless CCR_REDIS_URL is set).")
def gateway() -> None:
    from gateway.bootstrap import default_tasks
    from gateway.jobs.scheduler import Scheduler
    from gateway.smtp.server import SmtpGateway

    rt = _runtime(one_shot=False)
    scheduler = Scheduler(rt, default_tasks(rt))
    scheduler.start()
    smtp = SmtpGateway(rt).start()
    listening = _listening_on(rt.settings.smtp_listen, smtp)
    click.echo(f"SMTP gateway: {listening}; delivering to {rt.settings.downstream}")
    _wait_for_signal(lambda: (smtp.stop(), scheduler.stop(), rt.close()))


@cli.group(help="Mail the gateway has stored.")
def mail() -> None:
    pass


@mail.command("dead-letters", help="List copies the gateway gave up delivering.")
def mail_dead_letters() -> None:
    from gateway.mail.delivery import dead_letters

    rt = _runtime()
    found = dead_letters(rt)
    for delivery in found:
        click.echo(
            f"{delivery.id}\t{delivery.message.queue_id}\t{delivery.target}\t"
            f"{delivery.attempts} attempt(s)\t{delivery.last_error}"
        )
    click.echo(f"{len(found)} dead letter(s)", err=True)


@mail.command("retry", help="Try a dead letter again.")
@click.argument("delivery_id", type=int)
def mail_retry(delivery_id: int) -> None:
    from gateway.mail.delivery import retry_dead_letter

    rt = _runtime()
    try:
        retry_dead_letter(rt, delivery_id, actor=_cli_actor())
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    if isinstance(rt.jobs, InProcessQueue):
        rt.jobs.join(timeout=120)  # this process is the worker: finish before exiting
    click.echo(f"dead letter {delivery_id} queued for delivery again")


@cli.command(help="Web UI and API only.")
def web() -> None:
    from gateway.entrypoints.webserver import start_web

    rt = _runtime(one_shot=False)
    server = start_web(rt)
    click.echo(f"web UI and API: http://{_listening_on(rt.settings.web_listen, server)}/")
    _wait_for_signal(lambda: (server.close(), rt.close()))


@cli.command(help="Run jobs from Redis (needs CCR_REDIS_URL), and the schedule.")
@click.option("--burst", is_flag=True, help="Run queued jobs, then exit.")
def worker(burst: bool) -> None:
    from redis import Redis
    from rq import SimpleWorker

    from gateway.bootstrap import default_tasks
    from gateway.jobs.queue import BACKGROUND_QUEUE_NAME, QUEUE_NAME, RqQueue
    from gateway.jobs.rq_jobs import CcrJob
    from gateway.jobs.scheduler import Scheduler

    rt = _runtime(one_shot=False)
    if not isinstance(rt.jobs, RqQueue):
        raise click.ClickException(
            "ccr worker needs Redis: set CCR_REDIS_URL "
            "(without Redis, ccr serve runs jobs in-process)"
        )
    scheduler = Scheduler(rt, default_tasks(rt))
    if not burst:
        scheduler.start()
    # SimpleWorker runs each job in this process. rq's default forks a child per job, and a
    # child forked while the schedule thread holds a lock (the connection pool's, say)
    # waits for it forever; a fork per job also costs more than most of our jobs take.
    # rq's scheduler moves jobs whose retry back-off has passed back onto the queue. The
    # worker blocks on Redis for minutes at a time, so it gets a connection without the
    # enqueue connection's short socket timeout.
    listening = Redis.from_url(rt.settings.redis_url)
    # Queues in priority order: a worker takes background work only when no mail waits.
    queues = [QUEUE_NAME, BACKGROUND_QUEUE_NAME]
    SimpleWorker(queues, connection=listening, job_class=CcrJob).work(
        burst=burst, logging_level="WARNING", with_scheduler=True
    )
    scheduler.stop()


class _Server(Protocol):
    @property
    def port(self) -> int: ...


def _listening_on(listen: str, server: _Server) -> str:
    """The host:port a server listens on: as configured, unless the port was 0.

    Port 0 lets the system choose; the one the server got is printed instead, so whoever
    started it (the tests do) can read it. A configured port is printed as it was given.
    """
    host, _, port = listen.rpartition(":")
    return f"{host}:{server.port}" if port == "0" else listen


def _wait_for_signal(shutdown: Callable[[], object]) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    shutdown()
