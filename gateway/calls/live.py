"""One call reported as it happens (POST /api/v1/calls): decided, recorded, flags returned.

The same recorder as the file importer, with a batch of one: the call becomes a contact
event with its flags, and a repeat of the same event (same external id, or the same caller,
line, start, duration and direction when there is none) is recognised and answered with what
was recorded the first time, so a platform that retries a timed-out request does no harm.
An answer that names a restriction is audited like a lookup that finds one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from gateway.calls.call import Call
from gateway.calls.recorder import CallRecorder, RecordedCall, stored_caller
from gateway.runtime import Runtime
from gateway.services.lookup_service import restrictions_seen_row
from gateway.store import calls as call_store
from routing.enums import Direction, IdentityKind
from routing.models import AuditEntry, ContactEvent, Restriction, utcnow
from routing.plausible import MAX_CALL_SECONDS, contact_time_problem

SOURCE = "call_api"  # contact_events.source of live call events
MAX_EXTERNAL_ID = 200
# A start further ahead than this is a clock or a units mistake, not a call.
MAX_FUTURE = dt.timedelta(minutes=5)
MAX_DURATION_SECONDS = MAX_CALL_SECONDS


class CallInputError(ValueError):
    """The event cannot be a call (naive time, negative duration...); one line, for the API."""


class CallConflict(CallInputError):
    """The external id was used before for a different call (another caller, start or way)."""


@dataclass(frozen=True)
class CallInput:
    caller: str  # as the platform presents it; empty or "anonymous" means withheld
    called: str  # the council line called (or, outbound, the number the council dialled)
    started_at: dt.datetime  # aware
    duration_seconds: int | None = None
    direction: Direction | str = Direction.INBOUND
    external_id: str | None = None  # the platform's call id: a repeat with it is one call
    # Who reports it (the API token): two platforms' call ids may coincide, so an external
    # id is only recognised as a repeat when the same platform sends it again.
    platform: str | None = None


@dataclass(frozen=True)
class FlagResult:
    kind: str
    restriction: str  # the restriction's reference, e.g. CCR-2026-0001
    mode: str  # enforce, or shadow (a trial: recorded, not acted on)
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "restriction": self.restriction,
            "mode": self.mode,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class CallResult:
    event_id: int
    duplicate: bool  # this event had been recorded before; the answer is what was recorded
    caller: str | None  # E.164, or None when withheld or unreadable
    caller_state: str  # ok, withheld or unparseable
    line: str
    outcome: str  # allow or flag
    would_outcome: str | None  # shadow mode: what enforcement would have said
    restriction: str | None
    flags: list[FlagResult] = field(default_factory=list)
    reasons: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "duplicate": self.duplicate,
            "caller": self.caller,
            "caller_state": self.caller_state,
            "line": self.line,
            "outcome": self.outcome,
            "would_outcome": self.would_outcome,
            "restriction": self.restriction,
            "flags": [f.as_dict() for f in self.flags],
            "reasons": list(self.reasons),
        }

    @property
    def references(self) -> list[str]:
        """Every restriction the answer names (its own, its flags' and reasons'), once each."""
        named = [
            self.restriction,
            *(f.restriction for f in self.flags),
            *(r.get("restriction") for r in self.reasons),
        ]
        return list(dict.fromkeys(ref for ref in named if ref))


def record_call(rt: Runtime, call: CallInput, *, actor: str, source: str) -> CallResult:
    """Decide and record one call; CallInputError when it cannot be a call.

    An answer that names a restriction tells whoever asked that the caller is restricted: a
    view of their record, so it is audited (as the lookup audits one, by `actor` from
    `source`) in the transaction that records the call: neither is kept without the other.
    """
    to_record = _validated(call)
    recorder = CallRecorder(rt, source=SOURCE)
    with rt.uow() as session:
        recorded = recorder.record(session, [to_record])[0]
        if recorded.duplicate:
            result = _as_recorded_before(session, recorded, to_record)
        else:
            result = _fresh(recorded)
        if result.references:
            row = restrictions_seen_row(
                result.references, IdentityKind.PHONE, actor=actor, source=source, now=utcnow()
            )
            session.add(AuditEntry(**row))
    return result


def _validated(call: CallInput) -> Call:
    if call.started_at.tzinfo is None or call.started_at.utcoffset() is None:
        raise CallInputError("started_at needs a time zone (for example 2026-11-24T10:15:00Z)")
    if problem := contact_time_problem(call.started_at, dt.datetime.now(dt.UTC) + MAX_FUTURE):
        raise CallInputError(f"started_at {problem}")
    duration = call.duration_seconds
    if duration is not None and not 0 <= duration <= MAX_DURATION_SECONDS:
        raise CallInputError(f"duration_seconds must be 0 to {MAX_DURATION_SECONDS}")
    try:
        direction = Direction(call.direction)
    except ValueError:
        raise CallInputError("direction must be 'inbound' or 'outbound'") from None
    external_id = (call.external_id or "").strip() or None
    if external_id is not None and (
        len(external_id) > MAX_EXTERNAL_ID or not external_id.isprintable()
    ):
        raise CallInputError(f"external_id must be printable, at most {MAX_EXTERNAL_ID} long")
    if external_id is not None and call.platform:
        external_id = f"{call.platform}/{external_id}"
    return Call(
        caller=call.caller or "",
        called=call.called or "",
        started_at=call.started_at.astimezone(dt.UTC),
        duration_seconds=duration,
        direction=direction,
        source_key=external_id,
    )


def _fresh(recorded: RecordedCall) -> CallResult:
    decision = recorded.decision
    assert recorded.event_id is not None
    return CallResult(
        event_id=recorded.event_id,
        duplicate=False,
        caller=recorded.caller.value,
        caller_state=recorded.caller.state.value,
        line=recorded.line,
        outcome=decision.outcome.value,
        would_outcome=decision.would_outcome.value if decision.would_outcome else None,
        restriction=decision.restriction.reference if decision.restriction else None,
        flags=[
            FlagResult(f.kind.value, f.restriction.reference, f.restriction.mode.value, f.detail)
            for f in decision.flags
        ],
        reasons=[hit.as_dict() for hit in decision.reasons],
    )


def _as_recorded_before(session: Any, recorded: RecordedCall, call: Call) -> CallResult:
    event = call_store.event_by_source_key(session, SOURCE, recorded.source_key)
    if not _same_call(event, recorded, call):
        raise CallConflict(
            "external_id was sent before for a different call (caller, start or direction)"
        )
    rows = call_store.flags_of_event(session, event.id)
    restriction = session.get(Restriction, event.restriction_id) if event.restriction_id else None
    return CallResult(
        event_id=event.id,
        duplicate=True,
        caller=recorded.caller.value,
        caller_state=recorded.caller.state.value,
        line=event.to_value or recorded.line,
        outcome=event.outcome.value,
        would_outcome=event.would_outcome.value if event.would_outcome else None,
        restriction=restriction.reference if restriction else None,
        flags=[FlagResult(k.value, ref, m.value, d) for k, ref, m, d in rows],
        reasons=list(event.reasons or []),
    )


def _same_call(event: ContactEvent, recorded: RecordedCall, call: Call) -> bool:
    """Whether a repeat describes the call recorded under its key (a retry, not a reuse)."""
    stored_at = event.occurred_at.replace(tzinfo=dt.UTC)  # stored as naive UTC
    return (
        stored_at == call.started_at
        and event.direction == call.direction
        and event.from_value == stored_caller(recorded.caller)
    )
