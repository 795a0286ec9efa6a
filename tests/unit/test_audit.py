"""The audit vocabulary (routing.audit): the stored strings never change, and one builder."""

from __future__ import annotations

import datetime as dt

from routing.audit import AuditAction, audit_entry, audit_row

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)

# Every action string in the append-only log. Existing rows keep these meanings: a new
# action is added here and in AuditAction; none is ever renamed or removed.
STORED = """
alert.acknowledged alert.dismissed alert.escalated alert.merged alert.moved alert.opened
alert.viewed alerts.listed alerts.rescanned audit.listed call_flags.listed customer.anonymised
customer.created customer.viewed customers.searched identity.linked mail.listed mail.retried
register.exported register.imported register.listed register.lookup register.reviews_listed
restriction.approved restriction.dormant restriction.drafted restriction.expired
restriction.legal_hold_released restriction.legal_hold_set restriction.lifted
restriction.purged restriction.retention_category_set restriction.returned
restriction.review_due restriction.reviewed
appeals.listed restriction.submitted restriction.varied restriction.viewed
restriction.withdrawn retention.listed
service.created service.changed restriction.imported restriction.import_confirmed
restriction.import_withdrawn register.imports_listed
retention.deleted person.exported alert.referred alert.no_concern safeguarding.raised
person.viewed people.searched person.erased identity.corrected identity.unlinked
spoc_queue.listed spoc_item.opened spoc_item.outcome spoc_item.attachment_downloaded
spoc_queue.digest_sent
staff.sign_in_refused staff.signed_in staff.signed_out token.created token.revoked
tokens.listed user.created user.deactivated user.password_change_refused
user.password_changed user.password_reset user.reactivated user.role_changed users.listed
letter.rendered letter.sent appeal.lodged appeal.hearer_assigned appeal.decided appeal.overdue
"""


def test_the_actions_are_the_strings_already_stored() -> None:
    assert sorted(action.value for action in AuditAction) == sorted(STORED.split())


def test_an_entry_stores_the_plain_action_string() -> None:
    entry = audit_entry(
        AuditAction.TOKEN_REVOKED,
        actor="admin@council.example.org",
        at=NOW,
        subject_type="token",
        subject_ref="3",
        detail={"name": "phones"},
    )
    assert type(entry.action) is str
    assert (entry.action, entry.at, entry.subject_ref, entry.detail, entry.source) == (
        "token.revoked",
        NOW,
        "3",
        {"name": "phones"},
        None,
    )


def test_rows_for_a_bulk_insert_all_have_the_same_columns() -> None:
    # One executemany takes rows of one shape: absent values are present as None or {}.
    bare = audit_row(AuditAction.ALERTS_RESCANNED, actor="system", at=NOW, subject_type="alerts")
    full = audit_row(
        AuditAction.REGISTER_LOOKUP,
        actor="api:phones",
        at=NOW,
        subject_type="restriction",
        subject_ref="CCR-2026-0001",
        detail={"kind": "phone"},
        source="api",
    )
    assert bare.keys() == full.keys()
    assert (bare["subject_ref"], bare["detail"], bare["source"]) == (None, {}, None)
