"""Recording calls: decide each one, store it as a contact event, and store its flags.

Shared by the file importer (batches of thousands) and the live API (a batch of one), so a
call is treated the same way however it arrives. Recording has two steps, so an importer
can decide one batch while the previous one is being written:

1. `decide`: normalise the numbers (cached), make sure the people on the calls exist as
   identities, count restricted callers' earlier calls, and ask routing.engine.
2. `store`: a handful of statements per batch, no ORM objects per call: the new contact
   events (insert-or-ignore, returning their ids), then the flags of the new ones. A call
   recorded before (same source and key) is skipped: importing a file twice is harmless.

Call limits need the customer's earlier inbound calls that day and that ISO week (Monday to
Sunday, Europe/London). Only callers a restriction applies to are counted: their calls that
week are read from the database once, then kept up to date in memory as calls are decided.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from gateway.calls.call import Call
from gateway.runtime import Runtime
from gateway.services.volume import evaluate_after_commit
from gateway.store import calls as call_store
from gateway.store import repository
from routing.content import ContentHints
from routing.engine import Contact, Decision, RuleHit, decide
from routing.enums import Channel, Direction, IdentityKind, IdentityState, Mode, Outcome
from routing.identity import NormalisedIdentity, normalise_phone
from routing.models import utcnow
from routing.snapshot import RegisterSnapshot, RestrictionTerms

# Bounds on what a long import keeps in memory; all are caches, refilled from the database.
IDENTITY_CACHE_LIMIT = 100_000
HISTORY_WEEKS_LIMIT = 20_000
REASONS_CACHE_LIMIT = 10_000
NUMBER_CACHE_LIMIT = 50_000

_ONE_DAY = dt.timedelta(days=1)
_KEY_SEPARATOR = "\x1f"
_NO_HINTS = ContentHints()  # calls carry no content to screen
# Stored values of the enums a row holds (an enum's .value is a slow descriptor per call).
_TEXT: dict[object, str] = {m: m.value for e in (Direction, Outcome, Mode) for m in e}
_PHONE = Channel.PHONE.value


@dataclass(frozen=True, slots=True)
class RecordedCall:
    call: Call
    caller: NormalisedIdentity
    line: str  # the council line, E.164 when it could be read
    source_key: str
    decision: Decision
    event_id: int | None  # None: recorded before (a duplicate), nothing written now

    @property
    def duplicate(self) -> bool:
        return self.event_id is None


@dataclass(slots=True)
class _Prepared:
    call: Call
    caller: NormalisedIdentity
    line: str
    key: str
    person: NormalisedIdentity  # the member of the public: the caller, or whom we called


@dataclass
class DecidedBatch:
    """Calls decided and ready to store: the event rows (one per distinct key) and, for
    each call, its decision and whether it holds its key's row."""

    prepared: list[_Prepared]
    decisions: list[Decision]
    rows: list[tuple[Any, ...]]
    holds_row: list[bool]
    decided_at: dt.datetime


@dataclass
class StoredBatch:
    """A batch after storing: which of its calls are new events (the others were known)."""

    batch: DecidedBatch
    new_ids: dict[str, int]  # source_key -> id of the events inserted now

    def new_events(self) -> list[tuple[int, Decision]]:
        """(event id, decision) of each call recorded now."""
        b = self.batch
        return [
            (self.new_ids[p.key], decision)
            for p, decision, holds in zip(b.prepared, b.decisions, b.holds_row, strict=True)
            if holds and p.key in self.new_ids
        ]

    def results(self) -> list[RecordedCall]:
        """Every call with its decision and event id (None: recorded before), in order."""
        b = self.batch
        return [
            RecordedCall(
                p.call,
                p.caller,
                p.line,
                p.key,
                decision,
                self.new_ids.get(p.key) if holds else None,
            )
            for p, decision, holds in zip(b.prepared, b.decisions, b.holds_row, strict=True)
        ]


