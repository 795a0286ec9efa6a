"""The mail log: how the gateway routed each message and how each copy went, with the dead
letters and a button to try one again (the same function as `ccr mail retry ID`).

Caseworkers see who sent each message; admins run the mail flow, not the cases, so they see
the routing without the sender's address. The address shows up in more places than the From
column: a notice of refused recipients goes back to the sender, so that copy is addressed to
them, and a downstream's reply to a failed copy often quotes an address ("<jo@example.org>:
Sender address rejected"). For readers who may not see senders, the page names such a copy's
target only as "the sender" and shows of a failure its reply code, not its text. Every look
at the log is audited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from admin_ui import web
from admin_ui.access import CASEWORKERS, MAIL_READERS, require_role
from admin_ui.paging import link, positive_int
from gateway.mail import delivery
from gateway.mail.message import is_refusal_notice
from gateway.store import web_queries
from gateway.store.tables import MailDelivery
from routing.audit import AuditAction
from routing.enums import EmailMeasure
from routing.models import AuditEntry

bp = Blueprint("mail", __name__, url_prefix="/mail")

# What a copy can have been routed as (the email measures, plus ordinary delivery).
DECISIONS = ("deliver", *(m.value for m in EmailMeasure if m is not EmailMeasure.NONE))

SENDER_HIDDEN = "the sender (address hidden)"
FAILURE_HIDDEN = "details hidden: they may name the sender"
EXPIRED = "expired: "  # how delivery marks a copy that ran out of time (our words)
# A downstream's refusal starts with its reply code and enhanced status code: they name nobody.
_REPLY_CODE = re.compile(r"[245]\d\d(?: [245]\.\d{1,3}\.\d{1,3})?(?=\s|$)")


@dataclass(frozen=True, slots=True)
class SenderPrivacy:
    """What of a copy a reader sees: everything, or for a reader who may not see senders,
    neither the sender's address as a copy's target nor the text of a failure."""

    shown: bool

    def target(self, copy: MailDelivery) -> str:
        """Where the copy went, or "the sender" for a refusal notice (it went to them)."""
        to_sender = is_refusal_notice(copy.decision, copy.notice) or (
            copy.target.casefold() == copy.message.envelope_from.casefold()
        )
        return SENDER_HIDDEN if to_sender and not self.shown else copy.target

    def failure(self, copy: MailDelivery) -> str:
        """Why the last attempt failed; when senders are hidden, only its reply code."""
        error = copy.last_error or ""
        if self.shown or not error:
            return error
        expired = EXPIRED if error.startswith(EXPIRED) else ""
        code = _REPLY_CODE.match(error.removeprefix(EXPIRED))
        return f"{expired}{code[0] + ' ' if code else ''}({FAILURE_HIDDEN})"


@bp.get("")
@require_role(MAIL_READERS)
def index() -> ResponseReturnValue:
    before = positive_int(request.args.get("before"))
    decision = request.args.get("decision") or None
    decision = decision if decision in DECISIONS else None
    with web.unit_of_work() as session:
        page = web_queries.mail_log(session, before=before, decision=decision)
        dead = web_queries.dead_letters(session)
        session.add(_audit(shown=len(page.messages), dead_letters=len(dead)))
        # Rendered inside the unit of work: each message's copies are read as it goes.
        return render_template(
            "mail/index.html",
            page=page,
            dead=dead,
            decision=decision,
            decisions=DECISIONS,
            newest=link("mail.index", before=None) if before else None,
            older=link("mail.index", before=page.older_than) if page.older_than else None,
            senders=SenderPrivacy(shown=g.staff.role in CASEWORKERS),
        )


@bp.post("/dead-letters/<int:delivery_id>/retry")
@require_role(MAIL_READERS)
def retry(delivery_id: int) -> ResponseReturnValue:
    """Put a dead letter back in the queue; its delivery starts at once."""
    try:
        delivery.retry_dead_letter(web.runtime_for_request(), delivery_id, actor=g.staff.email)
    except LookupError:
        flash(
            f"Copy {delivery_id} is not a dead letter (it may have been retried already).", "error"
        )
    else:
        flash(f"Copy {delivery_id} is queued for delivery again.", "success")
    return redirect(url_for("mail.index"))


def _audit(**detail: object) -> AuditEntry:
    return web.list_viewed(AuditAction.MAIL_LISTED, "mail", **detail)
