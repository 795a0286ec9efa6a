"""What applies to one email address or phone number now: the answer agents and IT read."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from routing.engine import RoutingPolicy
from routing.enums import IdentityKind, Mode, PhoneMeasure
from routing.identity import NormalisedIdentity, display_phone
from routing.snapshot import RegisterSnapshot, RestrictionTerms


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
    spoc_phone: str | None


@dataclass(frozen=True, slots=True)
class LookupAnswer:
    identity: NormalisedIdentity
    restrictions: tuple[RestrictionSummary, ...]

    @property
    def restricted(self) -> bool:
        return bool(self.restrictions)

    @property
    def enforced(self) -> bool:
        return any(r.mode == Mode.ENFORCE for r in self.restrictions)


def look_up(
    identity: NormalisedIdentity,
    snapshot: RegisterSnapshot,
    policy: RoutingPolicy,
    at: dt.datetime,
) -> LookupAnswer:
    """The restrictions in force for this identity at `at`, with window status for calls."""
    if not identity.ok or identity.value is None:
        return LookupAnswer(identity, ())
    day = at.astimezone(policy.timezone).date()
    terms = snapshot.restrictions_for(identity.kind, identity.value)
    in_force = [t for t in terms if t.in_force_on(day)]
    return LookupAnswer(identity, tuple(_summary(t, policy, at) for t in in_force))


def _summary(terms: RestrictionTerms, policy: RoutingPolicy, at: dt.datetime) -> RestrictionSummary:
    open_now: bool | None = None
    next_open: dt.datetime | None = None
    if terms.phone_measure is PhoneMeasure.WINDOWS:
        options = {"tz": policy.timezone, "holidays": policy.holidays}
        open_now = terms.windows.is_open(at, **options)
        next_open = None if open_now else terms.windows.next_open(at, **options)
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
    )


def describe(answer: LookupAnswer, tz: dt.tzinfo) -> list[str]:
    """The answer as short lines of plain text (for `ccr lookup`)."""
    identity = answer.identity
    if not identity.ok:
        return [f"{identity.raw!r}: {identity.state} {identity.kind}; no restriction can apply"]
    lines = [
        f"{identity.kind} {identity.value}: "
        + (
            f"{len(answer.restrictions)} restriction(s) in force"
            if answer.restricted
            else "no restriction in force"
        )
    ]
    for r in answer.restrictions:
        lines.append(
            f"  {r.reference}  stage {r.stage}  mode {r.mode}  email {r.email_measure}"
            f"  phone {r.phone_measure}"
        )
        if identity.kind is IdentityKind.PHONE and r.window_open_now is not None:
            lines.append(f"    permitted times: {r.phone_windows}; " + _window_state(r, tz))
        phone = display_phone(r.spoc_phone) if r.spoc_phone else None
        spoc = ", ".join(x for x in (r.spoc_name, r.spoc_email, phone) if x)
        if spoc:
            lines.append(f"    single point of contact: {spoc}")
    return lines


def _window_state(r: RestrictionSummary, tz: dt.tzinfo) -> str:
    if r.window_open_now:
        return "open now"
    if r.next_window_opens is None:
        return "closed, no window ahead"
    return "closed, next opens " + r.next_window_opens.astimezone(tz).strftime("%a %d %b %H:%M")