def call_key(call: Call, caller: NormalisedIdentity, line: str) -> str:
    """A stable key for a call: the same call read again (any file, any spelling) matches.

    Made of the system's call id (if any), the start instant, the normalised numbers, the
    duration and the direction; hashed to a fixed length.
    """
    if call.source_key:
        return call.source_key
    who = caller.value or f"{caller.state}:{caller.raw.strip()}"
    duration = "" if call.duration_seconds is None else call.duration_seconds
    text = (
        f"{call.call_id or ''}\x1f{call.started_at.timestamp()!r}\x1f{who}\x1f{line}"
        f"\x1f{duration}\x1f{_TEXT[call.direction]}"
    )
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


class CallRecorder:
    """Decides and stores batches of calls for one source ("call_log", "call_api")."""

    def __init__(self, rt: Runtime, *, source: str, region: str | None = None) -> None:
        self._rt = rt
        self.source = source
        self._region = region or rt.settings.phone_region
        self._identities: dict[str, tuple[int, int | None]] = {}
        self.history = CallHistory(rt.timezone, source)
        self._reasons = _ReasonsJson()
        self._numbers: dict[str, NormalisedIdentity] = {}
        self._duplicates_seen = False

    def record(self, session: Session, calls: Sequence[Call]) -> list[RecordedCall]:
        """Decide and store these calls in one transaction (the session's), in order."""
        return self.store(session, self.decide(session, calls)).results()

    def decide(self, session: Session, calls: Sequence[Call]) -> DecidedBatch:
        """Decide the calls, in the order given; new identities are added in ``session``,
        which must be committed before the batch is stored from another session."""
        self.history.trim()
        snapshot = self._rt.register.snapshot()
        prepared = [self._prepare(call) for call in calls]
        self._ensure_identities(session, prepared)
        restricted = [self._restrictions(p, snapshot) for p in prepared]
        self.history.load(
            session,
            [
                (r[0].customer_id, p.call.started_at)
                for p, r in zip(prepared, restricted, strict=True)
                if r
            ],
        )
        unrestricted: dict[tuple[Direction, IdentityState], Decision] = {}
        decisions = [
            self._decide(p, restrictions, snapshot)
            if restrictions
            else self._decide_unrestricted(p, snapshot, unrestricted)
            for p, restrictions in zip(prepared, restricted, strict=True)
        ]
        now = utcnow()
        rows, holds_row = self._event_rows(prepared, decisions, now)
        return DecidedBatch(prepared, decisions, rows, holds_row, now)

    def store(self, session: Session, batch: DecidedBatch) -> StoredBatch:
        """Write the batch's new events and their flags."""
        new_ids = call_store.insert_new_events(
            session, batch.rows, duplicates_likely=self._duplicates_seen or len(batch.rows) < 2
        )
        # A file read again (or a log that grew) repeats many calls in a row; fresh calls
        # come in long runs too. The last batch is the best guess for the next.
        self._duplicates_seen = len(new_ids) < len(batch.rows)
        stored = StoredBatch(batch, new_ids)
        call_store.insert_flags(session, _flag_rows(stored.new_events(), batch.decided_at))
        evaluate_after_commit(self._rt, session, list(stored.new_ids.values()))  # volume (issue 6)
        return stored

    def _prepare(self, call: Call) -> _Prepared:
        caller = self._number(call.caller)
        called = self._number(call.called)
        line = called.value or _printable(call.called)[:320]
        person = caller if call.direction is Direction.INBOUND else called
        return _Prepared(call, caller, line, call_key(call, caller, line), person)

    def _number(self, raw: str) -> NormalisedIdentity:
        """normalise_phone, looked up here first: a few thousand distinct numbers make up
        millions of rows, and this saves the calls into the (also cached) normaliser."""
        found = self._numbers.get(raw)
        if found is None:
            if len(self._numbers) > NUMBER_CACHE_LIMIT:
                self._numbers.clear()
            found = self._numbers[raw] = normalise_phone(raw, region=self._region)
        return found

    def _ensure_identities(self, session: Session, prepared: list[_Prepared]) -> None:
        unknown = {p.person.value: p.person for p in prepared if p.person.ok}
        missing = [identity for value, identity in unknown.items() if value not in self._identities]
        if not missing:
            return
        if len(self._identities) > IDENTITY_CACHE_LIMIT:
            self._identities.clear()
        for value, identity in repository.ensure_identities(session, missing).items():
            self._identities[value] = (identity.id, identity.customer_id)

    @staticmethod
    def _restrictions(p: _Prepared, snapshot: RegisterSnapshot) -> tuple[RestrictionTerms, ...]:
        """The restrictions on an inbound caller (none for calls the council makes)."""
        if p.call.direction is not Direction.INBOUND or not p.caller.value:
            return ()
        return snapshot.restrictions_for(IdentityKind.PHONE, p.caller.value)

    def _decide(
        self, p: _Prepared, restrictions: tuple[RestrictionTerms, ...], snapshot: RegisterSnapshot
    ) -> Decision:
        call = p.call
        today = week = 0
        if restrictions:
            # Only restricted callers have limits to count against.
            today, week = self.history.count(restrictions[0].customer_id, call.started_at, p.key)
        contact = Contact(
            channel=Channel.PHONE,
            senders=(p.caller,),
            to=p.line,
            at=call.started_at,
            direction=call.direction,
            hints=_NO_HINTS,
            duration_seconds=call.duration_seconds,
            calls_earlier_today=today,
            calls_earlier_this_week=week,
        )
        return decide(contact, snapshot, self._rt.policy)

    def _decide_unrestricted(
        self,
        p: _Prepared,
        snapshot: RegisterSnapshot,
        decided: dict[tuple[Direction, IdentityState], Decision],
    ) -> Decision:
        """The engine's answer for a call no restriction applies to, asked once per batch
        for each direction and caller state. Before any restriction is found, the call rules
        read only those two (outbound_call, unidentified_caller, restricted_sender), so the
        answer is the same for every such call; tests/unit/test_call_logs.py holds the
        engine to that, and this halves the cost of an import."""
        key = (p.call.direction, p.caller.state)
        decision = decided.get(key)
        if decision is None:
            decision = decided[key] = self._decide(p, (), snapshot)
        return decision

    def _event_rows(
        self, prepared: list[_Prepared], decisions: list[Decision], now: dt.datetime
    ) -> tuple[list[tuple[Any, ...]], list[bool]]:
        """One row per distinct key (a call twice in one batch is one event), and whether
        each call holds its key's row (the first of its key)."""
        rows, seen, holds = [], set(), []
        for p, decision in zip(prepared, decisions, strict=True):
            first = p.key not in seen
            holds.append(first)
            if first:
                seen.add(p.key)
                rows.append(self._event_row(p, decision, now))
        return rows, holds

    def _event_row(self, p: _Prepared, decision: Decision, now: dt.datetime) -> tuple[Any, ...]:
        """The contact event's values, in gateway.store.calls.EVENT_COLUMNS order (times
        aware, in UTC)."""
        identity_id, customer_id = self._identities.get(p.person.value or "", (None, None))
        restriction = decision.restriction
        return (
            p.call.started_at,
            _PHONE,
            _TEXT[p.call.direction],
            self.source,
            p.key,
            identity_id,
            restriction.customer_id if restriction else customer_id,
            stored_caller(p.caller),
            p.line,
            restriction.id if restriction else None,
            _TEXT[decision.outcome],
            _TEXT.get(decision.would_outcome),
            _TEXT.get(decision.mode),
            self._reasons.json(decision.reasons),
            p.call.duration_seconds,
            now,
        )


