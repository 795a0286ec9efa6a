"""What applies to one email address or phone number now: the answer agents and IT read.

`look_up` gathers the facts from the register snapshot. `answer_fields` flattens them into
the fields the JSON API returns (flat, so a telephony platform's CRM template can map each
one to a screen-pop field), and `describe` prints the same facts for `ccr lookup`. The
agent script is written here, from the restriction's measures, so every channel reads the
same words. Pure: no I/O, and the time is passed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from routing.engine import RoutingPolicy
from routing.enums import EmailMeasure, IdentityKind, IdentityState, Mode, PhoneMeasure
from routing.identity import NormalisedIdentity, display_phone
from routing.snapshot import RegisterSnapshot, RestrictionTerms

# When several restrictions reach one identity (a shared household number, say), the
# strongest leads the answer: enforced before trial, then the tightest phone measure, then
# the tightest email measure.
_PHONE_STRENGTH = {PhoneMeasure.NONE: 0, PhoneMeasure.WINDOWS: 1, PhoneMeasure.BARRED: 2}
_EMAIL_STRENGTH = {
    EmailMeasure.NONE: 0,
    EmailMeasure.COPY: 1,
    EmailMeasure.REDIRECT: 2,
    EmailMeasure.FILE: 3,
    EmailMeasure.REJECT: 4,
}

# Said whenever an enforced restriction is shown: a restriction never overrides these.
_SAFEGUARDING = (
    "If they tell you that they or someone else is at risk of harm, stay on the line and "
    "follow the safeguarding procedure."
)
_STATUTORY = (
    "A request for information or for their own personal data (FOI, EIR or subject "
    "access) must still be taken as usual."
)


class LookupState(StrEnum):
    """The one-word answer: what a screen pop or an IVR branches on."""

    RESTRICTED = "restricted"
    NOT_RESTRICTED = "not_restricted"
    WITHHELD = "withheld"  # no number was presented: nothing can be checked
    UNPARSEABLE = "unparseable"  # something was presented, but not a number or address


@dataclass(frozen=True, slots=True)
class RestrictionSummary:
    reference: str
    stage: str
    mode: str
    email_measure: str
    phone_measure: str
    phone_windows: str
    window_open_now: bool | None  # None when calls are not limited to windows
    next_window_opens: dt.datetime | None
    spoc_name: str | None
    spoc_email: str | None
    spoc_phone: str | None  # E.164
    window_closes_at: dt.datetime | None = None  # when open now: when the window ends
    max_calls_per_day: int | None = None
    max_calls_per_week: int | None = None
    max_call_minutes: int | None = None
    services: tuple[str, ...] = ()  # the services it is scoped to; empty: every service

    @property
    def enforced(self) -> bool:
        return self.mode == Mode.ENFORCE

    @property
    def scope_text(self) -> str:
        """ "Council Tax only", "Council Tax and Housing only", or "Every council service"."""
        if not self.services:
            return "Every council service"
        names = list(self.services)
        joined = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        return f"{joined} only"

    @property
    def call_permitted_now(self) -> bool:
        """Whether an agent may take a call from this customer now under these terms."""
        if not self.enforced or self.phone_measure == PhoneMeasure.NONE:
            return True
        if self.phone_measure == PhoneMeasure.BARRED:
            return False
        return bool(self.window_open_now)

    @property
    def strength(self) -> tuple[bool, int, int]:
        return (
            self.enforced,
            _PHONE_STRENGTH[PhoneMeasure(self.phone_measure)],
            _EMAIL_STRENGTH[EmailMeasure(self.email_measure)],
        )


@dataclass(frozen=True, slots=True)
class LookupAnswer:
    identity: NormalisedIdentity
    restrictions: tuple[RestrictionSummary, ...]  # strongest first
    checked_at: dt.datetime

    @property
    def restricted(self) -> bool:
        return bool(self.restrictions)

    @property
    def enforced(self) -> bool:
        return any(r.mode == Mode.ENFORCE for r in self.restrictions)

    @property
    def state(self) -> LookupState:
        if self.identity.state is IdentityState.WITHHELD:
            return LookupState.WITHHELD
        if not self.identity.ok:
            return LookupState.UNPARSEABLE
        return LookupState.RESTRICTED if self.restricted else LookupState.NOT_RESTRICTED

    @property
    def primary(self) -> RestrictionSummary | None:
        """The restriction whose terms the flat fields and the agent script describe."""
        return self.restrictions[0] if self.restrictions else None

    @property
    def references(self) -> list[str]:
        return [r.reference for r in self.restrictions]

    @property
    def call_permitted_now(self) -> bool | None:
        """True or False when known; None when the number could not be checked."""
        if self.state in (LookupState.WITHHELD, LookupState.UNPARSEABLE):
            return None
        return all(r.call_permitted_now for r in self.restrictions)


def look_up(
    identity: NormalisedIdentity,
    snapshot: RegisterSnapshot,
    policy: RoutingPolicy,
    at: dt.datetime,
) -> LookupAnswer:
    """The restrictions in force for this identity at `at`, strongest first, with window
    status for calls."""
    if not identity.ok or identity.value is None:
        return LookupAnswer(identity, (), at)
    day = at.astimezone(policy.timezone).date()
    terms = snapshot.restrictions_for(identity.kind, identity.value)
    in_force = [summarise(t, policy, at) for t in terms if t.in_force_on(day)]
    in_force.sort(key=lambda r: r.reference)
    in_force.sort(key=lambda r: r.strength, reverse=True)
    return LookupAnswer(identity, tuple(in_force), at)


def summarise(
    terms: RestrictionTerms, policy: RoutingPolicy, at: dt.datetime
) -> RestrictionSummary:
    """One restriction's terms as a lookup shows them, with its calling window at `at`."""
    open_now: bool | None = None
    next_open: dt.datetime | None = None
    closes: dt.datetime | None = None
    if terms.phone_measure is PhoneMeasure.WINDOWS:
        options = {"tz": policy.timezone, "holidays": policy.holidays}
        open_now = terms.windows.is_open(at, **options)
        if open_now:
            closes = terms.windows.closes_at(at, **options)
        else:
            next_open = terms.windows.next_open(at, **options)
    return RestrictionSummary(
        reference=terms.reference,
        stage=terms.stage.value,
        mode=terms.mode.value,
        email_measure=terms.email_measure.value,
        phone_measure=terms.phone_measure.value,
        phone_windows=str(terms.windows),
        window_open_now=open_now,
        next_window_opens=next_open,
        spoc_name=terms.spoc_name,
        spoc_email=terms.spoc_email,
        spoc_phone=terms.spoc_phone,
        window_closes_at=closes,
        max_calls_per_day=terms.max_calls_per_day,
        max_calls_per_week=terms.max_calls_per_week,
        max_call_minutes=terms.max_call_minutes,
        services=() if terms.scope_all else terms.scope_services,
    )


