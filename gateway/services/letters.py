"""Letters to the customer: the council's templates (config/letters/) filled in from a
restriction, previewed as HTML or rendered to PDF with WeasyPrint, and recorded as sent.

Showing a letter shows a person's record, so every preview and PDF is audited. A mistake in
a template the council edited is reported in one line (LetterError), never as a traceback.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound
from markupsafe import Markup
from sqlalchemy.orm import Session

from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store import appeals as appeal_store
from routing import appeals, lifecycle
from routing.audit import AuditAction
from routing.enums import AppealDecision, LetterKind, LetterMethod, RestrictionStatus, ReviewOutcome
from routing.identity import display_phone
from routing.letters import CATEGORY_WORDS, KIND_TITLES, STAGE_WORDS, measures_in_words
from routing.lifecycle import Actor, appeal_deadline
from routing.models import Appeal, AuditEntry, Restriction

# WeasyPrint logs each step of every letter at INFO: noise in the service's own log.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

STYLESHEET = "letter.css"
DOCUMENT = "_document.html"

REVIEW_DECISIONS = {
    ReviewOutcome.CONTINUE: "We decided that the restriction should continue as it is.",
    ReviewOutcome.VARY: "We decided to change its terms: the terms that now apply are below.",
    ReviewOutcome.LIFT: "We decided to end it.",
}
APPEAL_DECISIONS = {
    AppealDecision.UPHELD: "We have upheld the original decision: the restriction continues "
    "as set out below.",
    AppealDecision.VARIED: "We have changed the terms of the restriction: the terms that now "
    "apply are set out below.",
    AppealDecision.LIFTED: "We have lifted the restriction: it no longer applies, and you may "
    "contact the council in the usual ways.",
}


class LetterError(ValueError):
    """A letter that cannot be written; the message is one line for the user."""


# --- use cases --------------------------------------------------------------------------------


def preview_letter(
    session: Session, settings: Settings, actor: str, now: dt.datetime, restriction_id: int,
    kind: LetterKind, *, today: dt.date,
) -> str:  # fmt: skip
    """The letter as an HTML fragment for the staff preview (audited as a view)."""
    restriction = _subject(session, restriction_id)
    html = letter_html(session, settings, restriction, kind, today=today, fragment=True)
    session.add(_rendered(actor, now, restriction, kind, "html"))
    return html


def letter_pdf(
    session: Session, settings: Settings, actor: str, now: dt.datetime, restriction_id: int,
    kind: LetterKind, *, today: dt.date,
) -> bytes:  # fmt: skip
    """The letter as PDF (audited as a view)."""
    restriction = _subject(session, restriction_id)
    pdf = html_to_pdf(settings, letter_html(session, settings, restriction, kind, today=today))
    session.add(_rendered(actor, now, restriction, kind, "pdf"))
    return pdf


def render_for_reference(
    rt: Runtime, reference: str, kind: LetterKind, *, actor: str, now: dt.datetime
) -> bytes:
    """`ccr letters render`: the latest terms under a reference, as a PDF (audited)."""
    with rt.uow() as session:
        restriction = appeal_store.latest_revision(session, reference)
        if restriction is None:
            raise LetterError(f"no restriction has the reference {reference}")
        return letter_pdf(
            session, rt.settings, actor, now, restriction.id, kind, today=rt.today(now)
        )


def record_letter_sent(
    session: Session, settings: Settings, actor: Actor, now: dt.datetime, restriction_id: int,
    *, today: dt.date, kind: LetterKind, sent_on: dt.date, method: LetterMethod,
) -> Restriction:  # fmt: skip
    """Record a letter as sent; one about a decision starts the appeal window."""
    restriction = _subject(session, restriction_id)
    appeal_days = settings.appeal_days if settings.appeals_offered else None
    _letter, entry = appeals.record_letter_sent(
        restriction, actor, now, today=today, kind=kind, sent_on=sent_on, method=method,
        appeal_days=appeal_days,
    )  # fmt: skip
    session.add(entry)
    session.flush()
    return restriction


# --- rendering --------------------------------------------------------------------------------


def letter_html(
    session: Session, settings: Settings, restriction: Restriction, kind: LetterKind,
    *, today: dt.date, fragment: bool = False,
) -> str:  # fmt: skip
    """The letter from the council's template: the article alone (fragment) or a document."""
    context = letter_context(session, settings, restriction, kind, today=today)
    env = letter_environment(settings.letters_dir)
    try:
        article = env.get_template(f"{kind.value}.html").render(context)
        if fragment:
            return article
        return env.get_template(DOCUMENT).render(context, article=Markup(article))
    except TemplateNotFound as exc:
        raise LetterError(
            f"letter template {exc.name} is missing from {settings.letters_dir}"
        ) from None
    except TemplateError as exc:
        raise LetterError(_template_problem(exc, kind)) from None


def html_to_pdf(settings: Settings, html: str) -> bytes:
    """The letter as PDF, styled by the council's letter.css when there is one."""
    from weasyprint import CSS, HTML  # imported here: heavy, and only letters need it

    css = Path(settings.letters_dir) / STYLESHEET
    stylesheets = [CSS(filename=str(css))] if css.is_file() else []
    return HTML(string=html, base_url=settings.letters_dir).write_pdf(stylesheets=stylesheets)


