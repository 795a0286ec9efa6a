"""The decision engine: one question for every channel, answered by a chain of named rules.

"This contact, from these identities, to this mailbox or line, at this time: what happens?"
Each rule is small, has a name and a plain-English reason when it fires, and the chain reads
top to bottom. The reasons are stored with the contact event: they answer "why was this
redirected?" for the council and for an appeal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from routing.content import ContentHints
from routing.enums import (
    Channel,
    Direction,
    EmailMeasure,
    FlagKind,
    Mode,
    Outcome,
    PhoneMeasure,
)
from routing.identity import NormalisedIdentity
from routing.snapshot import RegisterSnapshot, RestrictionTerms
from routing.windows import LONDON

# How strongly each mail outcome restricts; when several restrictions apply, the strongest wins.
_MAIL_STRENGTH = {
    Outcome.DELIVER: 0,
    Outcome.COPY: 1,
    Outcome.REDIRECT: 2,
    Outcome.FILE: 3,
    Outcome.REJECT: 4,
}
_MEASURE_OUTCOME = {
    EmailMeasure.NONE: Outcome.DELIVER,
    EmailMeasure.COPY: Outcome.COPY,
    EmailMeasure.REDIRECT: Outcome.REDIRECT,
    EmailMeasure.FILE: Outcome.FILE,
    EmailMeasure.REJECT: Outcome.REJECT,
}


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """Installation-wide settings the rules consult."""

    records_mailbox: str
    ig_mailbox: str
    installation_id: str
    exempt_addresses: frozenset[str] = frozenset()
    timezone: ZoneInfo = LONDON
    holidays: Container[dt.date] | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    """The question: one email to one recipient, or one call to one line."""

    channel: Channel
    senders: tuple[NormalisedIdentity, ...]
    to: str
    at: dt.datetime
    direction: Direction = Direction.INBOUND
    hints: ContentHints = field(default_factory=ContentHints)
    duration_seconds: int | None = None
    # Earlier inbound calls from the same person, counted by the caller from contact events.
    calls_earlier_today: int = 0
    calls_earlier_this_week: int = 0


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule that fired, and why, in words a manager or an appeal panel can read."""

    rule: str
    reason: str
    restriction: str | None = None

    def as_dict(self) -> dict[str, str]:
        record = {"rule": self.rule, "reason": self.reason}
        if self.restriction:
            record["restriction"] = self.restriction
        return record


@dataclass(frozen=True, slots=True)
class CallFlag:
    kind: FlagKind
    restriction: RestrictionTerms
    detail: str


@dataclass(frozen=True)
class Decision:
    """The answer: what happens, because of which restriction, and the reasons."""

    outcome: Outcome
    reasons: tuple[RuleHit, ...]
    restriction: RestrictionTerms | None = None
    mode: Mode | None = None
    would_outcome: Outcome | None = None  # shadow mode: what enforcement would have done
    deliver_to: tuple[str, ...] = ()
    flags: tuple[CallFlag, ...] = ()
    statutory: bool = False
    safeguarding: bool = False
    reject_message: str | None = None

    @property
    def restricted(self) -> bool:
        return self.restriction is not None


@dataclass
class _Candidate:
    identity: NormalisedIdentity
    terms: RestrictionTerms