class _ReasonsJson:
    """The reasons as JSON text, made once per distinct list: most calls share theirs."""

    def __init__(self) -> None:
        self._made: dict[tuple[RuleHit, ...], str] = {}

    def json(self, reasons: tuple[RuleHit, ...]) -> str:
        text = self._made.get(reasons)
        if text is None:
            if len(self._made) > REASONS_CACHE_LIMIT:
                self._made.clear()
            text = self._made[reasons] = json.dumps([hit.as_dict() for hit in reasons])
        return text


def stored_caller(caller: NormalisedIdentity) -> str | None:
    """E.164 when understood; nothing when withheld; what the switch sent when unreadable
    (an internal extension or a presented name: kept, never turned into a guess)."""
    if caller.ok:
        return caller.value
    if caller.state is IdentityState.WITHHELD:
        return None
    return _printable(caller.raw)[:320] or None


def _printable(text: str) -> str:
    return "".join(ch for ch in text.strip() if ch.isprintable())


def _flag_rows(events: list[tuple[int, Decision]], now: dt.datetime) -> list[dict[str, Any]]:
    """The flags of newly recorded calls, each naming its restriction (and its mode)."""
    return [
        {
            "contact_event_id": event_id,
            "restriction_id": flag.restriction.id,
            "kind": flag.kind,
            "mode": flag.restriction.mode,  # a shadow restriction's flag says so
            "detail": flag.detail,
            "created_at": now,
        }
        for event_id, decision in events
        for flag in decision.flags
    ]


