"""The `ccr` command as the IT team runs it: real processes against the test database."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, update

from gateway.services.accounts import password_matches
from gateway.store.tables import ApiToken
from routing.models import AuditEntry, StaffUser
from tests.integration.smtp_helpers import CcrProcess, wait_for_banner
from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
CCR = str(Path(sys.executable).with_name("ccr"))


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a `ccr` process pointed at this test's database."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CCR_")}
    return {
        **clean,
        "CCR_DATABASE_URL": database_url,
        "CCR_CONFIG": str(ROOT / "config" / "ccr.toml"),
        "CCR_DOWNSTREAM": f"maildir:{tmp_path / 'mail'}",
        "CCR_LOG_LEVEL": "WARNING",
    }


def ccr(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CCR, *args], env=env, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=120
    )


def rows(database_url: str, model: type) -> list:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        found = connection.execute(select(model)).all()
    engine.dispose()
    return found


def test_demo_then_lookup_shows_the_restriction_and_spoc(env: dict[str, str]) -> None:
    loaded = ccr(env, "demo")
    assert loaded.returncode == 0, loaded.stderr
    assert "demo data loaded: 4 restrictions for 5 customers" in loaded.stdout
    looked_up = ccr(env, "lookup", "Alex.Example@EXAMPLE.org")
    assert looked_up.returncode == 0, looked_up.stderr
    assert "1 restriction(s) in force" in looked_up.stdout
    assert "email redirect" in looked_up.stdout
    assert "spoc@council.example.org" in looked_up.stdout


def test_demo_if_empty_leaves_an_existing_register_alone(env: dict[str, str]) -> None:
    assert ccr(env, "demo").returncode == 0
    again = ccr(env, "demo", "--if-empty")
    assert again.returncode == 0
    assert "not loaded" in again.stdout


def test_lookup_of_a_phone_in_windows_says_when_the_next_window_opens(env) -> None:
    ccr(env, "demo")
    answer = ccr(env, "lookup", "01632 960001")
    assert "permitted times: Tue 10:00-12:00; Thu 14:00-15:30" in answer.stdout
    assert ("open now" in answer.stdout) or ("next opens" in answer.stdout)


def test_lookup_of_withheld_and_unknown_numbers_is_explicit(env: dict[str, str]) -> None:
    assert "withheld phone; no restriction can apply" in ccr(env, "lookup", "anonymous").stdout
    unknown = ccr(env, "lookup", "07700 900999")
    assert "phone +447700900999: no restriction in force" in unknown.stdout


def test_a_lookup_that_shows_a_restriction_is_audited(env: dict[str, str], database_url) -> None:
    ccr(env, "demo")
    ccr(env, "lookup", "sam.sample@example.org")
    lookups = [row for row in rows(database_url, AuditEntry) if row.action == "register.lookup"]
    assert len(lookups) == 1
    assert lookups[0].actor.startswith("cli:")
    assert "sam.sample" not in json.dumps(lookups[0].detail)


def test_user_add_with_generated_password_stores_only_a_hash(env, database_url) -> None:
    made = ccr(env, "user", "add", "Officer@Council.Example.org", "--role", "approver")
    assert made.returncode == 0, made.stderr
    password = made.stdout.split("password (shown once): ")[1].strip()
    (user,) = rows(database_url, StaffUser)
    assert user.email == "officer@council.example.org"
    assert user.role == "approver"
    assert password not in user.password_hash
    assert user.password_hash.startswith("$argon2")


def test_token_add_prints_the_token_once_and_stores_its_hash(env, database_url) -> None:
    made = ccr(env, "token", "add", "screen-pop", "--scope", "lookup")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("ccr_")
    (token,) = rows(database_url, ApiToken)
    assert secret not in (token.token_hash, token.prefix)
    assert token.scopes == ["lookup"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["user", "add", "x@council.example.org", "--role", "boss"], "Invalid value for '--role'"),
        (["user", "add", "not-an-address", "--role", "agent"], "is not an email address"),
        (["token", "add", "t", "--scope", "everything"], "unknown scope 'everything'"),
        (
            ["register", "import", "/nonexistent.csv", "--approved-by", "a@council.example.org"],
            "no such file",
        ),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["user", "add"], "Missing argument 'EMAIL'"),
    ],
)
def test_bad_input_gets_one_line_and_a_non_zero_exit(env, args: list[str], message: str) -> None:
    result = ccr(env, *args)
    assert result.returncode != 0
    assert result.stderr.startswith("ccr: error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_wrong_setting_stops_every_command_with_its_name(env: dict[str, str]) -> None:
    result = ccr({**env, "CCR_WEB_LISTEN": "everywhere"}, "lookup", "x@example.org")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "ccr: error: setting web_listen (CCR_WEB_LISTEN): expected host:port such as "
        "127.0.0.1:2525, got 'everywhere'"
    )


def test_duplicate_user_is_refused_and_the_first_is_kept(env, database_url) -> None:
    assert ccr(env, "user", "add", "a@council.example.org", "--role", "agent").returncode == 0
    again = ccr(env, "user", "add", "A@council.example.org", "--role", "admin")
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert [u.role for u in rows(database_url, StaffUser)] == ["agent"]


def _lock_out(database_url: str, email: str) -> None:
    """What ten wrong passwords leave behind: a lock until well into the future."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            update(StaffUser)
            .where(StaffUser.email == email)
            .values(failed_sign_ins=10, locked_until=dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
        )
    engine.dispose()


