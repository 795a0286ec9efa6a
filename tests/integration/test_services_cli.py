"""`ccr services add|list` as the IT team runs them, and the scope they give showing in
`ccr lookup`: real processes against the test database."""

from __future__ import annotations

from pathlib import Path

import pytest

from routing.models import AuditEntry, Service, ServiceAddress
from tests.integration.smtp_helpers import ccr_env
from tests.integration.smtp_helpers import run_ccr as ccr
from tests.integration.test_cli import rows


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return ccr_env(database_url, downstream=f"maildir:{tmp_path / 'mail'}")


def test_a_service_added_is_listed_with_its_mailboxes_and_lines(env, database_url) -> None:
    added = ccr(
        env,
        "services",
        "add",
        "Council Tax",
        "--mailbox",
        "CouncilTax@Council.Example.org",
        "--line",
        "020 7946 0200",
        "--description",
        "Bills and discounts",
    )
    assert added.returncode == 0, added.stderr
    assert "added service Council Tax: 2 mailbox(es) and line(s)" in added.stdout
    listed = ccr(env, "services", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == (
        "Council Tax: counciltax@council.example.org, 020 7946 0200 (0 restriction(s) in force)"
    )
    (service,) = rows(database_url, Service)
    assert service.description == "Bills and discounts"
    assert {(a.kind, a.value) for a in rows(database_url, ServiceAddress)} == {
        ("email", "counciltax@council.example.org"),
        ("phone", "+442079460200"),
    }
    (entry,) = [e for e in rows(database_url, AuditEntry) if e.action == "service.created"]
    assert entry.actor.startswith("cli:")
    assert entry.detail["name"] == "Council Tax"


def test_an_empty_list_says_how_to_begin(env) -> None:
    assert "no services yet" in ccr(env, "services", "list").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["council tax", "--mailbox", "other@council.example.org"], "already exists"),
        (["Parking", "--mailbox", "not-an-address"], "'not-an-address' is not an email address"),
        (["Parking", "--line", "12"], "'12' is not a phone number"),
        (["Parking"], "at least one mailbox or phone line"),
        (["all", "--mailbox", "all@council.example.org"], "cannot contain ';' or be 'all'"),
    ],
)
def test_bad_services_get_one_line_a_non_zero_exit_and_change_nothing(
    env, database_url, args: list[str], message: str
) -> None:
    first = ccr(env, "services", "add", "Council Tax", "--mailbox", "ct@council.example.org")
    assert first.returncode == 0, first.stderr
    refused = ccr(env, "services", "add", *args)
    assert refused.returncode != 0
    assert refused.stderr.startswith("ccr: error: ")
    assert message in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert [s.name for s in rows(database_url, Service)] == ["Council Tax"]


def test_lookup_of_a_scoped_restriction_names_its_service_in_the_script(env) -> None:
    assert ccr(env, "demo").returncode == 0
    answer = ccr(env, "lookup", "07700 900004")
    assert answer.returncode == 0, answer.stderr
    assert "covers: Council Tax only" in answer.stdout
    assert "agent script: Council Tax only: take other calls as normal." in answer.stdout
    listed = ccr(env, "services", "list").stdout
    assert "Council Tax: counciltax@council.example.org, 020 7946 0200 (1 restriction" in listed
