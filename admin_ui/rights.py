"""Subject access for information-governance officers: find a person by email address, phone
number or customer reference; see what is held on them; download all of it; correct or
unlink an address or number; erase the person when nothing keeps their record.

A person is a customer (with every address and number linked to them) or one address or
number no customer holds, so each page has two addresses, one per kind. Searches are posted
(never put in the address bar, where logs would keep them). Every look and change is
audited by gateway/services/people.py and subject_access.py.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from wtforms import BooleanField, RadioField, SelectField, StringField
from wtforms.validators import AnyOf, InputRequired, Length

from admin_ui import web
from admin_ui.access import require_role
from admin_ui.forms import WebForm, choices
from gateway.services import people, register_service
from gateway.services.people import ErasureRefused, PersonMissing, RightsRefused
from gateway.services.register_service import RegisterError
from gateway.services.subject_access import PersonNotFound, export_found, find_person
from gateway.store import people as people_store
from gateway.store.people import PersonRecord
from routing.enums import IdentityKind, RestrictionStatus, RetentionCategory
from routing.lifecycle import TransitionRefused
from routing.models import Restriction
from routing.roles import INFORMATION_GOVERNANCE

bp = Blueprint("rights", __name__, url_prefix="/rights")

MAX_KEY_LENGTH = 320
NOT_FOUND = "Nothing is held on that email address, phone number or customer reference"


class FindPersonForm(WebForm):
    key = StringField(
        "Email address, phone number or customer reference",
        validators=[
            InputRequired("Enter an email address, phone number or customer reference"),
            Length(max=MAX_KEY_LENGTH),
        ],
    )


class CorrectForm(WebForm):
    value = StringField(
        "Corrected value",
        validators=[InputRequired("Enter the corrected value"), Length(max=MAX_KEY_LENGTH)],
        description="It is stored the way the gateway reads it, for example in lower case.",
    )


CATEGORY_CHOICES = [
    ("", "No: the usual retention period applies"),
    (
        RetentionCategory.REPEATED_HISTORY.value,
        "Yes: a repeated history (the history is the evidence)",
    ),
    (
        RetentionCategory.PRE_POLICY.value,
        "Yes: decided under an earlier policy, kept until it is reviewed",
    ),
]


class RetentionCategoryForm(WebForm):
    reference = SelectField("Restriction", choices=[])
    category = RadioField(
        "Keep it, with the person's records, beyond the usual retention period?",
        choices=choices(CATEGORY_CHOICES),
        default="",
        validators=[AnyOf([value for value, _ in CATEGORY_CHOICES], "Choose whether to keep it")],
    )

    def chosen(self) -> RetentionCategory | None:
        return RetentionCategory(self.category.data) if self.category.data else None


class EraseForm(WebForm):
    confirm = BooleanField(
        "Yes, erase everything held on this person",
        validators=[InputRequired("Confirm that everything held on this person is to be erased")],
    )


# --- finding a person ------------------------------------------------------------------------


@bp.route("", methods=["GET", "POST"])
@require_role(INFORMATION_GOVERNANCE)
def search() -> ResponseReturnValue:
    form = FindPersonForm()
    if form.validate_on_submit():
        target = _find(form.key.data or "")
        if target is not None:
            return redirect(target)
        form.add_problem("key", NOT_FOUND)
    status = 400 if form.error_list() else 200
    return render_template("rights/search.html", form=form), status


def _find(key: str) -> str | None:
    """The person page's address for what was typed, or None; the search is audited by
    its result count only."""
    with web.unit_of_work() as session:
        try:
            person = find_person(session, web.runtime().settings, key)
        except PersonNotFound:
            person = None
        people.record_search(session, web.actor(), web.now(), found=0 if person is None else 1)
        return None if person is None else _page_of(person)


def _page_of(person: PersonRecord) -> str:
    if person.customer is not None:
        return url_for("rights.person", customer_id=person.customer.id)
    return url_for("rights.person", identity_id=person.identity_ids[0])


def _locate(session: Session, customer_id: int | None, identity_id: int | None) -> PersonRecord:
    try:
        if customer_id is not None:
            return people.person_by_customer(session, customer_id)
        return people.person_by_identity(session, identity_id or 0)
    except PersonMissing:
        abort(404)


# --- the person's page and their download ----------------------------------------------------


@bp.get("/customers/<int:customer_id>", defaults={"identity_id": None})
@bp.get("/identities/<int:identity_id>", defaults={"customer_id": None})
@require_role(INFORMATION_GOVERNANCE)
def person(customer_id: int | None, identity_id: int | None) -> ResponseReturnValue:
    with web.unit_of_work() as session:
        found = _locate(session, customer_id, identity_id)
        overview = people.view_person(session, web.actor(), web.now(), found)
        keeping = _retention_form(overview.restrictions)
        # Rendered inside the unit of work: the page reads each restriction as it goes.
        return render_template("rights/person.html", o=overview, who=_who(found), keeping=keeping)


def _retention_form(restrictions: Sequence[Restriction]) -> RetentionCategoryForm | None:
    """The form to keep a case beyond its retention period: one choice per reference not
    yet purged (a category covers every revision), or None when there is none."""
    references = list(
        dict.fromkeys(r.reference for r in restrictions if r.status is not RestrictionStatus.PURGED)
    )
    if not references:
        return None
    form = RetentionCategoryForm(formdata=None)
    form.reference.choices = choices([(ref, ref) for ref in references])
    return form


@bp.post("/customers/<int:customer_id>/retention-category")
@require_role(INFORMATION_GOVERNANCE)
def retention_category(customer_id: int) -> ResponseReturnValue:
    """Keep one of the customer's cases beyond the usual retention period, or stop."""
    with web.unit_of_work() as session:
        found = _locate(session, customer_id, None)
        references = {r.reference for r in people_store.restrictions_of(session, customer_id)}
    form = RetentionCategoryForm()
    form.reference.choices = choices([(ref, ref) for ref in sorted(references)])
    if not form.validate():
        flash(" ".join(message for _, message in form.error_list()), "error")
        return redirect(_page_of(found) + "#keeping")
    try:
        with web.unit_of_work() as session:
            register_service.set_retention_category_on_reference(
                session, web.actor(), web.now(), form.reference.data, form.chosen()
            )
    except (RegisterError, TransitionRefused) as refused:
        flash(f"{str(refused)[:1].upper()}{str(refused)[1:]}.", "error")
    else:
        done = (
            "is kept beyond the usual retention period"
            if form.chosen()
            else ("follows the usual retention period again")
        )
        flash(f"{form.reference.data} {done}.", "success")
    return redirect(_page_of(found) + "#keeping")