@dataclass
class _Working:
    """The state a chain of rules narrows down, rule by rule."""

    contact: Contact
    policy: RoutingPolicy
    snapshot: RegisterSnapshot
    candidates: list[_Candidate] = field(default_factory=list)
    hits: list[RuleHit] = field(default_factory=list)
    outcome: Outcome = Outcome.DELIVER
    chosen: _Candidate | None = None
    would_outcome: Outcome | None = None
    flags: list[CallFlag] = field(default_factory=list)
    shadow_flags: list[CallFlag] = field(default_factory=list)
    statutory: bool = False
    safeguarding: bool = False
    finished: bool = False

    @property
    def local_day(self) -> dt.date:
        return self.contact.at.astimezone(self.policy.timezone).date()

    def hit(self, rule: str, reason: str, terms: RestrictionTerms | None = None) -> None:
        self.hits.append(RuleHit(rule, reason, terms.reference if terms else None))

    def drop(
        self,
        keep: Callable[[RestrictionTerms], bool],
        rule: str,
        why: Callable[[RestrictionTerms], str],
    ) -> None:
        """Remove the candidates a rule rules out, recording the reason for each."""
        kept = []
        for candidate in self.candidates:
            if keep(candidate.terms):
                kept.append(candidate)
            else:
                self.hit(rule, why(candidate.terms), candidate.terms)
        self.candidates = kept
        if not kept:
            self.finished = True


Rule = Callable[[_Working], None]


# --- rules shared by both channels -------------------------------------------------------


def loop_guard(w: _Working) -> None:
    """A message this installation has already routed is delivered as addressed."""
    if w.contact.hints.routed_by == w.policy.installation_id:
        w.hit("loop_guard", "Already routed by this gateway; delivered as addressed.")
        w.finished = True


def statutory_request(w: _Working) -> None:
    """FOI and EIR requests and data protection rights always reach information governance."""
    if w.contact.hints.statutory:
        w.statutory = True
        w.hit(
            "statutory_request",
            "Wording suggests a statutory request (Freedom of Information, Environmental "
            f"Information or a data protection right){_because(w.contact.hints.statutory_because)}"
            " A copy goes to information governance whatever any restriction says, and it is not "
            "counted as unreasonable contact.",
        )


def safeguarding_wording(w: _Working) -> None:
    """Wording about harm to self or others must reach a person quickly."""
    if w.contact.hints.safeguarding:
        w.safeguarding = True
        w.hit(
            "safeguarding",
            "Wording suggests a risk of harm to the sender or others"
            f"{_because(w.contact.hints.safeguarding_because)} Urgent alert raised.",
        )


def _because(why: str | None) -> str:
    """The screen's reason, so whoever reads the decision sees which words raised it."""
    return f": it {why}." if why else "."


def restricted_sender(w: _Working) -> None:
    """Find the restrictions reachable from any of the contact's identities."""
    seen: set[int] = set()
    for identity in w.contact.senders:
        if not identity.ok or identity.value is None:
            continue
        for terms in w.snapshot.restrictions_for(identity.kind, identity.value):
            if terms.id not in seen:
                seen.add(terms.id)
                w.candidates.append(_Candidate(identity, terms))
    if not w.candidates:
        w.hit("restricted_sender", "No restriction applies to this sender.")
        w.finished = True


def in_force(w: _Working) -> None:
    """Only restrictions whose dates cover the contact's day (UK time) apply."""
    day = w.local_day
    w.drop(
        lambda t: t.in_force_on(day),
        "in_force",
        lambda t: f"{t.reference} is not in force on {day.isoformat()}.",
    )


def exempt_address(w: _Working) -> None:
    """Exempt mailboxes and lines (statutory duty teams, for example) are always reached."""
    to = w.contact.to
    w.drop(
        lambda t: to not in w.policy.exempt_addresses and to not in t.exempt_addresses,
        "exempt",
        lambda t: f"{t.reference} does not apply: {to} is exempt.",
    )


def in_scope(w: _Working) -> None:
    """A restriction scoped to named services leaves other services alone."""
    to = w.contact.to
    w.drop(
        lambda t: t.covers(to),
        "scope",
        lambda t: (
            f"{t.reference} covers only {', '.join(t.scope_services) or 'named services'}"
            f"; {to} is outside its scope."
        ),
    )


# --- mail rules ---------------------------------------------------------------------------