# --- the flat fields the API returns ---------------------------------------------------------


def answer_fields(answer: LookupAnswer, tz: dt.tzinfo) -> dict[str, Any]:
    """The answer as flat JSON-ready fields: every value a string, number, bool, null or a
    list of strings. Fields that do not apply are null, never left out."""
    r = answer.primary
    now = answer.checked_at
    windows = r is not None and r.phone_measure == PhoneMeasure.WINDOWS
    return {
        "state": answer.state.value,
        "restricted": answer.restricted,
        "enforced": answer.enforced,
        "kind": answer.identity.kind.value,
        "identity": answer.identity.value,
        "reference": r.reference if r else None,
        "references": answer.references,
        "mode": r.mode if r else None,
        "stage": r.stage if r else None,
        "phone_measure": r.phone_measure if r else None,
        "email_measure": r.email_measure if r else None,
        "phone_windows": r.phone_windows if r and windows else None,
        "call_permitted_now": answer.call_permitted_now,
        "window_open_now": r.window_open_now if r else None,
        "window_closes_at": _iso(r.window_closes_at if r else None, tz),
        "next_window_opens": _iso(r.next_window_opens if r else None, tz),
        "next_window_opens_text": _next_opens_text(r, now, tz) if r else None,
        "window_text": window_text(r, now, tz) if r else None,
        "max_calls_per_day": r.max_calls_per_day if r else None,
        "max_calls_per_week": r.max_calls_per_week if r else None,
        "max_call_minutes": r.max_call_minutes if r else None,
        "spoc_name": r.spoc_name if r else None,
        "spoc_email": r.spoc_email if r else None,
        "spoc_phone": display_phone(r.spoc_phone) if r and r.spoc_phone else None,
        "spoc_phone_e164": r.spoc_phone if r else None,
        "services": list(r.services) if r and r.services else None,
        "scope_text": r.scope_text if r else None,
        "summary": summary_line(answer, tz),
        "agent_script": agent_script(answer, tz),
        "checked_at": _iso(now, tz),
    }


