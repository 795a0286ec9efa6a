"""Answer "what applies to this address or number now?" and audit any restriction it reveals."""

from __future__ import annotations

import datetime as dt

from gateway.bootstrap import Runtime
from routing.identity import guess_kind, normalise
from routing.lookup import LookupAnswer, look_up
from routing.models import AuditEntry


def lookup_now(rt: Runtime, raw: str, *, actor: str, source: str) -> LookupAnswer:
    """Normalise the input, read the current register snapshot, and audit a restricted answer."""
    identity = normalise(
        raw,
        guess_kind(raw),
        fold_plus=rt.settings.fold_plus_addresses,
        region=rt.settings.phone_region,
    )
    now = dt.datetime.now(dt.UTC)
    answer = look_up(identity, rt.register.snapshot(), rt.policy, now)
    if answer.restricted:
        _audit_lookup(rt, answer, actor=actor, source=source, now=now)
    return answer


def _audit_lookup(
    rt: Runtime, answer: LookupAnswer, *, actor: str, source: str, now: dt.datetime
) -> None:
    # Seeing that someone is restricted is a view of their record: it is audited, by reference.
    references = [r.reference for r in answer.restrictions]
    with rt.uow() as session:
        session.add(
            AuditEntry(
                at=now,
                actor=actor,
                action="register.lookup",
                subject_type="restriction",
                subject_ref=references[0],
                detail={"references": references, "kind": answer.identity.kind},
                source=source,
            )
        )
