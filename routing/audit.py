"""The audit log's vocabulary: every action the product records, and one way to build an entry.

The log is append-only and its rows keep their meaning for years, so each value below is the
exact string already stored for that action: rename a member if you must, never its value.
Actions are named `subject.what_happened`; a plural subject (`alerts.listed`) is a look at
a list rather than at one record. Entries name people and records by id or reference, never
by an address, a number or free text typed by someone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from routing.models import AuditEntry


class AuditAction(StrEnum):
    # A restriction's lifecycle (routing.lifecycle) and its pages.
    RESTRICTION_DRAFTED = "restriction.drafted"
    RESTRICTION_SUBMITTED = "restriction.submitted"
    RESTRICTION_RETURNED = "restriction.returned"
    RESTRICTION_APPROVED = "restriction.approved"
    RESTRICTION_VARIED = "restriction.varied"
    RESTRICTION_LIFTED = "restriction.lifted"
    APPEALS_LISTED = "appeals.listed"
    RESTRICTION_WITHDRAWN = "restriction.withdrawn"
    RESTRICTION_EXPIRED = "restriction.expired"
    RESTRICTION_DORMANT = "restriction.dormant"
    RESTRICTION_PURGED = "restriction.purged"
    RESTRICTION_LEGAL_HOLD_SET = "restriction.legal_hold_set"
    RESTRICTION_LEGAL_HOLD_RELEASED = "restriction.legal_hold_released"
    RESTRICTION_RETENTION_CATEGORY_SET = "restriction.retention_category_set"
    RESTRICTION_REVIEWED = "restriction.reviewed"
    RESTRICTION_REVIEW_DUE = "restriction.review_due"
    RESTRICTION_VIEWED = "restriction.viewed"
    # In force from a register import, by the OS account that ran it; then stood by or
    # withdrawn by the approver named on the import.
    RESTRICTION_IMPORTED = "restriction.imported"
    RESTRICTION_IMPORT_CONFIRMED = "restriction.import_confirmed"
    RESTRICTION_IMPORT_WITHDRAWN = "restriction.import_withdrawn"

    # The register as a whole.
    REGISTER_LISTED = "register.listed"
    REGISTER_REVIEWS_LISTED = "register.reviews_listed"
    REGISTER_LOOKUP = "register.lookup"  # a lookup or a live call showed someone is restricted
    REGISTER_IMPORTED = "register.imported"
    REGISTER_EXPORTED = "register.exported"
    REGISTER_IMPORTS_LISTED = "register.imports_listed"  # an approver's imports to confirm

    # The council's services a restriction can be scoped to (no personal data).
    SERVICE_CREATED = "service.created"
    SERVICE_CHANGED = "service.changed"

    # Customers and the addresses and numbers linked to them.
    CUSTOMER_CREATED = "customer.created"
    CUSTOMER_VIEWED = "customer.viewed"
    CUSTOMER_ANONYMISED = "customer.anonymised"
    CUSTOMERS_SEARCHED = "customers.searched"
    IDENTITY_LINKED = "identity.linked"

    # Alerts (routing.alerts) and contact volume.
    ALERT_OPENED = "alert.opened"
    ALERT_ACKNOWLEDGED = "alert.acknowledged"
    ALERT_DISMISSED = "alert.dismissed"
    ALERT_ESCALATED = "alert.escalated"
    ALERT_MERGED = "alert.merged"
    ALERT_MOVED = "alert.moved"
    ALERT_VIEWED = "alert.viewed"
    ALERT_REFERRED = "alert.referred"  # a safeguarding concern passed to an agency
    ALERT_NO_CONCERN = "alert.no_concern"  # a safeguarding concern read, no risk found
    SAFEGUARDING_RAISED = "safeguarding.raised"  # by a member of staff, about a call
    ALERTS_LISTED = "alerts.listed"
    ALERTS_RESCANNED = "alerts.rescanned"

    # Staff accounts, their sign-ins, and integration API tokens.
    USER_CREATED = "user.created"
    USER_ROLE_CHANGED = "user.role_changed"
    USER_DEACTIVATED = "user.deactivated"
    USER_REACTIVATED = "user.reactivated"
    USER_PASSWORD_CHANGED = "user.password_changed"
    USER_PASSWORD_CHANGE_REFUSED = "user.password_change_refused"
    USER_PASSWORD_RESET = "user.password_reset"
    USERS_LISTED = "users.listed"
    STAFF_SIGNED_IN = "staff.signed_in"
    STAFF_SIGN_IN_REFUSED = "staff.sign_in_refused"
    STAFF_SIGNED_OUT = "staff.signed_out"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    TOKENS_LISTED = "tokens.listed"

    # Mail, calls, retention and the audit log itself.
    MAIL_LISTED = "mail.listed"
    MAIL_RETRIED = "mail.retried"
    CALL_FLAGS_LISTED = "call_flags.listed"
    RETENTION_LISTED = "retention.listed"
    RETENTION_DELETED = "retention.deleted"  # records past their period, by counts
    AUDIT_LISTED = "audit.listed"

    # Rights: subject access, rectification and erasure.
    PERSON_EXPORTED = "person.exported"  # everything held on one person, by counts
    PERSON_VIEWED = "person.viewed"  # an information-governance officer opened the person
    PEOPLE_SEARCHED = "people.searched"  # by result count, never the words searched for
    PERSON_ERASED = "person.erased"  # by counts of what was deleted
    IDENTITY_CORRECTED = "identity.corrected"  # by identity id and kind, never the values
    IDENTITY_UNLINKED = "identity.unlinked"

    # Letters to the customer and their appeals.
    LETTER_RENDERED = "letter.rendered"  # previewed or rendered as PDF: a view of the record
    LETTER_SENT = "letter.sent"  # recorded as sent, by kind and method
    APPEAL_LODGED = "appeal.lodged"
    APPEAL_HEARER_ASSIGNED = "appeal.hearer_assigned"
    APPEAL_DECIDED = "appeal.decided"
    APPEAL_OVERDUE = "appeal.overdue"  # the window closed with the appeal undecided
    # The SPOC's queue of routed mail (routing.spoc).
    SPOC_QUEUE_LISTED = "spoc_queue.listed"
    SPOC_ITEM_OPENED = "spoc_item.opened"  # read: the first opening marks it read
    SPOC_ITEM_OUTCOME = "spoc_item.outcome"
    SPOC_ATTACHMENT_DOWNLOADED = "spoc_item.attachment_downloaded"
    SPOC_DIGEST_SENT = "spoc_queue.digest_sent"  # by mailbox and counts, never the mail


def audit_row(
    action: AuditAction,
    *,
    actor: str,
    at: dt.datetime,
    subject_type: str,
    subject_ref: str | None = None,
    detail: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """One audit entry as the column values of `audit_entries`, for the bulk inserts.

    Every key is always present, so rows built here can share one executemany. `source`
    left None is filled in by the unit of work that stamps it (web request, command line).
    """
    return {
        "at": at,
        "actor": actor,
        # The plain string: the column, the JSON API and old rows all see the same text.
        "action": action.value,
        "subject_type": subject_type,
        "subject_ref": subject_ref,
        "detail": dict(detail or {}),
        "source": source,
    }


def audit_entry(
    action: AuditAction,
    *,
    actor: str,
    at: dt.datetime,
    subject_type: str,
    subject_ref: str | None = None,
    detail: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> AuditEntry:
    """One audit entry, for the caller to add to its unit of work."""
    return AuditEntry(
        **audit_row(
            action,
            actor=actor,
            at=at,
            subject_type=subject_type,
            subject_ref=subject_ref,
            detail=detail,
            source=source,
        )
    )