# --- earlier calls --------------------------------------------------------------------------


@dataclass
class _Week:
    """One customer's inbound calls in one ISO week, in time order, each once."""

    entries: list[tuple[dt.datetime, str]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    def add(self, at: dt.datetime, key: str) -> None:
        if key not in self.keys:
            self.keys.add(key)
            bisect.insort(self.entries, (at, key))

    def before(self, at: dt.datetime, key: str) -> int:
        return bisect.bisect_left(self.entries, (at, key))


class CallHistory:
    """Counts a restricted customer's earlier inbound calls that day and that week.

    The (customer, week) pairs a batch needs are read from the database in one query before
    the batch is decided (`load`), then the calls decided through this object are added as
    they are decided. Calls are identified by (source, key), so a call both in the database
    and in the file counts once. "Earlier" is by start time (ties broken by key), so a file
    need not be in time order for the call being decided to be counted right.
    """

    def __init__(self, zone: ZoneInfo, source: str) -> None:
        self._zone = zone
        self._source = source
        self._weeks: dict[tuple[int, dt.date], _Week] = {}

    def load(self, session: Session, calls: list[tuple[int, dt.datetime]]) -> None:
        """Read the weeks of these (customer id, call start) pairs not held yet."""
        wanted = {(customer, self._monday(at)) for customer, at in calls}
        missing = wanted - self._weeks.keys()
        if not missing:
            return
        for pair in missing:
            self._weeks[pair] = _Week()
        first = self._midnight(min(monday for _, monday in missing))
        last = self._midnight(max(monday for _, monday in missing) + 7 * _ONE_DAY)
        customers = {customer for customer, _ in missing}
        earlier = call_store.inbound_calls_between(session, customers, first, last)
        for customer, source, key, occurred_at in earlier:
            pair = (customer, self._monday(occurred_at))
            if pair in missing:
                self._weeks[pair].add(occurred_at, f"{source}{_KEY_SEPARATOR}{key}")

    def count(self, customer_id: int, at: dt.datetime, key: str) -> tuple[int, int]:
        """(calls earlier the same day, calls earlier the same week), then adds this call.

        The customer's week must have been loaded (see `load`).
        """
        day = at.astimezone(self._zone).date()
        week = self._weeks[(customer_id, day - dt.timedelta(days=day.weekday()))]
        own = f"{self._source}{_KEY_SEPARATOR}{key}"
        week.add(at, own)
        earlier_in_week = week.before(at, own)
        start_of_day = week.before(self._midnight(day), "")
        return earlier_in_week - start_of_day, earlier_in_week

    @property
    def full(self) -> bool:
        return len(self._weeks) > HISTORY_WEEKS_LIMIT

    def trim(self) -> None:
        """Forget everything when too much is held (it is all re-read on demand). Callers
        that store batches in the background wait for them first (see `full`)."""
        if self.full:
            self._weeks.clear()

    def _monday(self, at: dt.datetime) -> dt.date:
        day = at.astimezone(self._zone).date()
        return day - dt.timedelta(days=day.weekday())

    def _midnight(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(0), tzinfo=self._zone).astimezone(dt.UTC)
