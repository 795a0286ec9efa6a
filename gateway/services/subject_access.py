"""Subject access: everything held on one person, in one file an information-governance
officer can check and send.

The export is a zip: `summary.html` (readable, prints well), `person.json` (everything,
machine-readable) and CSV files of the long lists. Making one is audited by counts.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store import people, repository, spoc_queue
from gateway.store.people import PersonRecord
from gateway.store.tables import MailMessage, SpocItem
from routing.audit import AuditAction, audit_entry
from routing.enums import IdentityKind
from routing.identity import guess_kind, normalise
from routing.models import Alert, Appeal, AuditEntry, ContactEvent, Restriction

EXPORT_ACTION = AuditAction.PERSON_EXPORTED
CONTACT_COLUMNS = (
    "occurred_at", "channel", "direction", "from", "to", "outcome", "would_outcome", "mode",
    "restriction", "statutory", "safeguarding", "duration_seconds", "flags", "reasons",
)  # fmt: skip
AUDIT_COLUMNS = ("at", "actor", "action", "source", "subject_type", "subject_ref", "detail")
MAIL_COLUMNS = (
    "received_at", "queue_id", "envelope_from", "message_id", "size", "copy_to",
    "addressed_to", "decision", "restriction", "status", "delivered_at",
)  # fmt: skip


class PersonNotFound(LookupError):
    """Nothing is held on the email address, phone number or reference given."""


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    identities: int
    restrictions: int
    contacts: int
    alerts: int
    audit_entries: int
    mail_records: int
    spoc_items: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "identities": self.identities,
            "restrictions": self.restrictions,
            "contacts": self.contacts,
            "mail_records": self.mail_records,
            "alerts": self.alerts,
            "audit_entries": self.audit_entries,
            "spoc_items": self.spoc_items,
        }


def find_person(session: Session, settings: Settings, key: str) -> PersonRecord:
    """The person a customer reference, email address or phone number belongs to."""
    key = key.strip()
    customer = repository.customer_by_ref(session, key)
    if customer is not None:
        return people.person_of_customer(session, customer)
    kind = guess_kind(key)
    identity = normalise(
        key, kind, fold_plus=settings.fold_plus_addresses, region=settings.phone_region
    )
    found = None
    if identity.ok and identity.value is not None:
        found = repository.find_identity(session, kind, identity.value)
    if found is None:
        what = "email address" if kind is IdentityKind.EMAIL else "phone number or reference"
        raise PersonNotFound(f"nothing is held on that {what}")
    if found.customer is not None:
        return people.person_of_customer(session, found.customer)
    return PersonRecord(None, (found,))


def export_person(
    rt: Runtime, key: str, out: Path, *, actor: str, now: dt.datetime | None = None
) -> ExportSummary:
    """Write the person's export to `out` (readable by this user only) and audit it."""
    return export_found(
        rt, lambda session: find_person(session, rt.settings, key), out, actor=actor, now=now
    )


def export_found(
    rt: Runtime,
    locate: Callable[[Session], PersonRecord],
    out: Path,
    *,
    actor: str,
    now: dt.datetime | None = None,
) -> ExportSummary:
    """As export_person, for a person already known by id (the subject access pages)."""
    at = now or dt.datetime.now(dt.UTC)
    with rt.uow() as session:
        person = locate(session)
        content = _gather(session, person)
        summary = _write_zip(out, person, content, at)
        session.add(
            audit_entry(
                AuditAction.PERSON_EXPORTED,
                actor=actor,
                at=at,
                subject_type="customer" if person.customer else "identity",
                subject_ref=str(person.customer.id if person.customer else person.identity_ids[0]),
                detail=summary.counts(),
            )
        )
    return summary


@dataclass
class _Content:
    person: dict[str, Any]
    identities: list[dict[str, Any]]
    restrictions: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    audit: list[dict[str, Any]]
    mail: list[dict[str, Any]]
    spoc_items: list[dict[str, Any]]


def _gather(session: Session, person: PersonRecord) -> _Content:
    restrictions = people.restrictions_of(session, person.customer.id) if person.customer else []
    references = {r.id: r.reference for r in restrictions}
    alerts = people.alerts_of(session, person)
    audit = people.audit_of(
        session, person, sorted(set(references.values())), [a.id for a in alerts]
    )
    identities = [_identity(i) for i in person.identities]
    items = spoc_queue.items_of_customer(session, person.customer.id) if person.customer else []
    person_part, restriction_part = _customer(person), [_restriction(r) for r in restrictions]
    alert_part, audit_part = [_alert(a) for a in alerts], [_audit_entry(e) for e in audit]
    spoc_part = [_spoc_item(i) for i in items]
    # Read last: the pages expunge the session, so nothing above is touched after.
    queue_ids: list[str] = []
    contacts = list(_contacts(session, person, references, queue_ids))
    return _Content(
        spoc_items=spoc_part,
        person=person_part,
        identities=identities,
        restrictions=restriction_part,
        alerts=alert_part,
        audit=audit_part,
        contacts=contacts,
        mail=[_mail(m) for m in people.mail_records(session, queue_ids)],
    )


