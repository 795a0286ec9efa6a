"""Contact volume: the rules that suggest a person's contact may be unreasonable in amount.

Each rule is a measure (emails, calls, both, call minutes, different council mailboxes and
lines, the same email again) over a rolling window, with a threshold: the rule is crossed
when the measure in some window goes *over* the threshold. Rules are named by their
configuration key (``emails_1d`` is "more than N emails in any 24 hours") and explained in
words a manager reads on the alert.

A person is a customer when their addresses and numbers are linked to one, otherwise the
single address or number. Only inbound contacts count, and never a statutory request
(FOI, EIR, subject access): exercising a legal right is not unreasonable contact.

This module only computes: the gateway fetches a person's contacts (`VolumeEvent`), asks
`evaluate` which rules are crossed by windows it should look at (`Focus`) and records the
`Finding`s as alerts. No I/O here.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from routing.enums import Channel, Direction

MAX_WINDOW = dt.timedelta(days=31)
CHART_DAYS = 28  # the daily series kept with an alert, for its chart
EVIDENCE_EVENTS = 500  # contributing event ids kept with an alert (the count is always kept)
MAX_THRESHOLD = 1_000_000


class Measure(StrEnum):
    EMAILS = "emails"
    CALLS = "calls"
    CONTACTS = "contacts"
    CALL_MINUTES = "call_minutes"
    MAILBOXES = "mailboxes"
    SAME_CONTENT = "same_content"


# Thresholds used unless the configuration says otherwise (`false` there switches one off).
DEFAULT_THRESHOLDS: dict[str, int] = {
    "emails_1d": 10,
    "emails_7d": 30,
    "emails_28d": 80,
    "calls_1d": 5,
    "calls_7d": 15,
    "calls_28d": 40,
    "contacts_1d": 12,
    "contacts_7d": 40,
    "contacts_28d": 100,
    "call_minutes_1d": 60,
    "call_minutes_7d": 180,
    "mailboxes_7d": 6,
    "same_content_14d": 3,
}

_KEY = re.compile(r"^(" + "|".join(m.value for m in Measure) + r")_([1-9][0-9]{0,3})([hd])$")

_CHANNELS: dict[Measure, frozenset[Channel]] = {
    Measure.EMAILS: frozenset({Channel.EMAIL}),
    Measure.CALLS: frozenset({Channel.PHONE}),
    Measure.CONTACTS: frozenset({Channel.EMAIL, Channel.PHONE}),
    Measure.CALL_MINUTES: frozenset({Channel.PHONE}),
    Measure.MAILBOXES: frozenset({Channel.EMAIL, Channel.PHONE}),
    Measure.SAME_CONTENT: frozenset({Channel.EMAIL}),
}

_WORDING: dict[Measure, tuple[str, str]] = {
    # measure: (title with {n}, {to} and {window}, unit of the figure)
    Measure.EMAILS: ("More than {n} emails{to} in any {window}", "emails"),
    Measure.CALLS: ("More than {n} calls{to} in any {window}", "calls"),
    Measure.CONTACTS: (
        "More than {n} contacts{to} (emails and calls together) in any {window}",
        "contacts",
    ),
    Measure.CALL_MINUTES: ("More than {n} minutes of calls{to} in any {window}", "minutes"),
    Measure.MAILBOXES: (
        "Contact with more than {n} different council mailboxes or phone lines{to} in any {window}",
        "mailboxes or lines",
    ),
    Measure.SAME_CONTENT: ("The same email sent{to} more than {n} times in any {window}", "times"),
}

_EXPLANATION: dict[Measure, str] = {
    Measure.EMAILS: "Counts the emails this person sent to the council; one message to "
    "several council mailboxes counts once.",
    Measure.CALLS: "Counts the calls this person made to the council; calls the council "
    "makes are not counted.",
    Measure.CONTACTS: "Counts emails and calls together, across every address and number "
    "linked to this person.",
    Measure.CALL_MINUTES: "Adds up how long this person's calls to the council lasted.",
    Measure.MAILBOXES: "Counts the different council mailboxes and phone lines this person "
    'contacted: writing to many officers at once ("scatter-gun") can be a sign of '
    "unreasonable contact.",
    Measure.SAME_CONTENT: "Counts how often this person sent the same words (or the same "
    "attachment) again, ignoring quoted replies, signatures, spacing and capitals.",
}
_NEVER_COUNTED = (
    " Freedom of Information, Environmental Information and subject access requests are "
    "never counted."
)


class VolumeConfigError(ValueError):
    """A threshold in the configuration is wrong; the message is one line naming it."""


# --- rules -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One measure over one rolling window, with the threshold it must not go over.

    A rule with a ``service`` counts only contacts to that service's mailboxes and lines; the
    general rule of the same key leaves out the services in ``excluded_services`` (those
    have a threshold of their own, or have the rule switched off).
    """

    name: str  # the configuration key, e.g. "emails_1d"
    measure: Measure
    window: dt.timedelta
    threshold: int
    service: str | None = None
    excluded_services: frozenset[str] = frozenset()
    # The threshold in the unit the measure is computed in (seconds for call minutes).
    limit: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        minutes = self.measure is Measure.CALL_MINUTES
        object.__setattr__(self, "limit", self.threshold * 60 if minutes else self.threshold)

    @property
    def key(self) -> str:
        """What the alert records as its rule: the name, and the service if it has one."""
        return f"{self.name}@{self.service}" if self.service else self.name

    @property
    def title(self) -> str:
        """The rule in plain words, e.g. "More than 10 emails in any 24 hours"."""
        template, _ = _WORDING[self.measure]
        to = f" to {self.service}" if self.service else ""
        return template.format(n=self.threshold, to=to, window=window_words(self.window))

    @property
    def explanation(self) -> str:
        return _EXPLANATION[self.measure] + _NEVER_COUNTED

    @property
    def unit(self) -> str:
        return _WORDING[self.measure][1]

    def counts(self, event: VolumeEvent) -> bool:
        """Whether this event counts toward this rule at all."""
        if not event.countable or event.channel not in _CHANNELS[self.measure]:
            return False
        if self.service is not None:
            return self.service in event.services
        return not (self.excluded_services and event.services & self.excluded_services)

    def shown(self, value: int) -> int:
        """A measured value in the rule's unit (whole minutes, rounded up, for call minutes)."""
        return math.ceil(value / 60) if self.measure is Measure.CALL_MINUTES else value


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every rule in force, and how far around a contact evaluation must look."""

    rules: tuple[Rule, ...]

    @property
    def longest_window(self) -> dt.timedelta:
        return max((r.window for r in self.rules), default=dt.timedelta(0))

    @property
    def lookback(self) -> dt.timedelta:
        """How far before a contact to read: the longest window, or the chart's days."""
        return max(self.longest_window, dt.timedelta(days=CHART_DAYS))

    @property
    def services(self) -> frozenset[str]:
        return frozenset(r.service for r in self.rules if r.service) | frozenset(
            s for r in self.rules for s in r.excluded_services
        )

    def by_key(self, key: str) -> Rule | None:
        return next((r for r in self.rules if r.key == key), None)