@bp.post("/customers/<int:customer_id>/export", defaults={"identity_id": None})
@bp.post("/identities/<int:identity_id>/export", defaults={"customer_id": None})
@require_role(INFORMATION_GOVERNANCE)
def export(customer_id: int | None, identity_id: int | None) -> ResponseReturnValue:
    """The zip of everything held, written to a private temporary folder, read back, and
    the folder removed before the download is sent: nothing stays on the server's disk.
    (Held in memory while sent: an export is a few megabytes even for a long history.)"""
    folder = Path(tempfile.mkdtemp(prefix="ccr-sar-"))
    try:
        out = folder / "export.zip"
        export_found(
            web.runtime_for_request(),
            lambda session: _locate(session, customer_id, identity_id),
            out,
            actor=web.actor().name,
            now=web.now(),
        )
        content = io.BytesIO(out.read_bytes())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    name = (
        f"subject-access-{'customer' if customer_id else 'identity'}-{customer_id or identity_id}"
    )
    return send_file(
        content, mimetype="application/zip", as_attachment=True, download_name=f"{name}.zip"
    )


# --- correcting and unlinking ----------------------------------------------------------------


@bp.route("/identities/<int:identity_id>/correct", methods=["GET", "POST"])
@require_role(INFORMATION_GOVERNANCE)
def correct(identity_id: int) -> ResponseReturnValue:
    form = CorrectForm()
    if form.validate_on_submit():
        try:
            target = _correct(identity_id, form.value.data or "")
        except RightsRefused as refused:
            form.add_problem("value", str(refused))
        else:
            flash("The correction is saved.", "success")
            return redirect(target)
    with web.unit_of_work() as session:
        found = _locate(session, None, identity_id)
        identity = next(i for i in found.identities if i.id == identity_id)
        page = {"kind": _kind_words(identity.kind), "current": identity.value, "who": _who(found)}
        back = _page_of(found)
    status = 400 if form.error_list() else 200
    return render_template("rights/correct.html", form=form, back=back, **page), status