@functools.lru_cache(maxsize=8)
def letter_environment(folder: str) -> Environment:
    """The Jinja2 environment over the council's templates; edits are picked up (auto_reload)."""
    env = Environment(
        loader=FileSystemLoader(folder),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name is an error, not a blank in a letter
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,
    )
    env.filters["long_date"] = long_date
    return env


def long_date(day: dt.date | None) -> str:
    """A date as '3 March 2026'."""
    return "" if day is None else f"{day.day} {day:%B %Y}"


def _template_problem(exc: TemplateError, kind: LetterKind) -> str:
    where = getattr(exc, "name", None) or f"{kind.value}.html"
    line = getattr(exc, "lineno", None)
    at = f", line {line}" if line else ""
    return f"letter template {where}{at}: {exc.message or type(exc).__name__}"


# --- what a letter says -----------------------------------------------------------------------


def letter_context(
    session: Session, settings: Settings, r: Restriction, kind: LetterKind, *, today: dt.date
) -> dict[str, Any]:
    """Every value the templates may use (listed in config/letters/README.md)."""
    return {
        "council": {
            "name": settings.council_name,
            "address_lines": address_lines(settings.council_address),
            "ig_mailbox": settings.ig_mailbox,
        },
        "letter": {"kind": kind.value, "title": KIND_TITLES[kind], "date": today},
        "customer_name": r.customer.name if r.customer else None,
        "r": _terms(r),
        "appeal": {
            "offered": settings.appeals_offered,
            "days": settings.appeal_days,
            "deadline": appeal_deadline(today, settings.appeal_days),
        },
        **_kind_context(session, r, kind),
    }


def address_lines(address: str) -> list[str]:
    """The council's address as lines: given on several lines, or on one with commas."""
    parts = address.splitlines() if "\n" in address else address.split(",")
    return [part.strip() for part in parts if part.strip()]


def _terms(r: Restriction) -> dict[str, Any]:
    return {
        "reference": r.reference,
        "stage": STAGE_WORDS[r.stage],
        "category": CATEGORY_WORDS[r.category],
        "reason": r.reason,
        "measures": measures_in_words(r),
        "starts_on": r.starts_on,
        "ends_on": r.ends_on,
        "next_review_on": r.next_review_on,
        "review_every_months": r.review_every_months,
        "spoc": {
            "name": r.spoc_name,
            "email": r.spoc_email,
            "phone": display_phone(r.spoc_phone) if r.spoc_phone else None,
        },
    }


def _kind_context(session: Session, r: Restriction, kind: LetterKind) -> dict[str, Any]:
    # Each kind needs something to have happened; without it the letter would say nothing true.
    if kind is LetterKind.VARIATION and r.revision < 2:
        raise LetterError(
            f"{r.reference} has not been varied: there is no variation to write about"
        )
    if kind is LetterKind.REVIEW_OUTCOME:
        return {"review": _review(r)}
    if kind is LetterKind.LIFTING:
        return {"ended": _ended(r)}
    if kind is LetterKind.APPEAL_OUTCOME:
        return {"decision": _decision(appeal_store.latest_decided_appeal(session, r.reference), r)}
    return {}


def _review(r: Restriction) -> dict[str, Any]:
    if not r.reviews:
        raise LetterError(f"{r.reference} has not been reviewed yet: there is no outcome to send")
    review = r.reviews[-1]
    return {"reviewed_on": review.reviewed_on, "decision": REVIEW_DECISIONS[review.outcome]}


def _ended(r: Restriction) -> dict[str, Any]:
    if r.status is not RestrictionStatus.LIFTED and not (
        r.status is RestrictionStatus.DORMANT and r.end_reason
    ):
        raise LetterError(
            f"{r.reference} has not been lifted: it is {r.status.value.replace('_', ' ')}"
        )
    return {"on": r.ended_at.date() if r.ended_at else None, "reason": r.end_reason}


def _decision(appeal: Appeal | None, r: Restriction) -> dict[str, Any]:
    if appeal is None or appeal.decision is None:
        raise LetterError(f"no appeal against {r.reference} has been decided yet")
    return {
        "outcome": APPEAL_DECISIONS[appeal.decision],
        "reasons": appeal.reasons,
        "received_on": appeal.received_on,
        "decided_on": appeal.decided_on,
        "continues": appeal.decision is not AppealDecision.LIFTED,
    }


def _subject(session: Session, restriction_id: int) -> Restriction:
    restriction = appeal_store.letter_subject(session, restriction_id)
    if restriction is None:
        raise LetterError(f"no restriction with id {restriction_id}")
    return restriction


def _rendered(
    actor: str, now: dt.datetime, r: Restriction, kind: LetterKind, form: str
) -> AuditEntry:
    return lifecycle.audit(
        Actor(actor), AuditAction.LETTER_RENDERED, r, now,
        kind=kind.value, format=form, customer_id=r.customer_id,
    )  # fmt: skip