def permitted_channel(w: _Working) -> None:
    """What a restriction leaves open (its SPOC mailbox) and the information-governance
    mailbox are always reached: a restriction never stands between the customer and the
    channel it names, or their statutory rights."""
    to = w.contact.to
    w.drop(
        lambda t: to != t.spoc_email and to != w.policy.ig_mailbox,
        "permitted_channel",
        lambda t: (
            f"{t.reference} does not apply: {to} is "
            + (
                "the information-governance mailbox."
                if to == w.policy.ig_mailbox
                else "the single point of contact it names."
            )
        ),
    )


def email_measure(w: _Working) -> None:
    """Apply the strongest email measure; shadow restrictions only record what they would do."""
    with_measure = [c for c in w.candidates if c.terms.email_measure is not EmailMeasure.NONE]
    enforced = [c for c in with_measure if c.terms.mode is Mode.ENFORCE]
    shadowed = [c for c in with_measure if c.terms.mode is Mode.SHADOW]
    if enforced:
        w.chosen = _strongest(enforced)
        w.outcome = _MEASURE_OUTCOME[w.chosen.terms.email_measure]
        w.hit("email_measure", _measure_reason(w.chosen, w.outcome), w.chosen.terms)
    if shadowed and (not enforced or _stronger(_strongest(shadowed), w.chosen)):
        trial = _strongest(shadowed)
        w.would_outcome = _MEASURE_OUTCOME[trial.terms.email_measure]
        w.chosen = w.chosen or trial
        w.hit(
            "shadow_mode",
            f"{trial.terms.reference} is in shadow mode: it would have meant "
            f"'{w.would_outcome}'; nothing was changed because of it.",
            trial.terms,
        )
    if not with_measure:
        w.chosen = w.candidates[0]
        w.hit("email_measure", _measure_reason(w.chosen, Outcome.DELIVER), w.chosen.terms)


def _stronger(candidate: _Candidate, than: _Candidate | None) -> bool:
    return than is None or _strength(candidate) > _strength(than)


def _strength(candidate: _Candidate) -> int:
    return _MAIL_STRENGTH[_MEASURE_OUTCOME[candidate.terms.email_measure]]


def _strongest(candidates: list[_Candidate]) -> _Candidate:
    return max(candidates, key=_strength)


def _measure_reason(candidate: _Candidate, outcome: Outcome) -> str:
    terms, sender = candidate.terms, candidate.identity.value
    spoc = terms.spoc_email or "the single point of contact"
    return {
        Outcome.DELIVER: f"{terms.reference} places no restriction on email from {sender}.",
        Outcome.COPY: f"{terms.reference}: email from {sender} is copied to {spoc}.",
        Outcome.REDIRECT: f"{terms.reference}: email from {sender} goes only to {spoc}.",
        Outcome.FILE: f"{terms.reference}: email from {sender} is placed on file "
        "(records mailbox), no reply expected.",
        Outcome.REJECT: f"{terms.reference}: email from {sender} is refused; the customer "
        "is told the permitted channel.",
    }[outcome]


def a_person_must_read(w: _Working) -> None:
    """Never refuse a statutory request or a safeguarding concern: it goes to a person."""
    if not (w.statutory or w.safeguarding):
        return
    target = _spoc_or_records(w)
    if w.outcome is Outcome.REJECT:
        w.outcome = Outcome.REDIRECT
        w.hit(
            "a_person_must_read",
            f"Not refused despite the restriction: statutory "
            f"requests and safeguarding concerns must reach a person, so it goes to {target}.",
            w.chosen.terms if w.chosen else None,
        )
    if w.would_outcome is Outcome.REJECT:
        w.would_outcome = Outcome.REDIRECT  # a trial must not record a refusal we never make


def never_back_to_sender(w: _Working) -> None:
    """A redirect never sends a message back to one of its own senders."""
    target = _spoc_or_records(w)
    senders = {i.value for i in w.contact.senders if i.ok}
    if w.outcome in (Outcome.REDIRECT, Outcome.COPY) and target in senders:
        w.outcome = Outcome.DELIVER
        w.hit(
            "never_back_to_sender",
            f"The redirect target {target} is the sender; delivered as addressed instead.",
            w.chosen.terms if w.chosen else None,
        )