def test_reset_password_lets_a_locked_out_admin_back_in_once(env, database_url) -> None:
    ccr(env, "user", "add", "head.it@council.example.org", "--role", "admin")
    _lock_out(database_url, "head.it@council.example.org")
    (before,) = rows(database_url, StaffUser)
    assert "locked until 2099-01-01" in ccr(env, "user", "list").stdout

    reset = ccr(env, "user", "reset-password", "Head.IT@council.example.org")

    assert reset.returncode == 0, reset.stderr
    temporary = reset.stdout.splitlines()[1]
    (after,) = rows(database_url, StaffUser)
    assert password_matches(after.password_hash, temporary)
    assert not password_matches(before.password_hash, temporary)
    assert after.must_change_password and after.locked_until is None
    assert after.failed_sign_ins == 0
    assert after.session_generation == before.session_generation + 1  # old cookies end
    listed = ccr(env, "user", "list").stdout
    assert "head.it@council.example.org  admin      active, must change password" in listed
    (audit,) = [a for a in rows(database_url, AuditEntry) if a.action == "user.password_reset"]
    assert audit.actor.startswith("cli:") and audit.subject_ref == str(after.id)
    assert temporary not in json.dumps(audit.detail)


def test_deactivate_and_reactivate_from_the_command_line(env, database_url) -> None:
    ccr(env, "user", "add", "agent.one@council.example.org", "--role", "agent")
    off = ccr(env, "user", "deactivate", "agent.one@council.example.org")
    assert off.returncode == 0, off.stderr
    assert (
        "agent.one@council.example.org  agent      deactivated" in ccr(env, "user", "list").stdout
    )
    again = ccr(env, "user", "deactivate", "agent.one@council.example.org")
    assert again.returncode == 2 and "already deactivated" in again.stderr
    assert ccr(env, "user", "reactivate", "agent.one@council.example.org").returncode == 0
    (user,) = rows(database_url, StaffUser)
    assert user.active
    actions = [a.action for a in rows(database_url, AuditEntry) if a.subject_type == "user"]
    assert actions == ["user.created", "user.deactivated", "user.reactivated"]


@pytest.mark.parametrize("command", ["reset-password", "deactivate", "reactivate"])
def test_a_user_command_for_an_unknown_account_changes_nothing(env, database_url, command) -> None:
    ccr(env, "user", "add", "known@council.example.org", "--role", "manager")
    (before,) = rows(database_url, StaffUser)
    refused = ccr(env, "user", command, "unknown@council.example.org")
    assert refused.returncode == 2
    assert "no staff account for 'unknown@council.example.org'" in refused.stderr
    assert rows(database_url, StaffUser) == [before]


def test_user_list_on_an_empty_register_says_how_to_begin(env) -> None:
    listed = ccr(env, "user", "list")
    assert listed.returncode == 0
    assert "ccr user add EMAIL --role admin" in listed.stdout


def test_db_upgrade_creates_a_fresh_database(tmp_path: Path, env: dict[str, str]) -> None:
    fresh = f"sqlite:///{tmp_path / 'fresh' / 'ccr.db'}"
    result = ccr({**env, "CCR_DATABASE_URL": fresh}, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fresh" / "ccr.db").exists()
    assert ccr({**env, "CCR_DATABASE_URL": fresh}, "lookup", "x@example.org").returncode == 0


def test_serve_answers_health_checks_and_stops_cleanly_on_sigterm(
    env: dict[str, str], tmp_path: Path
) -> None:
    ccr(env, "demo")
    # Port 0 for both servers: `ccr serve` prints the ports the system gave it.
    listen = {"CCR_WEB_LISTEN": "127.0.0.1:0", "CCR_SMTP_LISTEN": "127.0.0.1:0"}
    process = CcrProcess(["serve"], {**env, **listen}, tmp_path / "serve.log")
    try:
        port = process.announced_port("web UI and API", timeout=30)
        health = _get_when_up(f"http://127.0.0.1:{port}/healthz")
        answer = json.loads(health)
        assert answer["status"] == "ok"
        assert 0 <= answer["register_age_seconds"] < 10
        status_page = _get_when_up(f"http://127.0.0.1:{port}/status")
        assert "Register version" in status_page
        assert "Restrictions in force" not in status_page  # not for anonymous visitors
        # The staff pages are there too, behind the sign-in page.
        assert "Sign in" in _get_when_up(f"http://127.0.0.1:{port}/")
        assert "example.org" not in status_page.replace("council.example.org", "")
        smtp_port = process.announced_port("SMTP gateway", timeout=30)
        assert wait_for_banner(smtp_port, timeout=30, process=process).startswith("220 ")
    finally:
        exit_code = process.stop(timeout=30)
    assert exit_code == 0, process.log_text()
    assert f"web UI and API: http://127.0.0.1:{port}/" in process.log_text()


def _get_when_up(url: str, timeout: float = 30.0) -> str:
    def page() -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except OSError:
            return None

    return wait_until(page, timeout, f"an answer from {url}", interval=0.1)
