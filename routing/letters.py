"""What a letter to the customer says about their restriction, in plain words (no I/O).

The council's templates (config/letters/) lay the letter out; the sentences that describe
the measures are built here, from the same terms the decision engine enforces, so a letter
can never promise one thing while the gateway does another.
"""

from __future__ import annotations

from routing.enums import Category, EmailMeasure, LetterKind, PhoneMeasure, Stage
from routing.models import Restriction
from routing.windows import WindowSchedule, WindowSyntaxError

# Letters about a decision the customer may appeal: sending one starts the appeal window.
APPEALABLE_KINDS = frozenset(
    {LetterKind.NOTIFICATION, LetterKind.VARIATION, LetterKind.REVIEW_OUTCOME}
)

KIND_TITLES = {
    LetterKind.NOTIFICATION: "Notification of a restriction",
    LetterKind.VARIATION: "Variation of a restriction",
    LetterKind.REVIEW_OUTCOME: "Review outcome",
    LetterKind.LIFTING: "Lifting of a restriction",
    LetterKind.APPEAL_OUTCOME: "Appeal outcome",
}

STAGE_WORDS = {
    Stage.WARNING: "a warning",
    Stage.STAGE1: "a stage 1 restriction",
    Stage.STAGE2: "a stage 2 restriction",
    Stage.CEASE_AND_DESIST: "a cease and desist notice",
}

CATEGORY_WORDS = {
    Category.A: "aggressive or abusive behaviour",
    Category.B: "unreasonable demands",
    Category.C: "an unreasonable level of contact",
    Category.D: "unreasonable use of the complaints process",
}

_DAY_NAMES = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")


def email_sentence(r: Restriction) -> str | None:
    """What happens to the customer's emails, said to them."""
    spoc = spoc_label(r)
    return {
        EmailMeasure.NONE: None,
        EmailMeasure.REDIRECT: f"Your emails to the council will go to {spoc} only, "
        "not to the officers you write to.",
        EmailMeasure.COPY: f"Your emails will reach the officers you write to, and a copy "
        f"will go to {spoc}.",
        EmailMeasure.FILE: "Your emails will be placed on file and will not receive a reply, "
        "unless they raise something new.",
        EmailMeasure.REJECT: f"Emails you send to council officers will be returned to you; "
        f"please contact {spoc} instead.",
    }[r.email_measure]


def phone_sentences(r: Restriction) -> list[str]:
    """The telephone terms: when calls are taken, and any limits on their number or length."""
    sentences = []
    if r.phone_measure is PhoneMeasure.BARRED:
        sentences.append("You may not contact the council by telephone.")
    elif r.phone_measure is PhoneMeasure.WINDOWS:
        times = windows_in_words(r.phone_windows)
        sentences.append(f"You may telephone the council only at these times: {times}.")
    if r.max_calls_per_day:
        sentences.append(f"You may make at most {_calls(r.max_calls_per_day)} a day.")
    if r.max_calls_per_week:
        sentences.append(f"You may make at most {_calls(r.max_calls_per_week)} a week.")
    if r.max_call_minutes:
        sentences.append(f"Each call may last at most {r.max_call_minutes} minutes.")
    return sentences


def scope_sentence(r: Restriction) -> str:
    if r.scope_all:
        return "These measures apply to your contact with every council service."
    names = ", ".join(service.name for service in r.services) or "the services named"
    return (
        f"These measures apply only to your contact with: {names}. "
        "Contact other services as normal."
    )


def measures_in_words(r: Restriction) -> list[str]:
    """Every measure of the restriction, one plain sentence each, then its scope."""
    sentences = [s for s in [email_sentence(r), *phone_sentences(r)] if s]
    if not sentences:
        sentences.append("There is no change to how you may contact the council for now.")
    return [*sentences, scope_sentence(r)]


def spoc_label(r: Restriction) -> str:
    """The single point of contact as the customer knows them: a name, else a mailbox."""
    return r.spoc_name or r.spoc_email or "your single point of contact"


def windows_in_words(text: str | None) -> str:
    """'Tue 10:00-12:00; Thu 14:00-15:30' -> 'Tuesdays 10:00 to 12:00, Thursdays 14:00 to 15:30'."""
    try:
        schedule = WindowSchedule.parse(text)
    except WindowSyntaxError:
        return text or "none"
    parts = []
    for window in schedule.windows:
        _day, _, times = str(window).partition(" ")
        start, _, end = times.partition("-")
        parts.append(f"{_DAY_NAMES[window.weekday]} {start} to {end}")
    return ", ".join(parts) or "none"


def _calls(n: int) -> str:
    return f"{n} call{'s' if n != 1 else ''}"
