"""Who may do what: the staff roles' named groups and the work each group may do, in one place.

The lifecycle, the register and alert services and the staff pages (admin_ui.access) all
read these sets, so a permission is changed here or nowhere. Roles, from the front line in:
an agent answers calls, a manager does casework, an approver also decides on restrictions
(never one they proposed: the lifecycle checks that), a senior approver also decides the
stages the council's settings reserve for one (routing/approvals.py), an admin runs the
system and sees no customer's record, and an information-governance officer (ig) answers
people's rights requests: subject access, correcting or unlinking an address or number,
erasure.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from routing.enums import Role

# --- the named groups ------------------------------------------------------------------------

ANY_STAFF = frozenset(Role)
# Finding a customer and what applies to a call from them. Agents get the caller view only
# (restrictions in force, their measures, SPOC and script, and call flags); caseworkers get
# the full record at the same address.
CALLER_LOOKUP = frozenset({Role.AGENT, Role.MANAGER, Role.APPROVER, Role.SENIOR_APPROVER})
# The full customer record and casework: confidential notes, reasons, reviews, who proposed
# and approved, history, contacts and their chart, alerts, proposing restrictions, the
# register and its export, and each restriction's own page.
CASEWORKERS = frozenset({Role.MANAGER, Role.APPROVER, Role.SENIOR_APPROVER})
# Approving, varying, lifting and reviewing restrictions (never one they proposed); which
# stages each level may approve is routing/approvals.py's, from the settings.
APPROVERS = frozenset({Role.APPROVER, Role.SENIOR_APPROVER})
SENIOR_APPROVERS = frozenset({Role.SENIOR_APPROVER})
# Staff accounts, API tokens, retention and the audit log.
ADMINS = frozenset({Role.ADMIN})
# Call flags (agents act on them; managers and approvers follow them up).
CALL_FLAG_READERS = CALLER_LOOKUP
# Mail the gateway could not deliver: casework for managers, operations for admins.
MAIL_READERS = CASEWORKERS | ADMINS
# A legal hold keeps a restriction past its retention period: a decision on the case
# (approvers) or on the records (admins, from the retention page).
LEGAL_HOLD_KEEPERS = APPROVERS | ADMINS


# The council's services (sets of mailboxes and lines a restriction can be scoped to): every
# member of staff may read the list, to know what "Council Tax only" covers; admins keep it.
SERVICE_READERS = ANY_STAFF
SERVICE_KEEPERS = ADMINS


# Information governance: subject access, rectification and erasure, from the person's page
# in the subject access area, which shows every customer's record.
INFORMATION_GOVERNANCE = frozenset({Role.IG})
# Who sees a customer's full record: caseworkers on the customer pages, information
# governance on the subject access pages.
RECORD_READERS = CASEWORKERS | INFORMATION_GOVERNANCE
# Letters to the customer: caseworkers send them from the restriction's page; information
# governance reads them back (they are part of the record a person may ask for).
LETTER_READERS = RECORD_READERS
# The SPOC's queue of redirected, copied, filed and refused mail: read by the caseworkers
# who handle restricted contact (a SPOC is a manager or approver), who record an outcome.
SPOC_HANDLERS = CASEWORKERS


# --- the work, and who may do it --------------------------------------------------------------


class Permission(StrEnum):
    PROPOSE = "propose"  # draft a restriction and put it forward for approval
    EDIT_CUSTOMERS = "edit_customers"  # add customers, link their addresses and numbers
    HANDLE_ALERTS = "handle_alerts"  # acknowledge, dismiss or escalate an alert
    APPROVE = "approve"  # approve a proposal or return it to draft; approve an import
    VARY = "vary"
    LIFT = "lift"
    REVIEW = "review"
    LEGAL_HOLD = "legal_hold"  # set or release one
    CUSTOMER_RECORD = "customer_record"  # see the full record, confidential notes included
    CALLER_VIEW = "caller_view"  # see what applies to a caller
    CALL_FLAGS = "call_flags"
    MAIL_LOG = "mail_log"
    ADMIN_PAGES = "admin_pages"  # staff accounts, API tokens, retention, the audit log
    RAISE_CONCERN = "raise_concern"  # raise a safeguarding concern about a call
    SUBJECT_ACCESS = "subject_access"  # find a person and export everything held on them
    RECTIFY = "rectify"  # correct an address or number, or unlink it from its customer
    ERASE = "erase"  # erase a person no restriction or hold keeps on file
    RETENTION_CATEGORY = "retention_category"  # keep a case beyond the usual retention period
    READ_LETTERS = "read_letters"  # preview a letter to the customer, or render it as PDF
    RECORD_LETTER = "record_letter"  # record that a letter was sent (starts the appeal window)
    LODGE_APPEAL = "lodge_appeal"  # record an appeal received and name who hears it
    DECIDE_APPEAL = "decide_appeal"  # decide an appeal (only the named hearer, in routing)
    SEE_SERVICES = "see_services"  # the council's services and their mailboxes and lines
    MANAGE_SERVICES = "manage_services"  # add a service, change its mailboxes and lines
    SPOC_QUEUE = "spoc_queue"  # read routed mail in the SPOC's queue and record outcomes


WHO_MAY: Mapping[Permission, frozenset[Role]] = MappingProxyType(
    {
        Permission.PROPOSE: CASEWORKERS,
        Permission.EDIT_CUSTOMERS: CASEWORKERS,
        Permission.HANDLE_ALERTS: CASEWORKERS,
        Permission.APPROVE: APPROVERS,
        Permission.VARY: APPROVERS,
        Permission.LIFT: APPROVERS,
        Permission.REVIEW: APPROVERS,
        Permission.LEGAL_HOLD: LEGAL_HOLD_KEEPERS,
        Permission.CUSTOMER_RECORD: RECORD_READERS,
        Permission.CALLER_VIEW: CALLER_LOOKUP,
        Permission.CALL_FLAGS: CALL_FLAG_READERS,
        Permission.MAIL_LOG: MAIL_READERS,
        Permission.ADMIN_PAGES: ADMINS,
        Permission.RAISE_CONCERN: CALLER_LOOKUP,
        Permission.SUBJECT_ACCESS: INFORMATION_GOVERNANCE,
        Permission.RETENTION_CATEGORY: INFORMATION_GOVERNANCE,
        Permission.RECTIFY: INFORMATION_GOVERNANCE,
        Permission.ERASE: INFORMATION_GOVERNANCE,
        Permission.READ_LETTERS: LETTER_READERS,
        Permission.RECORD_LETTER: CASEWORKERS,
        Permission.LODGE_APPEAL: CASEWORKERS,
        Permission.DECIDE_APPEAL: APPROVERS,
        Permission.SEE_SERVICES: SERVICE_READERS,
        Permission.MANAGE_SERVICES: SERVICE_KEEPERS,
        Permission.SPOC_QUEUE: SPOC_HANDLERS,
    }
)


def may(role: Role | None, permission: Permission) -> bool:
    """Whether someone in `role` may do `permission` (no role, as for the system: no)."""
    return role in WHO_MAY[permission]