def _correct(identity_id: int, raw: str) -> str:
    settings = web.runtime().settings
    with web.unit_of_work() as session:
        identity = people.correct_identity(
            session,
            web.actor(),
            web.now(),
            identity_id,
            raw,
            fold_plus=settings.fold_plus_addresses,
            region=settings.phone_region,
        )
        target = _page_of(people.person_by_identity(session, identity.id))
    web.register_changed()
    return target


@bp.post("/identities/<int:identity_id>/unlink")
@require_role(INFORMATION_GOVERNANCE)
def unlink(identity_id: int) -> ResponseReturnValue:
    """Unlink an address or number from its customer; back to the customer's page."""
    try:
        with web.unit_of_work() as session:
            _locate(session, None, identity_id)
            customer_id = people.unlink_identity(session, web.actor(), web.now(), identity_id)
    except RightsRefused as refused:
        flash(f"{refused}.", "error")
        return redirect(url_for("rights.person", identity_id=identity_id))
    web.register_changed()
    flash("Unlinked: it is now held on its own, with its contacts.", "success")
    return redirect(url_for("rights.person", customer_id=customer_id))


# --- erasure ---------------------------------------------------------------------------------


@bp.route(
    "/customers/<int:customer_id>/erase", methods=["GET", "POST"], defaults={"identity_id": None}
)
@bp.route(
    "/identities/<int:identity_id>/erase", methods=["GET", "POST"], defaults={"customer_id": None}
)
@require_role(INFORMATION_GOVERNANCE)
def erase(customer_id: int | None, identity_id: int | None) -> ResponseReturnValue:
    """A confirmation page; the erasure itself is refused while anything keeps the record."""
    form = EraseForm()
    refusal: tuple[str, ...] = ()
    if form.validate_on_submit():
        try:
            counts = _erase(customer_id, identity_id)
        except ErasureRefused as refused:
            refusal = refused.reasons
        else:
            flash(_erased_message(counts), "success")
            return redirect(url_for("rights.search"))
    with web.unit_of_work() as session:
        found = _locate(session, customer_id, identity_id)
        overview = people.view_person(session, web.actor(), web.now(), found)
        status = 400 if form.error_list() or refusal else 200
        page = render_template(
            "rights/erase.html", form=form, o=overview, who=_who(found), back=_page_of(found),
            refusal=refusal,
        )  # fmt: skip
    return page, status


def _erase(customer_id: int | None, identity_id: int | None) -> dict[str, int]:
    with web.unit_of_work() as session:
        found = _locate(session, customer_id, identity_id)
        counts = people.erase_person(session, web.actor(), web.now(), found)
    web.register_changed()
    return counts


def _erased_message(counts: dict[str, int]) -> str:
    parts = [
        _count(counts.get("contacts", 0), "contact"),
        _count(counts.get("mail_records", 0), "record of an email", "records of emails"),
        _count(counts.get("alerts", 0), "alert"),
        _count(
            counts.get("identities", 0),
            "email address or phone number",
            "email addresses or phone numbers",
        ),
    ]
    return "The person is erased: " + ", ".join(parts) + " deleted."


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


# --- shared ----------------------------------------------------------------------------------


def _who(person: PersonRecord) -> str:
    """The page heading: the customer's name, else their reference, else the lone value."""
    customer = person.customer
    if customer is not None:
        return customer.name or customer.customer_ref or f"Customer {customer.id}"
    return person.identities[0].value


def _kind_words(kind: IdentityKind) -> str:
    return "email address" if kind is IdentityKind.EMAIL else "phone number"