def _iso(instant: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    # The council's wall clock with its offset (+00:00 or +01:00): readable by people and
    # parseable by machines, without anyone converting from UTC.
    return None if instant is None else instant.astimezone(tz).isoformat(timespec="seconds")


def when_text(instant: dt.datetime, now: dt.datetime, tz: dt.tzinfo) -> str:
    """ "today at 14:00", "tomorrow at 10:00" or "on Thursday 26 November at 14:00"."""
    local = instant.astimezone(tz)
    today = now.astimezone(tz).date()
    clock = f"{local:%H:%M}"
    if local.date() == today:
        return f"today at {clock}"
    if local.date() == today + dt.timedelta(days=1):
        return f"tomorrow at {clock}"
    return f"on {local:%A} {local.day} {local:%B} at {clock}"


def _next_opens_text(r: RestrictionSummary, now: dt.datetime, tz: dt.tzinfo) -> str | None:
    if r.next_window_opens is None:
        return None
    return when_text(r.next_window_opens, now, tz).removeprefix("on ")


def window_text(r: RestrictionSummary, now: dt.datetime, tz: dt.tzinfo) -> str | None:
    """Whether the permitted calling times are open, in words; None without windows."""
    if r.phone_measure != PhoneMeasure.WINDOWS:
        return None
    if r.window_open_now:
        if r.window_closes_at is None:
            return "open now"
        return f"open now, until {when_text(r.window_closes_at, now, tz)}"
    if r.next_window_opens is None:
        return "closed, no window ahead"
    return f"closed now, next opens {when_text(r.next_window_opens, now, tz)}"


def summary_line(answer: LookupAnswer, tz: dt.tzinfo) -> str:
    """One short line for the top of a screen pop."""
    state = answer.state
    if state is LookupState.WITHHELD:
        return "Number withheld: cannot check for a contact restriction"
    if state is LookupState.UNPARSEABLE:
        what = "Email address" if answer.identity.kind is IdentityKind.EMAIL else "Number"
        return f"{what} not recognised: cannot check for a contact restriction"
    r = answer.primary
    if r is None:
        return "No contact restriction"
    trial = "" if r.enforced else " (trial, not applied)"
    return f"Contact restriction {r.reference}{trial}: {_phone_terms(r, answer.checked_at, tz)}"


def _phone_terms(r: RestrictionSummary, now: dt.datetime, tz: dt.tzinfo) -> str:
    if r.phone_measure == PhoneMeasure.BARRED:
        return "no telephone contact"
    if r.phone_measure == PhoneMeasure.WINDOWS:
        return f"calls only {r.phone_windows} ({window_text(r, now, tz)})"
    return "telephone contact not restricted"


# --- the agent script ------------------------------------------------------------------------


def agent_script(answer: LookupAnswer, tz: dt.tzinfo) -> str:
    """What the agent does and says, in plain words, derived from the measures in force."""
    phone = answer.identity.kind is IdentityKind.PHONE
    state = answer.state
    if state is LookupState.WITHHELD:
        return (
            "The caller's number is withheld, so we cannot tell whether a contact restriction "
            "applies. Please handle the call as normal."
        )
    if state is LookupState.UNPARSEABLE:
        what = "The caller's number" if phone else "That email address"
        return (
            f"{what} could not be recognised, so we cannot tell whether a contact restriction "
            f"applies. Please handle the {'call' if phone else 'contact'} as normal."
        )
    r = answer.primary
    who = "caller" if phone else "customer"
    if r is None:
        return (
            f"No contact restriction applies to this {who}. Please handle the "
            f"{'call' if phone else 'contact'} as normal."
        )
    return _restriction_script(r, who, answer.checked_at, tz, others=answer.references[1:])


def call_script(r: RestrictionSummary, now: dt.datetime, tz: dt.tzinfo) -> str:
    """What the agent does and says on a call under this one restriction: the words of the
    screen pop, for the customer record's caller view."""
    return _restriction_script(r, "caller", now, tz, others=[])


def _restriction_script(
    r: RestrictionSummary, who: str, now: dt.datetime, tz: dt.tzinfo, *, others: list[str]
) -> str:
    if not r.enforced:
        return (
            f"Contact restriction {r.reference} is on trial (shadow mode) and does not apply "
            "yet. Please take the call as normal."
        )
    sentences = [_measure_script(r, who, now, tz)]
    if r.services:
        # The lookup cannot know which service the call is about; the agent can ask.
        sentences.insert(0, f"{r.scope_text}: take other {_contacts(who)} as normal.")
    limits = _limits_sentence(r)
    if limits:
        sentences.append(limits)
    if others:
        sentences.append(
            f"Other restrictions also apply ({', '.join(others)}); ask a manager if you are unsure."
        )
    sentences += [_SAFEGUARDING, _STATUTORY]
    return " ".join(sentences)


def _measure_script(r: RestrictionSummary, who: str, now: dt.datetime, tz: dt.tzinfo) -> str:
    if r.phone_measure == PhoneMeasure.BARRED:
        return (
            f"Telephone contact is not accepted from this {who} under contact restriction "
            f"{r.reference}. Say: \"I'm sorry, I'm not able to take your call. As we explained "
            f'when we wrote to you, please contact {_written_channel(r)}. Thank you." Then '
            "end the call politely."
        )
    if r.phone_measure == PhoneMeasure.WINDOWS:
        return _windows_script(r, who, now, tz)
    script = (
        f"Contact restriction {r.reference} applies to this {who}, but not to telephone "
        "calls: please take the call as normal."
    )
    if r.spoc_email:
        script += f" Their emails go to {_spoc_name(r)} ({r.spoc_email})."
    return script


def _windows_script(r: RestrictionSummary, who: str, now: dt.datetime, tz: dt.tzinfo) -> str:
    terms = (
        f"This {who} may phone only at set times ({r.phone_windows}) under contact "
        f"restriction {r.reference}"
    )
    if r.window_open_now:
        until = f" (until {when_text(r.window_closes_at, now, tz)})" if r.window_closes_at else ""
        script = f"{terms}. It is within those times now{until}, so please take the call."
        if r.spoc_phone:
            script += (
                f" Calls under this arrangement go to {_spoc_name(r)}: transfer the call to "
                f"{display_phone(r.spoc_phone)} if you can."
            )
        return script
    again = (
        f"You can call again {when_text(r.next_window_opens, now, tz)}, or "
        if r.next_window_opens
        else "Please "
    )
    return (
        f"{terms}, and it is outside those times now. Say: \"I'm sorry, I'm not able to take "
        f"your call at the moment. {again}contact {_written_channel(r)} at any time. Thank "
        'you." Then end the call politely.'
    )


def _contacts(who: str) -> str:
    return "calls" if who == "caller" else "contacts"


def _spoc_name(r: RestrictionSummary) -> str:
    return r.spoc_name or "the single point of contact"


def _written_channel(r: RestrictionSummary) -> str:
    """How the customer may reach us instead of phoning (never the phone line itself)."""
    if r.spoc_email:
        return f"{r.spoc_name or 'your single point of contact'} by email at {r.spoc_email}"
    if r.spoc_name:
        return f"{r.spoc_name} in writing"
    return "us in writing"


def _limits_sentence(r: RestrictionSummary) -> str | None:
    if r.phone_measure == PhoneMeasure.BARRED:
        return None
    limits = limits_text(r)
    if not limits:
        return None
    return (
        f"The arrangement allows {limits}; if a call goes beyond that, explain this kindly "
        "and close the call."
    )


def limits_text(r: RestrictionSummary) -> str | None:
    """ "1 call a day and 3 calls a week, up to 15 minutes a call", or None without limits."""
    counts = [
        f"{n} call{'s' if n > 1 else ''} a {period}"
        for n, period in ((r.max_calls_per_day, "day"), (r.max_calls_per_week, "week"))
        if n
    ]
    parts = [" and ".join(counts)] if counts else []
    if r.max_call_minutes:
        parts.append(f"up to {r.max_call_minutes} minutes a call")
    return ", ".join(parts) or None


# --- plain text for `ccr lookup` -------------------------------------------------------------


def describe(answer: LookupAnswer, tz: dt.tzinfo) -> list[str]:
    """The answer as short lines of plain text (for `ccr lookup`): the same facts as
    `answer_fields`, for every restriction in force."""
    identity = answer.identity
    if not identity.ok:
        lines = [f"{identity.raw!r}: {identity.state} {identity.kind}; no restriction can apply"]
    else:
        count = len(answer.restrictions)
        lines = [
            f"{identity.kind} {identity.value}: "
            + (f"{count} restriction(s) in force" if count else "no restriction in force")
        ]
    for r in answer.restrictions:
        lines += _restriction_lines(r, answer.checked_at, tz)
    permitted = answer.call_permitted_now
    lines += [
        f"state: {answer.state}",
        "call permitted now: " + ("unknown" if permitted is None else _yes_no(permitted)),
        f"summary: {summary_line(answer, tz)}",
        f"agent script: {agent_script(answer, tz)}",
    ]
    return lines


def _restriction_lines(r: RestrictionSummary, now: dt.datetime, tz: dt.tzinfo) -> list[str]:
    lines = [
        f"  {r.reference}  stage {r.stage}  mode {r.mode}  email {r.email_measure}"
        f"  phone {r.phone_measure}"
    ]
    if r.services:
        lines.append(f"    covers: {r.scope_text}")
    window = window_text(r, now, tz)
    if window is not None:
        lines.append(f"    permitted times: {r.phone_windows}; {window}")
    limits = limits_text(r)
    if limits:
        lines.append(f"    limits: {limits}")
    phone = display_phone(r.spoc_phone) if r.spoc_phone else None
    spoc = ", ".join(x for x in (r.spoc_name, r.spoc_email, phone) if x)
    if spoc:
        lines.append(f"    single point of contact: {spoc}")
    return lines


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"
