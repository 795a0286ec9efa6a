"""Subject access: one export holds everything on one person, and nothing on anyone else."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.runtime import Runtime
from gateway.services import register_service
from gateway.services.lookup_service import lookup_now
from gateway.services.subject_access import EXPORT_ACTION
from routing.enums import Category, EmailMeasure, IdentityKind, PhoneMeasure, Role, Stage
from routing.lifecycle import Actor
from routing.models import AuditEntry, utcnow
from routing.terms import RestrictionDraft

ROOT = Path(__file__).resolve().parents[2]
CCR = str(Path(sys.executable).with_name("ccr"))
CALLS = ROOT / "tests" / "fixtures" / "calls" / "asterisk_master.csv"
JO_PHONE = "07700900101"  # four calls in the fixture
JO_EMAIL = "jo.example@example.org"


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CCR_")}
    return {
        **clean,
        "CCR_DATABASE_URL": database_url,
        "CCR_CONFIG": str(ROOT / "config" / "ccr.toml"),
        "CCR_DOWNSTREAM": f"maildir:{tmp_path / 'mail'}",
        "CCR_LOG_LEVEL": "WARNING",
    }


def ccr(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CCR, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def jo(rt: Runtime, make_staff: Callable[[str, Role], Actor]) -> str:
    """Jo Example: on the register with a phone restriction, her record looked up once."""
    manager = make_staff("manager@council.example.org", Role.MANAGER)
    approver = make_staff("approver@council.example.org", Role.APPROVER)
    now = utcnow()
    draft = RestrictionDraft(
        stage=Stage.STAGE1,
        category=Category.C,
        starts_on=rt.today(now),
        email_measure=EmailMeasure.REDIRECT,
        phone_measure=PhoneMeasure.BARRED,
        spoc_email="spoc@council.example.org",
        reason="Repeated calls about a closed matter",
    )
    with rt.uow() as session:
        customer = register_service.add_customer(
            session, manager, now, name="Jo Example", customer_ref="C-1001"
        )
        for raw, kind in ((JO_PHONE, IdentityKind.PHONE), (JO_EMAIL, IdentityKind.EMAIL)):
            register_service.link_raw_identity(
                session, manager, now, customer, raw, kind, fold_plus=True, region="GB"
            )
        restriction = register_service.draft_restriction(session, manager, now, customer, draft)
        register_service.submit(session, manager, now, restriction.id)
        register_service.approve(
            session, approver, now, restriction.id, today=rt.today(now), appeal_days=14
        )
        reference = restriction.reference
    rt.register.invalidate()
    lookup_now(rt, JO_PHONE, actor="agent@council.example.org", source="test")
    return reference


def test_the_export_holds_identities_restriction_contacts_and_who_saw_the_record(
    rt: Runtime, jo: str, env: dict[str, str], tmp_path: Path
) -> None:
    imported = ccr(env, "calls", "import", str(CALLS), "--format", "asterisk")
    assert imported.returncode == 0, imported.stderr
    out = tmp_path / "exports" / "jo.zip"

    exported = ccr(env, "person", "export", "C-1001", "--out", str(out))

    assert exported.returncode == 0, exported.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with zipfile.ZipFile(out) as archive:
        assert set(archive.namelist()) == {
            "summary.html", "person.json", "contacts.csv", "audit.csv", "mail.csv"
        }  # fmt: skip
        document = json.loads(archive.read("person.json"))
        summary = archive.read("summary.html").decode()
        contacts = list(csv.DictReader(io.StringIO(archive.read("contacts.csv").decode())))
    assert document["person"]["name"] == "Jo Example"
    assert {i["value"] for i in document["identities"]} == {"+447700900101", JO_EMAIL}
    assert [r["reference"] for r in document["restrictions"]] == [jo]
    assert document["restrictions"][0]["reason"] == "Repeated calls about a closed matter"
    # Every one of Jo's calls, each with what happened and why; nobody else's.
    assert len(document["contacts"]) == 4 == len(contacts)
    assert {c["from"] for c in document["contacts"]} == {"+447700900101"}
    assert all(c["reasons"] for c in document["contacts"])
    actions = [entry["action"] for entry in document["audit"]]
    assert "register.lookup" in actions  # the agent who looked her up
    assert any(a.startswith("customer.") for a in actions)  # the manager who added her
    assert "Jo Example" in summary and jo in summary
    assert "Who viewed or changed this record" in summary


def test_the_export_is_found_by_phone_or_email_and_is_itself_audited_by_counts(
    rt: Runtime, jo: str, env: dict[str, str], tmp_path: Path
) -> None:
    for key in ("07700 900101", "Jo.Example@EXAMPLE.org"):
        exported = ccr(env, "person", "export", key, "--out", str(tmp_path / "x.zip"))
        assert exported.returncode == 0, exported.stderr
        assert "1 restrictions" in exported.stdout
    with rt.uow() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == EXPORT_ACTION)
        ).all()
    assert len(entries) == 2
    assert entries[0].actor.startswith("cli:")
    assert entries[0].detail["restrictions"] == 1
    assert JO_EMAIL not in json.dumps(entries[0].detail)


def test_someone_nobody_holds_anything_on_gets_one_line_and_no_file(
    env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "nobody.zip"
    exported = ccr(env, "person", "export", "nobody@example.org", "--out", str(out))
    assert exported.returncode == 2
    assert exported.stderr.strip().splitlines() == [
        "ccr: error: nothing is held on that email address"
    ]
    assert not out.exists()