def _spoc_or_records(w: _Working) -> str:
    terms = w.chosen.terms if w.chosen else None
    return (terms.spoc_email if terms and terms.spoc_email else None) or w.policy.records_mailbox


MAIL_CHAIN: tuple[Rule, ...] = (
    loop_guard,
    statutory_request,
    safeguarding_wording,
    restricted_sender,
    in_force,
    exempt_address,
    permitted_channel,
    in_scope,
    email_measure,
    a_person_must_read,
    never_back_to_sender,
)


# --- call rules ---------------------------------------------------------------------------


def outbound_call(w: _Working) -> None:
    """Calls the council makes are recorded but never flagged."""
    if w.contact.direction is Direction.OUTBOUND:
        w.hit("outbound_call", "Outbound call from the council: recorded, not flagged.")
        w.finished = True


def unidentified_caller(w: _Working) -> None:
    """A withheld or unreadable number cannot be matched to anyone: never guessed."""
    if not any(identity.ok for identity in w.contact.senders):
        state = w.contact.senders[0].state if w.contact.senders else "missing"
        w.hit("unidentified_caller", f"Caller number {state}: cannot be matched to a person.")
        w.finished = True


def phone_measures(w: _Working) -> None:
    """Compare the call with each restriction's telephone measures and flag what it breaks."""
    for candidate in w.candidates:
        terms = candidate.terms
        found = [flag for check in _CALL_CHECKS if (flag := check(w, terms)) is not None]
        target = w.flags if terms.mode is Mode.ENFORCE else w.shadow_flags
        target.extend(found)
        for flag in found:
            prefix = "" if terms.mode is Mode.ENFORCE else "(shadow mode) "
            w.hit(flag.kind.value, prefix + flag.detail, terms)
    if w.flags:
        w.outcome = Outcome.FLAG
        w.chosen = next(c for c in w.candidates if c.terms is w.flags[0].restriction)
    elif w.shadow_flags:
        w.outcome = Outcome.ALLOW
        w.would_outcome = Outcome.FLAG
        w.chosen = next(c for c in w.candidates if c.terms is w.shadow_flags[0].restriction)
    else:
        w.outcome = Outcome.ALLOW
        w.chosen = w.candidates[0]
        w.hit(
            "within_terms", f"{w.chosen.terms.reference}: call is within its terms.", w.chosen.terms
        )


def _barred(w: _Working, terms: RestrictionTerms) -> CallFlag | None:
    if terms.phone_measure is not PhoneMeasure.BARRED:
        return None
    return CallFlag(
        FlagKind.PHONE_BARRED, terms, f"{terms.reference}: no telephone contact is permitted."
    )


def _outside_window(w: _Working, terms: RestrictionTerms) -> CallFlag | None:
    if terms.phone_measure is not PhoneMeasure.WINDOWS:
        return None
    options = {"tz": w.policy.timezone, "holidays": w.policy.holidays}
    if terms.windows.is_open(w.contact.at, **options):
        return None
    local = w.contact.at.astimezone(w.policy.timezone).strftime("%a %d %b %H:%M")
    return CallFlag(
        FlagKind.OUTSIDE_WINDOW,
        terms,
        f"{terms.reference}: call at {local} is outside the permitted times "
        f"({terms.windows or 'none'}).",
    )


def _over_call_limit(w: _Working, terms: RestrictionTerms) -> CallFlag | None:
    limits = (
        (terms.max_calls_per_day, w.contact.calls_earlier_today, "day"),
        (terms.max_calls_per_week, w.contact.calls_earlier_this_week, "week"),
    )
    for limit, earlier, period in limits:
        if limit is not None and earlier + 1 > limit:
            return CallFlag(
                FlagKind.OVER_CALL_LIMIT,
                terms,
                f"{terms.reference}: call {earlier + 1} this {period}; the limit is {limit}.",
            )
    return None


