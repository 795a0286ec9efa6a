"""The `ccr` command: thin wrappers over the runtime; bad input gets one line and exit 2."""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from gateway.accounts import AccountError
from gateway.jobs import InProcessQueue
from gateway.register_service import RegisterError
from gateway.settings import SettingsError
from routing.enums import Role
from routing.lifecycle import TransitionRefused
from routing.windows import WindowSyntaxError

log = logging.getLogger("ccr")

USER_ERRORS: tuple[type[Exception], ...] = (
    SettingsError,
    RegisterError,
    AccountError,
    TransitionRefused,
    WindowSyntaxError,
)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: run the command, turning every expected failure into one line."""
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


def _csv_errors() -> tuple[type[Exception], ...]:
    from gateway.register_csv import CsvImportError

    return (CsvImportError,)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"ccr: error: {message}", err=True)
    sys.exit(code)


def _runtime() -> Any:
    from gateway.bootstrap import bootstrap

    return bootstrap()


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
    from gateway.db import upgrade_database
    from gateway.settings import load_settings

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
    from gateway.accounts import add_user
    from gateway.accounts import generate_password as make_password

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
    help="lookup, calls, register:read, register:write or alerts (repeatable).",
)
def token_add(name: str, scopes: tuple[str, ...]) -> None:
    from gateway.accounts import add_token

    rt = _runtime()
    with rt.uow() as session:
        secret = add_token(session, name=name, scopes=list(scopes), actor=_cli_actor(), now=_now())
    click.echo(f"token {name} (scopes: {', '.join(sorted(set(scopes)))}); shown once:")
    click.echo(secret)


# --- the register -------------------------------------------------------------------------


@cli.command(help="Print what applies now to an email address or phone number.")
@click.argument("address_or_number")
def lookup(address_or_number: str) -> None:
    from gateway.lookup_service import lookup_now

    rt = _runtime()
    answer = lookup_now(rt, address_or_number, actor=_cli_actor(), source="cli")
    from routing.lookup import describe

    for line in describe(answer, rt.timezone):
        click.echo(line)


@cli.group(help="Import or export the register as CSV.")
def register() -> None:
    pass


@register.command("import", help="Load a register CSV (all-or-nothing).")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--approved-by", required=True, help="Email of the approver who approved these.")
def register_import(file: Path, approved_by: str) -> None:
    from gateway.register_csv import import_register

    if not file.exists():
        raise click.ClickException(f"{file}: no such file")
    rt = _runtime()
    summary = import_register(rt, file, approved_by=approved_by, now=_now())
    click.echo(
        f"imported {summary.restrictions_created} restriction(s) for "
        f"{summary.customers_created} new and {summary.customers_matched} existing "
        f"customer(s); {summary.identities_linked} identities linked"
    )


@register.command("export", help="Write the register as CSV (to stdout or --output).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path))
def register_export(output: Path | None) -> None:
    from gateway.register_csv import export_register

    rt = _runtime()
    if output is None:
        export_register(rt, sys.stdout, actor=_cli_actor(), now=_now())
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        rows = export_register(rt, handle, actor=_cli_actor(), now=_now())
    click.echo(f"wrote {rows} restriction(s) to {output}", err=True)


@cli.command(help="Load fictional demo data (example.org addresses, Ofcom drama numbers).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the register has customers.")
def demo(if_empty: bool) -> None:
    from gateway.demo import load_demo

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
    from gateway.maintenance import run_maintenance

    _runtime()
    counts = run_maintenance()
    click.echo(", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in counts.items()))


# --- long-running processes ---------------------------------------------------------------


@cli.command(help="Everything in one process: SMTP gateway, web UI and API, jobs, schedule.")
def serve() -> None:
    from gateway.scheduler import Scheduler, default_tasks
    from gateway.smtp.server import SmtpGateway
    from gateway.webserver import start_web

    rt = _runtime()
    scheduler = Scheduler(rt, default_tasks(rt))
    scheduler.start()
    smtp = SmtpGateway(rt).start()
    web = start_web(rt)
    click.echo(
        f"SMTP gateway: {rt.settings.smtp_listen} (mail for "
        f"{', '.join(rt.settings.accepted_domains)})"
    )
    click.echo(f"web UI and API: http://{rt.settings.web_listen}/")
    jobs = f"rq via {rt.settings.redis_url}" if rt.settings.redis_url else "in-process"
    click.echo(f"jobs: {jobs}; delivering to {rt.settings.downstream}")
    _wait_for_signal(lambda: (smtp.stop(), web.close(), scheduler.stop(), rt.close()))


@cli.command(help="SMTP gateway only (delivers in-process unless CCR_REDIS_URL is set).")
def gateway() -> None:
    from gateway.scheduler import Scheduler, default_tasks
    from gateway.smtp.server import SmtpGateway

    rt = _runtime()
    scheduler = Scheduler(rt, default_tasks(rt))
    scheduler.start()
    smtp = SmtpGateway(rt).start()
    click.echo(f"SMTP gateway: {rt.settings.smtp_listen}; delivering to {rt.settings.downstream}")
    _wait_for_signal(lambda: (smtp.stop(), scheduler.stop(), rt.close()))


@cli.group(help="Mail the gateway has stored.")
def mail() -> None:
    pass


@mail.command("dead-letters", help="List copies the gateway gave up delivering.")
def mail_dead_letters() -> None:
    from gateway.delivery import dead_letters

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
    from gateway.delivery import retry_dead_letter

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
    from gateway.webserver import start_web

    rt = _runtime()
    server = start_web(rt)
    click.echo(f"web UI and API: http://{rt.settings.web_listen}/")
    _wait_for_signal(lambda: (server.close(), rt.close()))


@cli.command(help="Run jobs from Redis (needs CCR_REDIS_URL), and the schedule.")
@click.option("--burst", is_flag=True, help="Run queued jobs, then exit.")
def worker(burst: bool) -> None:
    from rq import Worker

    from gateway.jobs import QUEUE_NAME, RqQueue
    from gateway.scheduler import Scheduler, default_tasks

    rt = _runtime()
    if not isinstance(rt.jobs, RqQueue):
        raise click.ClickException(
            "ccr worker needs Redis: set CCR_REDIS_URL "
            "(without Redis, ccr serve runs jobs in-process)"
        )
    scheduler = Scheduler(rt, default_tasks(rt))
    if not burst:
        scheduler.start()
    # rq's scheduler moves jobs whose retry back-off has passed back onto the queue.
    Worker([QUEUE_NAME], connection=rt.jobs.connection).work(
        burst=burst, logging_level="WARNING", with_scheduler=True
    )
    scheduler.stop()


def _wait_for_signal(shutdown: Callable[[], object]) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    shutdown()
