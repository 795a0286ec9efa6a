"""Letters to the customer and their appeals, on the real database: each kind rendered to a
PDF whose text (read back with pypdf) says what the policies require, the `ccr letters
render` command end to end, and the appeal rules with their refusals."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from gateway.runtime import Runtime
from gateway.services import appeals as appeal_service
from gateway.services import letters, register_service
from gateway.services.letters import LetterError
from gateway.settings import Settings
from gateway.store import appeals as appeal_store
from routing.appeals import AppealRefused
from routing.enums import (
    AppealDecision,
    EmailMeasure,
    IdentityKind,
    LetterKind,
    LetterMethod,
    PhoneMeasure,
    RestrictionStatus,
    ReviewOutcome,
    Role,
)
from routing.lifecycle import Actor
from routing.models import Alert, AuditEntry, Restriction
from tests.integration.register_helpers import SPOC, impose_restriction

ROOT = Path(__file__).resolve().parents[2]
CCR = str(Path(sys.executable).with_name("ccr"))
REASON = "Forty emails in one week to officers about a closed planning matter."
WINDOWS_IN_WORDS = "Tuesdays 10:00 to 12:00, Thursdays 14:00 to 15:30"


@pytest.fixture
def staff(make_staff: Callable[[str, Role], Actor]) -> dict[str, Actor]:
    return {
        "manager": make_staff("manager@council.example.org", Role.MANAGER),
        "approver": make_staff("approver@council.example.org", Role.APPROVER),
        "hearer": make_staff("hearer@council.example.org", Role.APPROVER),
    }


@pytest.fixture
def reference(rt: Runtime, staff: dict[str, Actor]) -> str:
    return impose_restriction(
        rt, staff["manager"], staff["approver"], [("jo@example.org", IdentityKind.EMAIL)],
        email_measure=EmailMeasure.REDIRECT, spoc_name="Customer Relations Team",
        phone_measure=PhoneMeasure.WINDOWS, phone_windows="Tue 10:00-12:00; Thu 14:00-15:30",
        reason=REASON,
    )  # fmt: skip


def _current(rt: Runtime, reference: str) -> Restriction:
    with rt.uow() as session:
        restriction = appeal_store.latest_revision(session, reference)
        assert restriction is not None
        session.expunge_all()
        return restriction


class PdfText(str):
    """A PDF's text compared without white space: lines wrap anywhere in a PDF, and the
    extractor puts spaces inside kerned pairs ("T eam")."""

    def __contains__(self, phrase: object) -> bool:
        return "".join(str(phrase).split()) in "".join(self.split())


def _pdf_text(pdf: bytes) -> PdfText:
    return PdfText(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))


def _render(rt: Runtime, reference: str, kind: LetterKind) -> str:
    pdf = letters.render_for_reference(
        rt, reference, kind, actor="test", now=dt.datetime.now(dt.UTC)
    )
    assert pdf.startswith(b"%PDF")
    return _pdf_text(pdf)


def _long(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def _assert_common(text: str, rt: Runtime, reference: str) -> None:
    settings = rt.settings
    assert settings.council_name in text
    assert "1 High Street" in text
    assert reference in text
    assert "Jo" in text
    assert settings.ig_mailbox in text  # statutory requests still reach information governance
    assert "Freedom of Information" in text and "subject access" in text


def _assert_terms(text: str, restriction: Restriction) -> None:
    assert REASON in text  # the behaviour and why
    assert "unreasonable level of contact" in text
    assert "Your emails to the council will go to Customer Relations Team only" in text
    assert WINDOWS_IN_WORDS in text
    assert "every council service" in text  # the scope
    assert "Customer Relations Team" in text and SPOC in text and "020 7946 0999" in text
    assert _long(restriction.starts_on) in text
    assert restriction.next_review_on is not None and _long(restriction.next_review_on) in text


def _assert_appeal_rights(text: str, rt: Runtime) -> None:
    deadline = rt.today(dt.datetime.now(dt.UTC)) + dt.timedelta(days=rt.settings.appeal_days)
    assert f"within {rt.settings.appeal_days} days" in text
    assert _long(deadline) in text


def test_a_notification_says_what_the_policies_require(rt: Runtime, reference: str) -> None:
    text = _render(rt, reference, LetterKind.NOTIFICATION)
    _assert_common(text, rt, reference)
    _assert_terms(text, _current(rt, reference))
    _assert_appeal_rights(text, rt)
    assert "Notification of a restriction" in text
    assert "a stage 1 restriction" in text


def test_without_appeals_the_letter_names_the_ombudsman(
    settings: Settings, reference: str, rt: Runtime
) -> None:
    from gateway.bootstrap import bootstrap

    no_appeals = bootstrap(settings.model_copy(update={"appeals_offered": False}))
    try:
        text = _render(no_appeals, reference, LetterKind.NOTIFICATION)
    finally:
        no_appeals.close()
    assert "Local Government and Social Care Ombudsman" in text
    assert "You may appeal" not in text


def test_a_variation_letter_gives_the_new_terms(
    rt: Runtime, reference: str, staff: dict[str, Actor]
) -> None:
    now = dt.datetime.now(dt.UTC)
    with rt.uow() as session:
        current = appeal_store.latest_revision(session, reference)
        register_service.vary(
            session, staff["hearer"], now, current.id, {"max_call_minutes": 10},
            today=rt.today(now), reason="Calls shortened after a review.",
        )  # fmt: skip
    text = _render(rt, reference, LetterKind.VARIATION)
    _assert_common(text, rt, reference)
    _assert_terms(text, _current(rt, reference))
    _assert_appeal_rights(text, rt)
    assert "Each call may last at most 10 minutes." in text


def test_a_review_outcome_letter_gives_the_decision(
    rt: Runtime, reference: str, staff: dict[str, Actor]
) -> None:
    now = dt.datetime.now(dt.UTC)
    with rt.uow() as session:
        current = appeal_store.latest_revision(session, reference)
        register_service.review(
            session, staff["hearer"], now, current.id, today=rt.today(now),
            outcome=ReviewOutcome.CONTINUE,
        )  # fmt: skip
    text = _render(rt, reference, LetterKind.REVIEW_OUTCOME)
    _assert_common(text, rt, reference)
    _assert_terms(text, _current(rt, reference))
    _assert_appeal_rights(text, rt)
    assert "continue as it is" in text


def test_a_lifting_letter_says_it_has_ended(
    rt: Runtime, reference: str, staff: dict[str, Actor]
) -> None:
    now = dt.datetime.now(dt.UTC)
    with rt.uow() as session:
        current = appeal_store.latest_revision(session, reference)
        register_service.lift(
            session, staff["hearer"], now, current.id, reason="Contact has been reasonable."
        )
    text = _render(rt, reference, LetterKind.LIFTING)
    _assert_common(text, rt, reference)
    assert f"ended on {_long(now.date())}" in text
    assert "Contact has been reasonable." in text
    assert "contact the council in the usual ways" in text


def test_an_appeal_outcome_letter_gives_the_decision_and_reasons(
    rt: Runtime, reference: str, staff: dict[str, Actor]
) -> None:
    _lodge_and_hear(rt, reference, staff)
    _decide(rt, reference, staff["hearer"], AppealDecision.UPHELD, "The contact log supports it.")
    text = _render(rt, reference, LetterKind.APPEAL_OUTCOME)
    _assert_common(text, rt, reference)
    assert "Your emails to the council will go to Customer Relations Team only" in text
    assert "Customer Relations Team" in text and SPOC in text
    assert "We have upheld the original decision" in text
    assert "The contact log supports it." in text
    assert "Local Government and Social Care Ombudsman" in text  # the next step after an appeal


def test_a_letter_for_something_that_has_not_happened_is_refused(
    rt: Runtime, reference: str
) -> None:
    for kind, words in [
        (LetterKind.VARIATION, "has not been varied"),
        (LetterKind.REVIEW_OUTCOME, "has not been reviewed"),
        (LetterKind.LIFTING, "has not been lifted"),
        (LetterKind.APPEAL_OUTCOME, "no appeal"),
    ]:
        with pytest.raises(LetterError, match=words):
            _render(rt, reference, kind)


def test_rendering_a_letter_is_audited(rt: Runtime, reference: str) -> None:
    _render(rt, reference, LetterKind.NOTIFICATION)
    with rt.uow() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "letter.rendered")
        ).one()
        assert entry.subject_ref == f"{reference}/1"
        assert entry.detail["kind"] == "notification" and entry.detail["format"] == "pdf"


def test_a_broken_template_gives_one_clear_line(
    settings: Settings, reference: str, tmp_path: Path
) -> None:
    from gateway.bootstrap import bootstrap

    folder = tmp_path / "letters"
    shutil.copytree(ROOT / "config" / "letters", folder)
    (folder / "notification.html").write_text(
        '{% extends "_layout.html" %}\n{% block letter %}\n'
        "<p>{{ r.reference }</p>\n{% endblock %}\n"
    )
    broken = bootstrap(settings.model_copy(update={"letters_dir": str(folder)}))
    try:
        with pytest.raises(LetterError, match=r"letter template notification\.html, line 3: "):
            _render(broken, reference, LetterKind.NOTIFICATION)
        (folder / "notification.html").write_text(
            '{% extends "_layout.html" %}\n{% block letter %}{{ r.refrence }}{% endblock %}\n'
        )
        with pytest.raises(LetterError, match="refrence"):
            _render(broken, reference, LetterKind.NOTIFICATION)
    finally:
        broken.close()


# --- recording a letter as sent ---------------------------------------------------------------


def test_recording_a_notification_as_sent_starts_the_appeal_window(
    rt: Runtime, reference: str, staff: dict[str, Actor]
) -> None:
    now = dt.datetime.now(dt.UTC)
    sent_on = rt.today(now) - dt.timedelta(days=2)
    with rt.uow() as session:
        current = appeal_store.latest_revision(session, reference)
        letters.record_letter_sent(
            session, rt.settings, staff["manager"], now, current.id, today=rt.today(now),
            kind=LetterKind.NOTIFICATION, sent_on=sent_on, method=LetterMethod.POST,
        )  # fmt: skip
    restriction = _current(rt, reference)
    assert restriction.notified_on == sent_on
    assert restriction.appeal_deadline == sent_on + dt.timedelta(days=14)
    with rt.uow() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "letter.sent" in actions


def test_a_letter_cannot_be_recorded_as_sent_in_the_future(
    rt: Runtime, reference: str, staff: dict[str, Actor]
) -> None:
    now = dt.datetime.now(dt.UTC)
    with rt.uow() as session, pytest.raises(AppealRefused, match="future"):
        current = appeal_store.latest_revision(session, reference)
        letters.record_letter_sent(
            session, rt.settings, staff["manager"], now, current.id, today=rt.today(now),
            kind=LetterKind.NOTIFICATION, sent_on=rt.today(now) + dt.timedelta(days=1),
            method=LetterMethod.EMAIL,
        )  # fmt: skip


# --- appeals ----------------------------------------------------------------------------------


def _restriction_id(rt: Runtime, reference: str) -> int:
    return _current(rt, reference).id


def _lodge_and_hear(rt: Runtime, reference: str, staff: dict[str, Actor]) -> None:
    now = dt.datetime.now(dt.UTC)
    restriction_id = _restriction_id(rt, reference)
    with rt.uow() as session:
        appeal_service.lodge_appeal(
            session, staff["manager"], now, restriction_id, today=rt.today(now),
            received_on=rt.today(now), received_how=LetterMethod.EMAIL,
        )  # fmt: skip
        appeal_service.assign_hearer(
            session, staff["manager"], now, restriction_id, staff["hearer"].user_id
        )


def _decide(
    rt: Runtime, reference: str, actor: Actor, decision: AppealDecision, reasons: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    with rt.uow() as session:
        appeal_service.decide_appeal(
            session, actor, now, _restriction_id(rt, reference), today=rt.today(now),
            decision=decision, reasons=reasons,
        )  # fmt: skip


def test_the_decision_maker_may_not_hear_the_appeal(
    rt: Runtime, reference: str, staff: dict[str, Actor]
) -> None:
    now = dt.datetime.now(dt.UTC)
    restriction_id = _restriction_id(rt, reference)
    with rt.uow() as session:
        appeal_service.lodge_appeal(
            session, staff["manager"], now, restriction_id, today=rt.today(now),
            received_on=rt.today(now), received_how=LetterMethod.POST,
        )  # fmt: skip
    with rt.uow() as session, pytest.raises(AppealRefused, match="took no part in the decision"):
        appeal_service.assign_hearer(
            session, staff["manager"], now, restriction_id, staff["approver"].user_id
        )
    with rt.uow() as session, pytest.raises(AppealRefused, match="must be heard by an approver"):
        appeal_service.assign_hearer(
            session, staff["manager"], now, restriction_id, staff["manager"].user_id
        )


def test_an_appeal_cannot_be_decided_before_it_is_lodged(
    rt: Runtime, reference: str, staff: dict[str, Actor]
) -> None:
    with pytest.raises(AppealRefused, match="no appeal has been lodged"):
        _decide(rt, reference, staff["hearer"], AppealDecision.UPHELD, "Nothing to decide.")


def test_only_the_named_hearer_decides_and_reasons_are_required(
    rt: Runtime, reference: str, staff: dict[str, Actor], make_staff: Callable
) -> None:
    _lodge_and_hear(rt, reference, staff)
    other = make_staff("other.approver@council.example.org", Role.APPROVER)
    with pytest.raises(AppealRefused, match="only the approver named"):
        _decide(rt, reference, other, AppealDecision.UPHELD, "Not mine to decide.")
    with pytest.raises(AppealRefused, match="reasons"):
        _decide(rt, reference, staff["hearer"], AppealDecision.UPHELD, "  ")
    with pytest.raises(AppealRefused, match="your role may not decide"):
        _decide(rt, reference, staff["manager"], AppealDecision.UPHELD, "A manager's view.")


def test_a_second_appeal_waits_for_the_first(
    rt: Runtime, reference: str, staff: dict[str, Actor]
) -> None:
    _lodge_and_hear(rt, reference, staff)
    with pytest.raises(AppealRefused, match="already has an appeal"):
        _lodge_and_hear(rt, reference, staff)


def test_an_appeal_decided_lifted_ends_the_restriction(
    rt: Runtime, reference: str, staff: dict[str, Actor]
) -> None:
    _lodge_and_hear(rt, reference, staff)
    _decide(rt, reference, staff["hearer"], AppealDecision.LIFTED, "The contact was reasonable.")
    restriction = _current(rt, reference)
    assert restriction.status is RestrictionStatus.LIFTED
    with pytest.raises(AppealRefused, match="already been decided"):
        _decide(rt, reference, staff["hearer"], AppealDecision.UPHELD, "Again.")


def test_an_undecided_appeal_after_the_window_raises_one_alert(
    rt: Runtime, reference: str, staff: dict[str, Actor]
) -> None:
    _lodge_and_hear(rt, reference, staff)
    restriction = _current(rt, reference)
    assert restriction.appeal_deadline is not None
    day_after = dt.datetime.combine(
        restriction.appeal_deadline + dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC
    )
    on_the_day = day_after - dt.timedelta(days=1)
    assert appeal_service.alert_undecided_appeals(rt, on_the_day) == 0
    assert appeal_service.alert_undecided_appeals(rt, day_after) == 1
    assert appeal_service.alert_undecided_appeals(rt, day_after + dt.timedelta(days=1)) == 0
    with rt.uow() as session:
        alerts = session.scalars(select(Alert).where(Alert.rule == "appeal_undecided")).all()
        assert len(alerts) == 1
        assert reference in alerts[0].summary
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "appeal.overdue")
            )
            == 1
        )


def test_a_decided_appeal_raises_no_alert(
    rt: Runtime, reference: str, staff: dict[str, Actor]
) -> None:
    _lodge_and_hear(rt, reference, staff)
    _decide(rt, reference, staff["hearer"], AppealDecision.UPHELD, "Decided in time.")
    deadline = _current(rt, reference).appeal_deadline
    later = dt.datetime.combine(deadline + dt.timedelta(days=5), dt.time(12), tzinfo=dt.UTC)
    assert appeal_service.alert_undecided_appeals(rt, later) == 0


# --- the command line -------------------------------------------------------------------------


def _ccr(database_url: str, *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CCR_")}
    env = {
        **clean,
        "CCR_DATABASE_URL": database_url,
        "CCR_CONFIG": str(ROOT / "config" / "ccr.toml"),
        "CCR_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [CCR, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_ccr_letters_render_writes_the_pdf(
    database_url: str, reference: str, tmp_path: Path
) -> None:
    out = tmp_path / "letter.pdf"
    done = _ccr(
        database_url, "letters", "render", reference, "--kind", "notification", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    text = _pdf_text(out.read_bytes())
    assert REASON in text and SPOC in text


def test_ccr_letters_render_refuses_bad_input_in_one_line(
    database_url: str, reference: str, tmp_path: Path
) -> None:
    out = str(tmp_path / "letter.pdf")
    unknown_ref = _ccr(
        database_url, "letters", "render", "CCR-1999-0001", "--kind", "notification", "--out", out
    )
    unknown_kind = _ccr(
        database_url, "letters", "render", reference, "--kind", "apology", "--out", out
    )
    not_yet = _ccr(database_url, "letters", "render", reference, "--kind", "lifting", "--out", out)
    for done, words in [
        (unknown_ref, "no restriction has the reference CCR-1999-0001"),
        (unknown_kind, "apology"),
        (not_yet, "has not been lifted"),
    ]:
        assert done.returncode != 0
        assert done.stderr.startswith("ccr: error: ") and words in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert not Path(out).exists()


def test_letters_and_appeals_are_in_the_subject_access_export(
    rt: Runtime, reference: str, staff: dict[str, Actor], tmp_path: Path
) -> None:
    import json
    import zipfile

    from gateway.services.subject_access import export_person

    now = dt.datetime.now(dt.UTC)
    with rt.uow() as session:
        letters.record_letter_sent(
            session, rt.settings, staff["manager"], now, _restriction_id(rt, reference),
            today=rt.today(now), kind=LetterKind.NOTIFICATION, sent_on=rt.today(now),
            method=LetterMethod.BY_HAND,
        )  # fmt: skip
    _lodge_and_hear(rt, reference, staff)
    _decide(rt, reference, staff["hearer"], AppealDecision.UPHELD, "Upheld for the export.")
    out = tmp_path / "jo.zip"
    export_person(rt, "jo@example.org", out, actor="test")
    with zipfile.ZipFile(out) as archive:
        document = json.loads(archive.read("person.json"))
        summary = archive.read("summary.html").decode()
    [restriction] = document["restrictions"]
    assert restriction["letters"] == [
        {"kind": "notification", "sent_on": rt.today(now).isoformat(), "method": "by_hand"}
    ]
    [appeal] = restriction["appeals"]
    assert appeal["decision"] == "upheld" and appeal["reasons"] == "Upheld for the export."
    assert "Upheld for the export." in summary and "notification, by hand" in summary


def test_letters_and_appeals_are_purged_with_their_restriction(
    rt: Runtime, reference: str, staff: dict[str, Actor]
) -> None:
    from dateutil.relativedelta import relativedelta

    from gateway.services import maintenance
    from routing.models import Appeal, Letter

    now = dt.datetime.now(dt.UTC)
    with rt.uow() as session:
        letters.record_letter_sent(
            session, rt.settings, staff["manager"], now, _restriction_id(rt, reference),
            today=rt.today(now), kind=LetterKind.NOTIFICATION, sent_on=rt.today(now),
            method=LetterMethod.POST,
        )  # fmt: skip
    _lodge_and_hear(rt, reference, staff)
    _decide(rt, reference, staff["hearer"], AppealDecision.LIFTED, "Reasonable since (test).")
    assert maintenance.make_ended_dormant(rt, now + dt.timedelta(minutes=1)) == 1
    assert maintenance.purge_after_retention(rt, now + relativedelta(months=25)) == 1
    with rt.uow() as session:
        assert session.scalar(select(func.count()).select_from(Letter)) == 0
        assert session.scalar(select(func.count()).select_from(Appeal)) == 0
