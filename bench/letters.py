"""How long does one letter to the customer take to render to PDF?

``gateway.services.letters`` fills the council's Jinja2 template (config/letters/) from a
restriction and hands the HTML to WeasyPrint. The script makes a private SQLite database in
a temporary folder, migrates it, puts one restriction in force the way staff do (a manager
proposes, a different approver approves), and then, in one run, interleaved:

- the template alone: ``letter_html`` (the letter's values read from the database, the
  template filled in), the same-run baseline;
- the whole letter: ``letter_html`` then ``html_to_pdf`` (WeasyPrint: layout, fonts, PDF).

It prints the median time per letter of each, the PDF step's share, and the PDF's size.
Run from the project root::

    .venv/bin/python bench/letters.py            # 200 letters of each
    .venv/bin/python bench/letters.py --quick    # 30 letters of each

It prints figures; it asserts nothing. Its temporary folder is removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pypdf import PdfReader

from gateway.bootstrap import bootstrap
from gateway.runtime import Runtime
from gateway.services import accounts, register_service
from gateway.services.letters import html_to_pdf, letter_html
from gateway.settings import Settings
from gateway.store import appeals as appeal_store
from gateway.store.db import upgrade_database
from routing.enums import Category, EmailMeasure, LetterKind, PhoneMeasure, Role, Stage
from routing.lifecycle import Actor
from routing.terms import RestrictionDraft


def _staff(rt: Runtime, email: str, role: Role, now: dt.datetime) -> Actor:
    with rt.uow() as session:
        user = accounts.add_user(
            session, email=email, role=role, password="correct horse battery", actor="bench",
            now=now,
        )  # fmt: skip
        return Actor(user.email, role, user.id)


def _restriction(rt: Runtime) -> str:
    now = dt.datetime.now(dt.UTC)
    manager = _staff(rt, "manager@council.example.org", Role.MANAGER, now)
    approver = _staff(rt, "approver@council.example.org", Role.APPROVER, now)
    draft = RestrictionDraft(
        stage=Stage.STAGE1, category=Category.C, starts_on=dt.date(2026, 1, 1),
        email_measure=EmailMeasure.REDIRECT, spoc_name="Customer Relations Team",
        spoc_email="spoc@council.example.org", spoc_phone="020 7946 0999",
        phone_measure=PhoneMeasure.WINDOWS, phone_windows="Tue 10:00-12:00; Thu 14:00-15:30",
        reason="Forty emails in one week to officers about a closed planning matter.",
    )  # fmt: skip
    with rt.uow() as session:
        customer = register_service.add_customer(session, manager, now, name="Jo Example")
        restriction = register_service.draft_restriction(session, manager, now, customer, draft)
        register_service.submit(session, manager, now, restriction.id)
        register_service.approve(
            session, approver, now, restriction.id, today=rt.today(now), appeal_days=14
        )
        return restriction.reference


def _timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 letters of each, not 200")
    letters_each = 30 if parser.parse_args().quick else 200
    with tempfile.TemporaryDirectory(prefix="ccr-letters-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'ccr.db'}"
        upgrade_database(url)
        rt = bootstrap(Settings(database_url=url, spool_dir=str(Path(folder) / "spool")))
        try:
            reference = _restriction(rt)
            run(rt, reference, letters_each)
        finally:
            rt.close()


def run(rt: Runtime, reference: str, letters_each: int) -> None:
    today = rt.today(dt.datetime.now(dt.UTC))
    html_only: list[float] = []
    with_pdf: list[float] = []
    sizes: list[int] = []

    def html() -> str:
        with rt.uow() as session:
            restriction = appeal_store.latest_revision(session, reference)
            return letter_html(
                session, rt.settings, restriction, LetterKind.NOTIFICATION, today=today
            )

    def pdf() -> bytes:
        document = html_to_pdf(rt.settings, html())
        sizes.append(len(document))
        return document

    pages = len(PdfReader(io.BytesIO(pdf())).pages)  # the first PDF loads the fonts: untimed
    for _ in range(letters_each):  # interleaved, so drift touches both alike
        html_only.append(_timed(html))
        with_pdf.append(_timed(pdf))
    template_ms = statistics.median(html_only) * 1000
    letter_ms = statistics.median(with_pdf) * 1000
    print(f"letters rendered: {letters_each} of each (the notification, {pages} pages of A4)")
    print(f"template alone (HTML):   {template_ms:8.2f} ms per letter (median)")
    print(f"whole letter (PDF):      {letter_ms:8.2f} ms per letter (median)")
    print(f"  p90 whole letter:      {_p90(with_pdf) * 1000:8.2f} ms")
    print(f"  PDF / HTML ratio:      {letter_ms / template_ms:8.1f}x (WeasyPrint's share "
          f"{(letter_ms - template_ms) / letter_ms:.0%})")  # fmt: skip
    print(f"  letters per second:    {1000 / letter_ms:8.1f} on one core")
    print(f"  PDF size:              {statistics.median(sizes) / 1024:8.1f} KiB")


def _p90(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.9) - 1]


if __name__ == "__main__":
    main()
