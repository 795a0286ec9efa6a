"""Security of the staff web UI, through the real app and database: every route is guarded,
roles are enforced as each view declares them, forms need a CSRF token, sign-in locks out
and gives nothing away, every sign-in and view is audited, and every response carries the
security headers."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from flask import Flask, request
from sqlalchemy import select
from werkzeug.routing import Rule

from admin_ui import create_app
from admin_ui.access import public, route_access
from admin_ui.auth import SIGN_IN_REFUSED
from gateway.runtime import Runtime
from gateway.services import accounts, council_services
from gateway.services.council_services import ServiceTerms
from gateway.store.tables import ApiToken
from routing.enums import RestrictionStatus, Role
from routing.lifecycle import Actor
from routing.models import AuditEntry, Customer, Restriction, StaffUser, utcnow
from tests.web.conftest import (
    ADMIN,
    AGENT,
    APPROVER,
    CONFIDENTIAL,
    EMAIL_OF_ROLE,
    MANAGER,
    SECOND_APPROVER,
    Register,
)
from tests.web.helpers import StaffClient, text_of
from tests.web.page_data import raise_email_alert, spoc_item, unlinked_identity

ROUTED_METHODS = ("GET", "POST")
MAIL_WITH_FILE = (
    b"From: jo.example@example.org\r\nSubject: Bins\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
    b"Content-Type: text/plain\r\n\r\nWhere is my bin?\r\n--b\r\n"
    b'Content-Type: text/plain\r\nContent-Disposition: attachment; filename="a.txt"\r\n\r\n'
    b"note\r\n--b--\r\n"
)


def routes(app: Flask) -> Iterator[tuple[Rule, str]]:
    """Every (rule, method) the app serves, read from the app itself."""
    for rule in app.url_map.iter_rules():
        for method in ROUTED_METHODS:
            if method in (rule.methods or ()):
                yield rule, method


@pytest.fixture
def samples(rt: Runtime, register: Register, staff: dict[str, Actor]) -> dict[str, object]:
    """A value for every URL argument: the register's, an alert about an address not yet
    linked to anyone, an API token, and a staff account an admin may switch off."""
    with rt.uow() as session:
        accounts.add_token(session, name="sample", scopes=["lookup"], actor="test", now=utcnow())
        token_id = session.scalar(select(ApiToken.id).where(ApiToken.name == "sample"))
        service_id = council_services.add_service(
            session,
            ServiceTerms("Parking", mailboxes=["parking@council.example.org"]),
            actor="test",
            now=utcnow(),
        ).id
    stranger = unlinked_identity(rt, "someone.else@example.org")
    return {
        "customer_id": register.customer_id,
        "restriction_id": register.pending_id,
        "import_id": 1,
        "filename": "ccr.css",
        "alert_id": raise_email_alert(rt, stranger, utcnow()),
        "delivery_id": 1,  # no dead letter: a retry is answered with a message, not an error
        "token_id": token_id,
        "user_id": staff[SECOND_APPROVER].user_id,
        "identity_id": stranger,
        "service_id": service_id,
        "event_id": 1,  # no such call: raising a concern about it is refused with a message
        "kind": "notification",  # a letter to the customer
        "item_id": spoc_item(rt, register.customer_id, register.reference, MAIL_WITH_FILE),
        "index": 0,
    }


def url_of(rule: Rule, samples: dict[str, object]) -> str:
    missing = [name for name in rule.arguments if name not in samples]
    assert not missing, f"add a sample value for {missing} (route {rule.rule}) to url_of"
    return rule.build({name: samples[name] for name in rule.arguments})[1]


def is_sign_in_redirect(response) -> bool:
    return response.status_code == 302 and response.location.startswith("/sign-in")


# --- every route is guarded -------------------------------------------------------------------


def test_every_route_declares_who_may_use_it(app: Flask) -> None:
    unguarded = [
        rule.endpoint
        for rule, _ in routes(app)
        if route_access(app, rule.endpoint).kind == "unguarded"
    ]
    assert unguarded == []
    kinds = {route_access(app, rule.endpoint).kind for rule, _ in routes(app)}
    assert kinds == {"staff", "api", "public"}


def test_unauthenticated_crawl_meets_sign_in_or_401_everywhere(
    app: Flask, samples: dict[str, object]
) -> None:
    anonymous = StaffClient(app)
    checked = 0
    for rule, method in routes(app):
        access = route_access(app, rule.endpoint)
        if access.kind == "public":
            continue
        url = url_of(rule, samples)
        response = anonymous.get(url) if method == "GET" else anonymous.post(url)
        if access.kind == "api":
            assert response.status_code == 401, (method, url)
        else:
            assert is_sign_in_redirect(response), (method, url, response.status_code)
        checked += 1
    assert checked >= 15


def test_a_route_without_an_access_rule_is_refused(rt: Runtime) -> None:
    app = create_app(test_config={"TESTING": True}, runtime=rt)
    app.add_url_rule("/forgotten", "forgotten", lambda: "personal data")
    assert app.test_client().get("/forgotten").status_code == 403


def test_role_matrix_every_staff_route_admits_exactly_its_roles(
    app: Flask, samples: dict[str, object], client_for: Callable[[str], StaffClient]
) -> None:
    staff_routes = [
        (rule, method)
        for rule, method in routes(app)
        if route_access(app, rule.endpoint).kind == "staff"
    ]
    # Signing out ends the session the rest of the matrix uses, so it goes last.
    staff_routes.sort(key=lambda item: item[0].endpoint == "auth.sign_out")
    for role in Role:
        client = client_for(EMAIL_OF_ROLE[role])
        for rule, method in staff_routes:
            allowed = role in route_access(app, rule.endpoint).roles
            url = url_of(rule, samples)
            response = client.get(url) if method == "GET" else client.post(url)
            where = (role.value, method, url, response.status_code)
            if not allowed:
                assert response.status_code == 403, where
            elif method == "GET":
                assert response.status_code == 200, where
            else:
                assert response.status_code not in (401, 403), where
                assert not is_sign_in_redirect(response) or rule.endpoint == "auth.sign_out", where


def test_roles_follow_the_policy_for_register_work(app: Flask) -> None:
    def roles(endpoint: str) -> set[Role]:
        return set(route_access(app, endpoint).roles)

    approvers = {Role.APPROVER, Role.SENIOR_APPROVER}
    assert roles("restrictions.approve") == approvers
    assert roles("restrictions.vary") == roles("restrictions.lift") == approvers
    assert roles("restrictions.review") == approvers
    assert roles("restrictions.propose") == {Role.MANAGER, *approvers}
    assert roles("customers.show") == {Role.AGENT, Role.MANAGER, *approvers}
    assert roles("restrictions.withdraw") == {Role.MANAGER, *approvers}
    # Agents read a customer's restrictions on the caller view, never the casework page.
    assert roles("restrictions.show") == {Role.MANAGER, *approvers}
    assert Role.ADMIN not in roles("customers.search")  # admins run the system, not cases
    assert roles("dashboard.index") == set(Role)


def test_roles_follow_the_policy_for_the_later_pages(app: Flask) -> None:
    """Alerts for managers and approvers; call flags for agents too; the mail log also for
    admins (dead letters are operations); audit log, staff accounts and tokens for admins."""
    senior = Role.SENIOR_APPROVER
    expected = {
        "alerts": {Role.MANAGER, Role.APPROVER, senior},
        "calls": {Role.AGENT, Role.MANAGER, Role.APPROVER, senior},
        "mail": {Role.MANAGER, Role.APPROVER, senior, Role.ADMIN},
        "audit": {Role.ADMIN},
        "users": {Role.ADMIN},
        "tokens": {Role.ADMIN},
        "retention": {Role.ADMIN},
        "account": set(Role),  # changing your own password
        # Confirming imported restrictions: the named approver's task (of either level).
        "imports": {Role.APPROVER, senior},
    }
    expected_services = {
        "services.index": set(Role),  # what "Council Tax only" covers, for everyone
        "services.new": {Role.ADMIN},
        "services.edit": {Role.ADMIN},
    }
    for endpoint, roles in expected_services.items():
        assert set(route_access(app, endpoint).roles) == roles, endpoint
    seen = set()
    for rule, _ in routes(app):
        area = rule.endpoint.partition(".")[0]
        if area in expected:
            assert set(route_access(app, rule.endpoint).roles) == expected[area], rule.endpoint
            seen.add(area)
    assert seen == set(expected)


def test_no_route_can_change_the_audit_log(app: Flask) -> None:
    audit_routes = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("audit.")]
    assert [(r.rule, sorted(r.methods - {"HEAD", "OPTIONS"})) for r in audit_routes] == [
        ("/audit", ["GET"])
    ]


# --- CSRF -------------------------------------------------------------------------------------


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(
    rt: Runtime, client_for: Callable[[str], StaffClient]
) -> None:
    manager = client_for(MANAGER)
    response = manager.post_without_token("/customers/new", {"name": "Forged Customer"})
    assert response.status_code == 400
    assert "This form has expired" in text_of(response)
    with rt.uow() as session:
        assert session.scalars(select(Customer)).all() == []
    accepted = manager.post("/customers/new", {"name": "Real Customer"})
    assert accepted.status_code == 302


def test_every_staff_form_posted_without_its_csrf_token_is_refused(
    app: Flask, samples: dict[str, object], client_for: Callable[[str], StaffClient]
) -> None:
    posts = [
        rule
        for rule, method in routes(app)
        if method == "POST" and route_access(app, rule.endpoint).kind == "staff"
    ]
    assert len(posts) >= 15
    clients = {role: client_for(EMAIL_OF_ROLE[role]) for role in Role}
    for rule in posts:
        role = min(route_access(app, rule.endpoint).roles)  # any role the route admits
        response = clients[role].post_without_token(url_of(rule, samples))
        assert response.status_code == 400, rule.endpoint
        assert "This form has expired" in text_of(response), rule.endpoint


def test_signing_in_needs_the_csrf_token_too(app: Flask, staff) -> None:
    visitor = StaffClient(app)
    response = visitor.post_without_token(
        "/sign-in", {"email": MANAGER, "password": "correct horse battery"}
    )
    assert response.status_code == 400
    # Not signed in: the dashboard still sends this visitor to the sign-in page.
    dashboard = visitor.get("/")
    assert dashboard.status_code == 302
    assert dashboard.headers["Location"].startswith("/sign-in")


def test_the_json_api_takes_bearer_tokens_not_csrf_tokens(app: Flask) -> None:
    response = app.test_client().post("/api/v1/calls", json={})
    assert response.status_code == 401  # the token check answers, not the CSRF check
    assert response.get_json()["error"] == "unauthorized"


# --- approving ---------------------------------------------------------------------------------


def test_an_approver_cannot_approve_their_own_proposal(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    approver = client_for(APPROVER)
    proposal = approver.post(
        f"/customers/{register.customer_id}/restrictions/new",
        {
            "stage": "warning",
            "category": "B",
            "mode": "enforce",
            "email_measure": "none",
            "phone_measure": "none",
            "starts_on": "2026-02-01",
            "review_every_months": "3",
            "reason": "Repeated demands (test)",
        },
    )
    assert proposal.status_code == 302
    restriction_id = int(proposal.location.rsplit("/", 1)[1])

    refused = approver.post(f"/restrictions/{restriction_id}/approve")
    assert refused.status_code == 409
    assert "a different approver must decide" in text_of(refused)
    assert _status(rt, restriction_id) is RestrictionStatus.PENDING_APPROVAL

    approved = client_for(SECOND_APPROVER).post(f"/restrictions/{restriction_id}/approve")
    assert approved.status_code == 302
    assert _status(rt, restriction_id) is RestrictionStatus.ACTIVE


def test_a_manager_cannot_approve_even_by_posting_directly(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    response = client_for(MANAGER).post(f"/restrictions/{register.pending_id}/approve")
    assert response.status_code == 403
    assert _status(rt, register.pending_id) is RestrictionStatus.PENDING_APPROVAL


def _status(rt: Runtime, restriction_id: int) -> RestrictionStatus:
    with rt.uow() as session:
        return session.get(Restriction, restriction_id).status


# --- audit of views ---------------------------------------------------------------------------


def test_viewing_a_customer_writes_an_audit_entry_with_who_and_where(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    response = client_for(AGENT).get(f"/customers/{register.customer_id}")
    assert response.status_code == 200
    with rt.uow() as session:
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "customer.viewed")
        ).all()
    assert entry.actor == AGENT
    assert entry.subject_ref == str(register.customer_id)
    assert entry.source == "web 127.0.0.1"


def test_agents_never_see_confidential_notes(
    register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    agent, manager = client_for(AGENT), client_for(MANAGER)
    for path in (f"/customers/{register.customer_id}", f"/restrictions/{register.active_id}"):
        assert CONFIDENTIAL not in text_of(agent.get(path))
        assert "Confidential notes" not in text_of(agent.get(path))
        assert CONFIDENTIAL in text_of(manager.get(path))


# --- signing in -------------------------------------------------------------------------------


def test_sign_in_and_sign_out_are_audited_with_the_remote_address(
    rt: Runtime, client_for: Callable[[str], StaffClient]
) -> None:
    manager = client_for(MANAGER)
    assert manager.get("/").status_code == 200
    signed_out = manager.post("/sign-out")
    assert is_sign_in_redirect(signed_out)
    assert is_sign_in_redirect(manager.get("/"))
    with rt.uow() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action.startswith("staff.")).order_by(AuditEntry.id)
        ).all()
    assert [(e.action, e.actor, e.source) for e in entries] == [
        ("staff.signed_in", MANAGER, "web 127.0.0.1"),
        ("staff.signed_out", MANAGER, "web 127.0.0.1"),
    ]


def test_unknown_account_and_wrong_password_get_the_same_answer(
    rt: Runtime, app: Flask, staff
) -> None:
    unknown = StaffClient(app).sign_in("nobody@council.example.org")
    wrong = StaffClient(app).sign_in(MANAGER, "not the password at all")
    assert unknown.status_code == wrong.status_code == 400
    assert SIGN_IN_REFUSED in text_of(unknown)
    assert _without_values(unknown) == _without_values(wrong)
    with rt.uow() as session:
        refusals = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "staff.sign_in_refused")
        ).all()
    # The audit log (for admins) does tell them apart, without recording what was typed.
    assert [(e.actor, e.detail["reason"]) for e in refusals] == [
        ("(unknown account)", "unknown account"),
        (MANAGER, "wrong password"),
    ]


def _without_values(response) -> str:
    # The email typed and each session's CSRF token are echoed; everything else must match.
    return re.sub(r'value="[^"]*"', "", text_of(response))


def test_repeated_failures_lock_the_account_with_back_off(
    rt: Runtime, app: Flask, staff, clock
) -> None:
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    clock.at = start
    lockout_after = rt.settings.web_lockout_after
    for _ in range(lockout_after):
        assert StaffClient(app).sign_in(MANAGER, "wrong password here").status_code == 400
    locked = StaffClient(app).sign_in(MANAGER)  # the right password, while locked
    assert locked.status_code == 400
    assert SIGN_IN_REFUSED in text_of(locked)

    clock.at = start + dt.timedelta(seconds=61)  # the first lock lasts a minute
    assert StaffClient(app).sign_in(MANAGER, "still wrong password").status_code == 400
    clock.at = start + dt.timedelta(seconds=61 + 90)  # the next lasts two minutes
    assert StaffClient(app).sign_in(MANAGER).status_code == 400
    clock.at = start + dt.timedelta(seconds=61 + 121)
    assert StaffClient(app).sign_in(MANAGER).status_code == 302

    with rt.uow() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.email == MANAGER))
        reasons = [
            e.detail.get("reason")
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.action.startswith("staff.sign_in"))
            )
        ]
    assert user.failed_sign_ins == 0 and user.locked_until is None
    assert reasons.count("account locked") == 2


def test_a_switched_off_account_is_signed_out_at_its_next_request(
    rt: Runtime, client_for: Callable[[str], StaffClient]
) -> None:
    agent = client_for(AGENT)
    with rt.uow() as session:
        session.scalar(select(StaffUser).where(StaffUser.email == AGENT)).active = False
    assert is_sign_in_redirect(agent.get("/"))


@pytest.mark.parametrize(
    "elsewhere",
    [
        "//evil.example.org/phish",
        "/%5Cevil.example.org/phish",  # browsers read /\host as //host
        "/%09/evil.example.org/phish",  # and drop the tab
        "https://evil.example.org/phish",
        "/%0D%0ALocation:%20https://evil.example.org",
    ],
)
def test_sign_in_never_sends_anyone_to_another_site(app: Flask, staff, elsewhere: str) -> None:
    visitor = StaffClient(app)
    token = visitor.csrf_token()
    response = visitor.client.post(
        f"/sign-in?next={elsewhere}",
        data={"csrf_token": token, "email": ADMIN, "password": "correct horse battery"},
    )
    assert response.status_code == 302 and response.location == "/"
    # Already signed in, the sign-in page sends straight on: to the dashboard too.
    assert visitor.client.get(f"/sign-in?next={elsewhere}").location == "/"


def test_sign_in_returns_to_the_page_asked_for(app: Flask, staff) -> None:
    visitor = StaffClient(app)
    token = visitor.csrf_token()
    response = visitor.client.post(
        "/sign-in?next=/customers",
        data={"csrf_token": token, "email": AGENT, "password": "correct horse battery"},
    )
    assert response.location == "/customers"


def test_the_session_cookie_is_httponly_and_samesite(app: Flask, staff, rt: Runtime) -> None:
    cookie = StaffClient(app).sign_in(MANAGER).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secure_rt = replace(rt, settings=rt.settings.model_copy(update={"web_secure_cookies": True}))
    secure_app = create_app(test_config={"TESTING": True}, runtime=secure_rt)
    response = StaffClient(secure_app).sign_in(MANAGER)
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


# --- behind a reverse proxy -------------------------------------------------------------------

CLIENT = "203.0.113.9"  # the staff member's address, as the proxy saw it (documentation range)
FORGED = "192.0.2.66"  # what anyone can put in X-Forwarded-For themselves


def _sources(rt: Runtime, action: str) -> list[str | None]:
    with rt.uow() as session:
        query = select(AuditEntry.source).where(AuditEntry.action == action)
        return list(session.scalars(query.order_by(AuditEntry.id)))


def test_without_trusted_proxies_a_forged_forwarded_for_is_ignored(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    assert rt.settings.web_trusted_proxies == 0
    agent = client_for(AGENT)
    forged = {"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "https"}
    assert agent.get(f"/customers/{register.customer_id}", headers=forged).status_code == 200
    assert _sources(rt, "customer.viewed") == ["web 127.0.0.1"]


def test_behind_one_trusted_proxy_the_audit_names_the_forwarded_client(
    rt: Runtime, register: Register, clock
) -> None:
    proxied = replace(rt, settings=rt.settings.model_copy(update={"web_trusted_proxies": 1}))
    app = create_app(test_config={"TESTING": True, "CCR_CLOCK": clock}, runtime=proxied)
    app.add_url_rule("/scheme", "scheme", public(lambda: request.scheme))
    visitor = StaffClient(app)
    # The proxy appends the address it heard from; an entry the client sent comes before it.
    # Over HTTPS, the CSRF check also wants the same-origin Referer a browser sends.
    visitor.client.environ_base.update(
        HTTP_X_FORWARDED_FOR=f"{FORGED}, {CLIENT}",
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_REFERER="https://localhost/sign-in",
    )
    assert visitor.sign_in(MANAGER, "not the password at all").status_code == 400
    assert visitor.sign_in(MANAGER).status_code == 302
    assert visitor.get(f"/customers/{register.customer_id}").status_code == 200
    expected = [f"web {CLIENT}"]
    assert _sources(rt, "staff.sign_in_refused") == expected  # what the lock-out counts
    assert _sources(rt, "staff.signed_in") == expected
    assert _sources(rt, "customer.viewed") == expected
    assert text_of(visitor.get("/scheme")) == "https"  # so Secure cookies hold behind TLS


# --- headers ----------------------------------------------------------------------------------


def test_every_kind_of_response_carries_the_security_headers(
    app: Flask, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    manager = client_for(MANAGER)
    responses = [
        StaffClient(app).get("/sign-in"),
        manager.get(f"/customers/{register.customer_id}"),
        manager.get("/static/ccr.css"),
        manager.get("/no-such-page"),
        StaffClient(app).get("/api/v1/lookup?phone=01632960123"),
    ]
    for response in responses:
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
    assert responses[1].headers["Cache-Control"] == "no-store"  # personal data
    assert responses[3].status_code == 404
    for response in responses:
        response.close()  # the static file's handle


def test_pages_have_no_inline_script_or_style(
    register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    page = text_of(client_for(MANAGER).get(f"/customers/{register.customer_id}"))
    assert "<script" not in page and "<style" not in page and " style=" not in page
