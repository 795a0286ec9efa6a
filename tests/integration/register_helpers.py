"""Putting restrictions in force the way staff do: through register_service, with a manager
proposing and a different approver approving (shared by the gateway and API tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from gateway.runtime import Runtime
from gateway.services import register_service
from routing.enums import Category, IdentityKind, Stage
from routing.lifecycle import Actor
from routing.terms import RestrictionDraft

SPOC = "spoc@council.example.org"
SPOC_PHONE = "020 7946 0999"


def impose_restriction(
    rt: Runtime,
    manager: Actor,
    approver: Actor,
    identities: Sequence[tuple[str, IdentityKind]],
    **terms: object,
) -> str:
    """Create a customer with these identities, restrict them, and return the reference.

    The terms default to a stage 1, category C restriction from 1 January 2026 with the
    SPOC mailbox and line; keyword arguments override any RestrictionDraft field.
    """
    now = dt.datetime.now(dt.UTC)
    values: dict = {
        "stage": Stage.STAGE1,
        "category": Category.C,
        "starts_on": dt.date(2026, 1, 1),
        "spoc_email": SPOC,
        "spoc_phone": SPOC_PHONE,
        **terms,
    }
    with rt.uow() as session:
        customer = register_service.add_customer(session, manager, now, name="Jo")
        for raw, kind in identities:
            register_service.link_raw_identity(
                session, manager, now, customer, raw, kind, fold_plus=True, region="GB"
            )
        restriction = register_service.draft_restriction(
            session, manager, now, customer, RestrictionDraft(**values)
        )
        register_service.submit(session, manager, now, restriction.id)
        register_service.approve(
            session, approver, now, restriction.id, today=rt.today(now), appeal_days=14
        )
        reference = restriction.reference
    rt.register.invalidate()
    return reference