def _contacts(
    session: Session, person: PersonRecord, references: dict[int, str], queue_ids: list[str]
) -> Iterator[dict[str, Any]]:
    """The person's contacts; the spool queue ids of their mail are gathered on the way."""
    for page in people.contact_events_of(session, person):
        for event in page:
            queue_id = people.mail_queue_id(event)
            if queue_id is not None:
                queue_ids.append(queue_id)
            yield _contact(event, references)


def _mail(message: MailMessage) -> dict[str, Any]:
    """What the gateway recorded of one message: every copy, where it went and why."""
    return {
        "received_at": _when(message.received_at),
        "queue_id": message.queue_id,
        "envelope_from": message.envelope_from,
        "message_id": message.header_message_id,
        "size": message.size,
        "copies": [
            {
                "to": copy.target,
                "addressed_to": list(copy.original_recipients),
                "decision": copy.decision,
                "restriction": copy.restriction_ref,
                "status": copy.status.value,
                "delivered_at": _when(copy.delivered_at),
            }
            for copy in message.deliveries
        ],
    }


def _customer(person: PersonRecord) -> dict[str, Any]:
    customer = person.customer
    if customer is None:
        return {"customer_ref": None, "name": None, "on_the_register": False}
    return {
        "customer_ref": customer.customer_ref,
        "name": customer.name,
        "on_the_register": True,
        "created_at": _when(customer.created_at),
    }


def _identity(identity: Any) -> dict[str, Any]:
    return {
        "kind": identity.kind.value,
        "value": identity.value,
        "linked_at": _when(identity.linked_at),
        "first_seen": _when(identity.created_at),
    }


def _restriction(r: Restriction) -> dict[str, Any]:
    return {
        "reference": r.reference,
        "revision": r.revision,
        "status": r.status.value,
        "mode": r.mode.value,
        "stage": r.stage.value,
        "category": r.category.value,
        "reason": r.reason,
        "confidential_notes": r.confidential_notes,
        "email_measure": r.email_measure.value,
        "phone_measure": r.phone_measure.value,
        "phone_windows": r.phone_windows,
        "max_calls_per_day": r.max_calls_per_day,
        "max_calls_per_week": r.max_calls_per_week,
        "max_call_minutes": r.max_call_minutes,
        "spoc_name": r.spoc_name,
        "spoc_email": r.spoc_email,
        "spoc_phone": r.spoc_phone,
        "scope": "all" if r.scope_all else [s.name for s in r.services],
        "starts_on": _when(r.starts_on),
        "ends_on": _when(r.ends_on),
        "next_review_on": _when(r.next_review_on),
        "notified_on": _when(r.notified_on),
        "appeal_deadline": _when(r.appeal_deadline),
        "proposed_at": _when(r.proposed_at),
        "approved_at": _when(r.approved_at),
        "ended_at": _when(r.ended_at),
        "end_reason": r.end_reason,
        "reviews": [
            {"reviewed_on": _when(v.reviewed_on), "outcome": v.outcome.value, "notes": v.notes}
            for v in r.reviews
        ],
        # The letters sent to the person and their appeals are part of what is held on them.
        "letters": [
            {"kind": x.kind.value, "sent_on": _when(x.sent_on), "method": x.method.value}
            for x in r.letters
        ],
        "appeals": [_appeal(a) for a in r.appeals],
    }


def _appeal(a: Appeal) -> dict[str, Any]:
    return {
        "received_on": _when(a.received_on),
        "received_how": a.received_how.value,
        "decision": a.decision.value if a.decision else None,
        "reasons": a.reasons,
        "decided_on": _when(a.decided_on),
    }