def window_words(window: dt.timedelta) -> str:
    """ "24 hours", "7 days", "6 hours": how a manager reads a rolling window."""
    hours = int(window.total_seconds() // 3600)
    if hours == 24:
        return "24 hours"
    if hours % 24 == 0:
        return f"{hours // 24} days"
    return "hour" if hours == 1 else f"{hours} hours"


def parse_rule_name(name: str, where: str = "rules") -> tuple[Measure, dt.timedelta]:
    """``emails_1d`` -> (EMAILS, 1 day); VolumeConfigError naming ``where.name`` if it is not
    a rule name."""
    match = _KEY.match(name)
    if match is None:
        measures = ", ".join(m.value for m in Measure)
        raise VolumeConfigError(
            f"{where}.{name}: not a rule; expected <measure>_<number><h|d> such as emails_1d, "
            f"where the measure is one of {measures}"
        )
    measure, number, unit = match.groups()
    window = dt.timedelta(hours=int(number)) if unit == "h" else dt.timedelta(days=int(number))
    if window > MAX_WINDOW:
        raise VolumeConfigError(f"{where}.{name}: a window can be at most 31 days")
    return Measure(measure), window


def threshold_value(path: str, value: Any) -> int | None:
    """A threshold as written in the configuration: a whole number, or false for "off"."""
    if value is False:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_THRESHOLD:
        raise VolumeConfigError(
            f"{path}: expected a whole number from 1 to {MAX_THRESHOLD}, or false to switch "
            f"the rule off, got {value!r}"
        )
    return value


def build_rules(
    thresholds: Mapping[str, Any], services: Mapping[str, Mapping[str, Any]] | None = None
) -> RuleSet:
    """The rules in force: the defaults, overridden by ``thresholds``, plus service overrides.

    ``thresholds`` maps rule names to a number or false; ``services`` maps a service name
    (as in the register) to its own thresholds for some rules. Raises VolumeConfigError.
    """
    merged: dict[str, Any] = {**DEFAULT_THRESHOLDS, **thresholds}
    shapes = {name: parse_rule_name(name) for name in merged}
    general = {name: threshold_value(f"rules.{name}", v) for name, v in merged.items()}
    overrides = _service_overrides(services or {})
    for own in overrides.values():
        shapes.update({name: parse_rule_name(name) for name in own})
    rules = []
    for name in sorted(shapes):
        measure, window = shapes[name]
        own = frozenset(s for s, o in overrides.items() if name in o)
        if general.get(name) is not None:
            rules.append(Rule(name, measure, window, general[name], None, own))
        for service in sorted(own):
            threshold = overrides[service][name]
            if threshold is not None:
                rules.append(Rule(name, measure, window, threshold, service))
    return RuleSet(tuple(rules))


def _service_overrides(
    services: Mapping[str, Mapping[str, Any]],
) -> dict[str, dict[str, int | None]]:
    overrides: dict[str, dict[str, int | None]] = {}
    for service, thresholds in services.items():
        if not isinstance(service, str) or not service.strip() or "@" in service:
            raise VolumeConfigError(f"services: {service!r} is not a service name")
        if not isinstance(thresholds, Mapping):
            raise VolumeConfigError(f"services.{service}: expected a table of thresholds")
        for name in thresholds:
            parse_rule_name(name, f"services.{service}")
        overrides[service] = {
            name: threshold_value(f"services.{service}.{name}", value)
            for name, value in thresholds.items()
        }
    return overrides


# --- what is counted -------------------------------------------------------------------------


class VolumeEvent(NamedTuple):
    """One contact of one person, as counting needs it (no names, numbers or addresses).

    A named tuple: a rescan makes millions, and a frozen dataclass costs several times more
    to build."""

    id: int
    at: dt.datetime  # aware UTC
    channel: Channel
    target: str | None = None  # the council mailbox or line contacted
    seconds: int | None = None  # a call's length
    content_hash: str | None = None
    services: frozenset[str] = frozenset()  # the services the target belongs to
    direction: Direction = Direction.INBOUND
    statutory: bool = False

    @property
    def countable(self) -> bool:
        """Inbound, and not a statutory request: only these count toward any rule."""
        return self.direction is Direction.INBOUND and not self.statutory


class _Contact(NamedTuple):
    """One contact as a rule counts it: a message to several mailboxes is one email."""

    at: dt.datetime
    event_ids: tuple[int, ...]
    targets: tuple[str, ...]
    seconds: int
    content_hash: str | None


def _contacts(events: Iterable[VolumeEvent]) -> list[_Contact]:
    """Events (in time order) made into contacts: the recipients of one message (same
    instant, same content) are one email; every call is one call."""
    contacts: list[_Contact] = []
    messages: dict[tuple[dt.datetime, str | None], int] = {}  # -> index in contacts
    for event in events:
        targets = (event.target,) if event.target else ()
        if event.channel is not Channel.EMAIL:
            contacts.append(_Contact(event.at, (event.id,), targets, event.seconds or 0, None))
            continue
        key = (event.at, event.content_hash)
        index = messages.get(key)
        if index is None:
            messages[key] = len(contacts)
            contacts.append(_Contact(event.at, (event.id,), targets, 0, event.content_hash))
        else:
            seen = contacts[index]
            contacts[index] = seen._replace(
                event_ids=(*seen.event_ids, event.id), targets=(*seen.targets, *targets)
            )
    return contacts


# --- which windows to look at ----------------------------------------------------------------


@dataclass(frozen=True)
class Focus:
    """The windows an evaluation looks at.

    For new contacts: every window that contains one of them (``moments``); so a contact
    recorded late (a call log read a week on) is counted with the contacts around it, before
    and after. For a rescan: every window ending within ``period`` (start excluded).
    """

    moments: tuple[dt.datetime, ...] = ()
    period: tuple[dt.datetime, dt.datetime] | None = None
    _sorted: tuple[dt.datetime, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sorted", tuple(sorted(self.moments)))

    @classmethod
    def around(cls, moments: Iterable[dt.datetime]) -> Focus:
        return cls(moments=tuple(moments))

    @classmethod
    def between(cls, start: dt.datetime, end: dt.datetime) -> Focus:
        return cls(period=(start, end))

    def reach(self, window: dt.timedelta) -> tuple[dt.datetime, dt.datetime]:
        """(lo, hi): every contact in a window this focus admits is in (lo, hi]."""
        if self.period is not None:
            return self.period[0] - window, self.period[1]
        return self._sorted[0] - window, self._sorted[-1] + window

    def admits(self, end: dt.datetime, window: dt.timedelta) -> bool:
        """Whether the window (end - window, end] is one to look at."""
        if self.period is not None:
            return self.period[0] < end <= self.period[1]
        # (end - window, end] contains moment m exactly when m <= end < m + window.
        index = bisect.bisect_right(self._sorted, end) - 1
        return index >= 0 and end < self._sorted[index] + window


# --- findings --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule crossed: the window with the highest figure, and the contacts in it."""

    rule: Rule
    value: int  # in the measure's own unit (seconds for call minutes)
    start: dt.datetime  # the window is (start, end]; it ends at the last contact counted
    end: dt.datetime
    first: dt.datetime  # the first contact counted
    event_ids: tuple[int, ...]
    series: tuple[tuple[dt.date, int], ...] = ()  # per day, in the rule's unit, for a chart

    @property
    def shown_value(self) -> int:
        return self.rule.shown(self.value)

    def summary(self, zone: ZoneInfo) -> str:
        """One line for the alert list: the rule and what was seen, with no personal data."""
        return (
            f"{self.rule.title}: {self.shown_value} {self.rule.unit} from "
            f"{_local(self.first, zone)} to {_local(self.end, zone)}."
        )

    def evidence(self, zone: ZoneInfo) -> dict[str, Any]:
        """What the alert keeps: the figure, window, contributing event ids and the series."""
        rule = self.rule
        return {
            "rule": rule.key,
            "title": rule.title,
            "explanation": rule.explanation,
            "measure": rule.measure.value,
            "service": rule.service,
            "threshold": rule.threshold,
            "value": self.shown_value,
            "unit": rule.unit,
            "window": {
                "start": _iso(self.start),
                "end": _iso(self.end),
                "hours": int(rule.window.total_seconds() // 3600),
                "first_contact": _iso(self.first),
            },
            "events": list(self.event_ids[:EVIDENCE_EVENTS]),
            "event_count": len(self.event_ids),
            "series": [{"day": day.isoformat(), "value": value} for day, value in self.series],
            "timezone": zone.key,
        }


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _local(moment: dt.datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%d %b %Y %H:%M")


# --- evaluation ------------------------------------------------------------------------------


def evaluate(
    rules: RuleSet,
    events: Sequence[VolumeEvent],
    focus: Focus,
    zone: ZoneInfo,
    *,
    counted_after: Mapping[str, dt.datetime] | None = None,
) -> list[Finding]:
    """The rules one person's contacts cross, within the windows ``focus`` admits.

    ``events`` are the person's contacts around the focus, in time order. ``counted_after``
    maps a rule key to the moment its last alert was closed: only later contacts count toward
    that rule again, so a dismissed alert is not reopened by the contacts it was about.
    The findings come without their chart: see `with_chart`.
    """
    counted_after = counted_after or {}
    counted = [e for e in events if e.countable]
    times = [e.at for e in counted]
    near_by_window: dict[dt.timedelta, tuple[list[VolumeEvent], _Bounds]] = {}
    # Rules counting the same contacts (window, channels, services, closing) share them.
    shared: dict[tuple[Any, ...], list[_Contact]] = {}
    findings = []
    for rule in rules.rules:
        if rule.window not in near_by_window:
            # Only contacts within one window of the focus can be in a window it admits.
            lo, hi = focus.reach(rule.window)
            near = counted[bisect.bisect_right(times, lo) : bisect.bisect_right(times, hi)]
            near_by_window[rule.window] = (near, _Bounds(near))
        near, bounds = near_by_window[rule.window]
        if not bounds.could_cross(rule):
            continue  # cheap: not even all of those contacts together go over
        after = counted_after.get(rule.key)
        key = (rule.window, _CHANNELS[rule.measure], rule.service, rule.excluded_services, after)
        if key not in shared:
            shared[key] = _contacts(_counting(rule, near, after))
        found = _peak(rule, shared[key], focus) if shared[key] else None
        if found is not None:
            findings.append(found)
    return findings


def with_chart(
    finding: Finding,
    events: Sequence[VolumeEvent],
    zone: ZoneInfo,
    *,
    counted_after: Mapping[str, dt.datetime] | None = None,
) -> Finding:
    """The finding with its daily series, from the contacts it was found among (kept apart
    from `evaluate`: only a finding that opens or updates an alert needs its chart)."""
    rule = finding.rule
    after = (counted_after or {}).get(rule.key)
    counted = [e for e in events if e.countable]
    return replace(finding, series=_chart(rule, finding, counted, after, zone))


def _counting(
    rule: Rule, events: Iterable[VolumeEvent], after: dt.datetime | None
) -> Iterator[VolumeEvent]:
    return (e for e in events if rule.counts(e) and (after is None or e.at > after))


def _chart(
    rule: Rule,
    found: Finding,
    events: list[VolumeEvent],
    after: dt.datetime | None,
    zone: ZoneInfo,
) -> tuple[tuple[dt.date, int], ...]:
    """The daily series for a finding, over all the contacts read (wider than its window);
    for the same-content rule, the sendings of that content only."""
    contacts = _contacts(_counting(rule, events, after))
    if rule.measure is Measure.SAME_CONTENT:
        first = set(found.event_ids)
        same = next(c.content_hash for c in contacts if first.intersection(c.event_ids))
        contacts = [c for c in contacts if c.content_hash == same]
    return daily_series(rule, contacts, found.end, zone)


class _Bounds:
    """Upper bounds of each measure over all of a person's contacts, in one pass: a rule
    whose bound is not over its threshold cannot be crossed by any window."""

    def __init__(self, events: Iterable[VolumeEvent]) -> None:
        emails = calls = seconds = 0
        targets: set[str] = set()
        hashes: Counter[str] = Counter()
        for event in events:
            if event.channel is Channel.EMAIL:
                emails += 1
                if event.content_hash:
                    hashes[event.content_hash] += 1
            else:
                calls += 1
                seconds += event.seconds or 0
            if event.target:
                targets.add(event.target)
        self._bound = {
            Measure.EMAILS: emails,
            Measure.CALLS: calls,
            Measure.CONTACTS: emails + calls,
            Measure.CALL_MINUTES: seconds,
            Measure.MAILBOXES: len(targets),
            Measure.SAME_CONTENT: max(hashes.values(), default=0),
        }

    def could_cross(self, rule: Rule) -> bool:
        return self._bound[rule.measure] > rule.limit


def _peak(rule: Rule, contacts: list[_Contact], focus: Focus) -> Finding | None:
    """The admitted window with the highest figure (the latest of equals), if over the limit;
    for the same-content rule, the highest of any one content's."""
    if _total(rule, contacts) <= rule.limit:
        return None  # not even every contact together crosses it: no window can
    if rule.measure is not Measure.SAME_CONTENT:
        return _sliding_peak(rule, contacts, focus)
    groups: dict[str, list[_Contact]] = {}
    for contact in contacts:
        if contact.content_hash:
            groups.setdefault(contact.content_hash, []).append(contact)
    crossed = [
        found
        for group in groups.values()
        if len(group) > rule.limit and (found := _sliding_peak(rule, group, focus))
    ]
    return max(crossed, key=lambda found: (found.value, found.end), default=None)


def _total(rule: Rule, contacts: list[_Contact]) -> int:
    if rule.measure is Measure.SAME_CONTENT:
        same = Counter(c.content_hash for c in contacts if c.content_hash)
        return max(same.values(), default=0)
    return _measure_of(rule.measure, contacts)


def _measure_of(measure: Measure, contacts: Iterable[_Contact]) -> int:
    """The figure of a measure over some contacts (the same-content measure counts them)."""
    if measure is Measure.CALL_MINUTES:
        return sum(c.seconds for c in contacts)
    if measure is Measure.MAILBOXES:
        return len({target for c in contacts for target in c.targets})
    return sum(1 for _ in contacts)


def _sliding_peak(rule: Rule, contacts: list[_Contact], focus: Focus) -> Finding | None:
    """Two pointers over the contacts: each window ends at a contact's time.

    Written out with local variables: this loop is most of a rescan's time."""
    window, limit, count = rule.window, rule.limit, len(contacts)
    minutes = rule.measure is Measure.CALL_MINUTES
    targets: Counter[str] | None = Counter() if rule.measure is Measure.MAILBOXES else None
    best: tuple[int, int, int] | None = None  # value, first index, last index
    first = seconds = 0
    for last in range(count):
        contact = contacts[last]
        at = contact.at
        seconds += contact.seconds
        if targets is not None:
            targets.update(contact.targets)
        edge = at - window
        while contacts[first].at <= edge:
            seconds -= contacts[first].seconds
            if targets is not None:
                _forget(targets, contacts[first].targets)
            first += 1
        if last + 1 < count and contacts[last + 1].at == at:
            continue  # the window ends after every contact at this instant
        if minutes:
            value = seconds
        elif targets is not None:
            value = len(targets)
        else:
            value = last - first + 1
        if value > limit and (best is None or value >= best[0]) and focus.admits(at, window):
            best = (value, first, last)
    if best is None:
        return None
    value, first, last = best
    end = contacts[last].at
    ids = tuple(i for c in contacts[first : last + 1] for i in c.event_ids)
    return Finding(rule, value, end - window, end, contacts[first].at, ids)


def _forget(targets: Counter[str], gone: tuple[str, ...]) -> None:
    for target in gone:
        targets[target] -= 1
        if targets[target] <= 0:
            del targets[target]


def daily_series(
    rule: Rule, contacts: list[_Contact], end: dt.datetime, zone: ZoneInfo
) -> tuple[tuple[dt.date, int], ...]:
    """The rule's figure per council-local day, for the CHART_DAYS days up to ``end``.

    ``contacts`` are in time order; each day's bounds are worked out once, in UTC, rather
    than converting every contact's time to the council's zone."""
    last_day = end.astimezone(zone).date()
    days = [last_day - dt.timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    starts = [_midnight(day, zone) for day in days]
    firsts = [bisect.bisect_left(contacts, start, key=_at) for start in starts]
    stop = bisect.bisect_right(contacts, end, key=_at)
    ends = [*firsts[1:], stop]
    return tuple(
        (day, rule.shown(_day_value(rule, contacts[a:b])))
        for day, a, b in zip(days, firsts, ends, strict=True)
    )


def _midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def _at(contact: _Contact) -> dt.datetime:
    return contact.at


def _day_value(rule: Rule, contacts: list[_Contact]) -> int:
    return _measure_of(rule.measure, contacts)


# --- people ----------------------------------------------------------------------------------


def person_key(customer_id: int | None, identity_id: int | None) -> str | None:
    """Whom a contact is counted for: "c:<customer id>" when known, else "i:<identity id>"."""
    if customer_id is not None:
        return f"c:{customer_id}"
    if identity_id is not None:
        return f"i:{identity_id}"
    return None


def parse_person_key(key: str) -> tuple[int | None, int | None]:
    """(customer id, identity id) of a person key."""
    kind, _, number = key.partition(":")
    return (int(number), None) if kind == "c" else (None, int(number))