def _over_duration(w: _Working, terms: RestrictionTerms) -> CallFlag | None:
    seconds, limit = w.contact.duration_seconds, terms.max_call_minutes
    if seconds is None or limit is None or seconds <= limit * 60:
        return None
    return CallFlag(
        FlagKind.OVER_DURATION,
        terms,
        f"{terms.reference}: call lasted {_minutes(seconds)}; the limit is {limit} minutes.",
    )


def _wrong_line(w: _Working, terms: RestrictionTerms) -> CallFlag | None:
    # With set call times, the customer is to call the single point of contact's line.
    if terms.phone_measure is not PhoneMeasure.WINDOWS or not terms.spoc_phone:
        return None
    if w.contact.to == terms.spoc_phone:
        return None
    return CallFlag(
        FlagKind.WRONG_LINE,
        terms,
        f"{terms.reference}: called {w.contact.to}; permitted line is {terms.spoc_phone}.",
    )


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min {seconds % 60:02d} s"


_CALL_CHECKS = (_barred, _outside_window, _over_call_limit, _over_duration, _wrong_line)

CALL_CHAIN: tuple[Rule, ...] = (
    outbound_call,
    unidentified_caller,
    restricted_sender,
    in_force,
    exempt_address,
    in_scope,
    phone_measures,
)


# --- the one question ---------------------------------------------------------------------


def decide(contact: Contact, snapshot: RegisterSnapshot, policy: RoutingPolicy) -> Decision:
    """Walk the channel's chain of rules and return what happens to this contact, and why."""
    if contact.at.tzinfo is None:
        raise ValueError("contact time must be timezone-aware")
    working = _Working(contact, policy, snapshot)
    if contact.channel is Channel.PHONE:
        working.outcome = Outcome.ALLOW
    chain = MAIL_CHAIN if contact.channel is Channel.EMAIL else CALL_CHAIN
    for rule in chain:
        rule(working)
        if working.finished:
            break
    return _conclude(working)


def _conclude(w: _Working) -> Decision:
    terms = w.chosen.terms if w.chosen else None
    return Decision(
        outcome=w.outcome,
        reasons=tuple(w.hits),
        restriction=terms,
        mode=terms.mode if terms else None,
        would_outcome=w.would_outcome,
        deliver_to=_recipients(w) if w.contact.channel is Channel.EMAIL else (),
        flags=tuple(w.flags or w.shadow_flags),
        statutory=w.statutory,
        safeguarding=w.safeguarding,
        reject_message=_reject_message(terms) if w.outcome is Outcome.REJECT else None,
    )


def _recipients(w: _Working) -> tuple[str, ...]:
    """Where this copy of the message goes, original recipient first, without repeats."""
    by_outcome = {
        Outcome.DELIVER: [w.contact.to],
        Outcome.COPY: [w.contact.to, _spoc_or_records(w)],
        Outcome.REDIRECT: [_spoc_or_records(w)],
        Outcome.FILE: [w.policy.records_mailbox],
        # The sender is refused, but a person still reads it (new matters, safeguarding).
        Outcome.REJECT: [_spoc_or_records(w)],
    }
    targets = by_outcome[w.outcome]
    if w.statutory:
        targets.append(w.policy.ig_mailbox)
    return tuple(dict.fromkeys(targets))


def _reject_message(terms: RestrictionTerms | None) -> str:
    """The SMTP refusal text: it names the permitted channel (ASCII only, one line)."""
    channels = []
    if terms and terms.spoc_email:
        channels.append(f"email {terms.spoc_email}")
    if terms and terms.spoc_phone and terms.phone_measure is not PhoneMeasure.BARRED:
        channels.append(f"telephone {terms.spoc_phone}")
    route = " or ".join(channels) if channels else "write to the council by post"
    ref = f" ({terms.reference})" if terms else ""
    return (
        f"Your contact with the council is managed under a contact arrangement{ref}; "
        f"please {route}."
    )