def _contact(event: ContactEvent, references: dict[int, str]) -> dict[str, Any]:
    return {
        "occurred_at": _when(event.occurred_at),
        "channel": event.channel.value,
        "direction": event.direction.value,
        "from": event.from_value,
        "to": event.to_value,
        "outcome": event.outcome.value,
        "would_outcome": event.would_outcome.value if event.would_outcome else None,
        "mode": event.mode.value if event.mode else None,
        "restriction": references.get(event.restriction_id) if event.restriction_id else None,
        "statutory": event.statutory,
        "safeguarding": event.safeguarding,
        "duration_seconds": event.duration_seconds,
        "flags": [{"kind": f.kind.value, "detail": f.detail} for f in event.flags],
        "reasons": [hit.get("reason", "") for hit in event.reasons or []],
    }


def _alert(alert: Alert) -> dict[str, Any]:
    return {
        "rule": alert.rule,
        "status": alert.status.value,
        "urgent": alert.urgent,
        "summary": alert.summary,
        "opened_at": _when(alert.opened_at),
        "closed_at": _when(alert.closed_at),
        "closed_reason": alert.closed_reason,
    }


def _spoc_item(item: SpocItem) -> dict[str, Any]:
    """A queue item: what arrived and what was done with it (the message itself is the
    person's own; its details are here, not its full copy)."""
    return {
        "received_at": _when(item.received_at),
        "from": item.sender,
        "addressed_to": item.addressed_to,
        "subject": item.subject,
        "what_happened": item.decision,
        "restriction": item.restriction_ref,
        "read_at": _when(item.read_at),
        "outcome": item.outcome.value if item.outcome else None,
        "service": item.service,
        "reply_due_on": _when(item.reply_due_on),
        "note": item.note,
        "outcome_at": _when(item.outcome_at),
    }


def _audit_entry(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": _when(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "source": entry.source,
        "subject_type": entry.subject_type,
        "subject_ref": entry.subject_ref,
        "detail": entry.detail,
    }


def _when(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _write_zip(
    out: Path, person: PersonRecord, content: _Content, at: dt.datetime
) -> ExportSummary:
    document = {
        "exported_at": _when(at),
        "person": content.person,
        "identities": content.identities,
        "restrictions": content.restrictions,
        "contacts": content.contacts,
        "alerts": content.alerts,
        "spoc_items": content.spoc_items,
        "audit": content.audit,
        "mail": content.mail,
    }
    files = {
        "summary.html": _summary_html(document),
        "person.json": json.dumps(document, indent=2, ensure_ascii=False),
        "contacts.csv": _csv(CONTACT_COLUMNS, (_contact_row(c) for c in content.contacts)),
        "audit.csv": _csv(AUDIT_COLUMNS, (_audit_row(a) for a in content.audit)),
        "mail.csv": _csv(MAIL_COLUMNS, _mail_rows(content.mail)),
    }
    _write_privately(out, files)
    return ExportSummary(
        path=out,
        identities=len(content.identities),
        restrictions=len(content.restrictions),
        contacts=len(content.contacts),
        alerts=len(content.alerts),
        audit_entries=len(content.audit),
        mail_records=len(content.mail),
        spoc_items=len(content.spoc_items),
    )


def _contact_row(contact: dict[str, Any]) -> dict[str, Any]:
    row = dict(contact)
    row["flags"] = "; ".join(f"{f['kind']}: {f['detail']}" for f in contact["flags"])
    row["reasons"] = " | ".join(contact["reasons"])
    return row


def _mail_rows(mail: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """One row per copy of each message (a message with no copy left still has its row)."""
    for message in mail:
        head = {k: message[k] for k in ("received_at", "queue_id", "envelope_from", "size")}
        head["message_id"] = message["message_id"]
        for copy in message["copies"] or [{}]:
            yield {
                **head,
                "copy_to": copy.get("to"),
                "addressed_to": "; ".join(copy.get("addressed_to", [])),
                "decision": copy.get("decision"),
                "restriction": copy.get("restriction"),
                "status": copy.get("status"),
                "delivered_at": copy.get("delivered_at"),
            }


def _audit_row(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "detail": json.dumps(entry["detail"], ensure_ascii=False)}


def _csv(columns: tuple[str, ...], rows: Iterable[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


_templates = Environment(
    loader=PackageLoader("gateway.services", "templates"),
    autoescape=select_autoescape(["html"]),
)


def _summary_html(document: dict[str, Any]) -> str:
    return _templates.get_template("subject_access.html").render(**document)


def _write_privately(out: Path, files: dict[str, str]) -> None:
    """Write the zip beside `out` and rename it into place: a failed export leaves nothing
    half-written, and the file is the requesting user's alone (0600)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=out.parent, prefix=".export-", suffix=".zip")
    try:
        with (
            os.fdopen(descriptor, "wb") as handle,
            zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        ):
            for name, text in files.items():
                archive.writestr(name, text)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
