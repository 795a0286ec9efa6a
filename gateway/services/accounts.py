"""Staff accounts (argon2-hashed passwords) and integration API tokens (stored hashed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from gateway.store import accounts as account_store
from gateway.store.tables import ApiToken
from routing.audit import AuditAction, audit_entry
from routing.enums import Role
from routing.identity import normalise_email
from routing.models import AuditEntry, StaffUser

# Scopes an API token can carry; each endpoint of the JSON API names the one it needs.
SCOPE_LOOKUP = "lookup"  # GET /api/v1/lookup: the live caller lookup (screen pop)
SCOPE_CALLS = "calls"  # POST /api/v1/calls and /api/v1/call-logs: call events and files
# Only scopes an endpoint checks: a token granted a power nothing uses misleads whoever
# reviews what an integration may do.
TOKEN_SCOPES = frozenset({SCOPE_LOOKUP, SCOPE_CALLS})
# Long enough that a few unrelated words make one; argon2 makes each guess slow.
MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()


class AccountError(ValueError):
    """An account or token request that cannot be met; one line for the user."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why a password cannot be used (one line for the user), or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must be at least {MIN_PASSWORD_LENGTH} characters long"
    return None


def end_sessions(user: StaffUser) -> None:
    """End every session of the account: each carries the generation it began in, and the
    web UI refuses one whose generation is no longer the account's."""
    account_store.bump_session_generation(user)


def generate_password() -> str:
    """A password strong enough to hand over once and have the user change."""
    return secrets.token_urlsafe(15)


def add_user(
    session: Session,
    *,
    email: str,
    role: Role,
    password: str,
    actor: str,
    now: dt.datetime,
    display_name: str | None = None,
    must_change_password: bool = False,
) -> StaffUser:
    """Create a staff account; the email must be new and the password at least 12 characters.

    `must_change_password` when someone other than its owner chose the password (an admin
    in the web UI): the owner then picks their own at the first sign-in."""
    address = normalise_email(email)
    if not address.ok:
        raise AccountError(f"{email!r} is not an email address")
    if account_store.staff_id_by_email(session, address.value):
        raise AccountError(f"a staff account for {address.value} already exists")
    problem = password_problem(password)
    if problem:
        raise AccountError(problem)
    user = StaffUser(
        email=address.value,
        role=role,
        password_hash=hash_password(password),
        display_name=display_name,
        must_change_password=must_change_password,
    )
    session.add(user)
    session.flush()
    session.add(user_audit(user, AuditAction.USER_CREATED, actor, now, role=role.value))
    return user


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_token(
    session: Session, *, name: str, scopes: list[str], actor: str, now: dt.datetime
) -> str:
    """Create an API token and return it; only its hash is stored, so it is shown once."""
    unknown = sorted(set(scopes) - TOKEN_SCOPES)
    if unknown:
        raise AccountError(
            f"unknown scope {unknown[0]!r}; known scopes: " + ", ".join(sorted(TOKEN_SCOPES))
        )
    if not scopes:
        raise AccountError("a token needs at least one --scope")
    if account_store.token_id_by_name(session, name):
        raise AccountError(f"a token named {name!r} already exists")
    token = "ccr_" + secrets.token_urlsafe(32)
    record = ApiToken(
        name=name, token_hash=token_digest(token), prefix=token[:10], scopes=sorted(set(scopes))
    )
    session.add(record)
    session.flush()
    session.add(_token_audit(record, AuditAction.TOKEN_CREATED, actor, now, scopes=record.scopes))
    return token


def token_by_secret(session: Session, token: str) -> ApiToken | None:
    """The live token matching a presented bearer secret, or None."""
    record = account_store.token_by_hash(session, token_digest(token))
    return record if record and record.revoked_at is None else None


def revoke_token(session: Session, *, name: str, actor: str, now: dt.datetime) -> ApiToken:
    """Revoke a token by name; it stops working everywhere within the API's cache lifetime."""
    record = account_store.token_by_name(session, name)
    if record is None:
        raise AccountError(f"no token named {name!r}")
    if record.revoked_at is not None:
        raise AccountError(f"the token {name!r} is already revoked")
    record.revoked_at = now
    session.add(_token_audit(record, AuditAction.TOKEN_REVOKED, actor, now))
    return record


def change_role(
    session: Session, *, user_id: int, role: Role, actor: str, actor_id: int, now: dt.datetime
) -> StaffUser:
    """Give a staff account another role. An admin cannot take away their own admin role, so
    the one acting always leaves at least one admin behind."""
    user = account_for_update(session, user_id)
    if user.id == actor_id and user.role is Role.ADMIN and role is not Role.ADMIN:
        raise AccountError("you cannot remove your own admin role: ask another admin to do it")
    if user.role is role:
        raise AccountError(f"{user.email} is already {_a(role)}")
    previous, user.role = user.role, role
    # A session is trusted for the role it was begun in: sign in again to use the new one.
    end_sessions(user)
    changed = user_audit(
        user, AuditAction.USER_ROLE_CHANGED, actor, now, role=user.role.value, was=previous.value
    )
    session.add(changed)
    return user


def set_active(
    session: Session, *, user_id: int, active: bool, actor: str, actor_id: int, now: dt.datetime
) -> StaffUser:
    """Switch a staff account off (signed out at its next request) or on again. Nobody
    switches off their own account: an admin cannot lock every admin out by mistake."""
    user = account_for_update(session, user_id)
    if not active and user.id == actor_id:
        raise AccountError("you cannot deactivate your own account: ask another admin to do it")
    if user.active is active:
        raise AccountError(f"{user.email} is already {'active' if active else 'deactivated'}")
    user.active = active
    if not active:
        # Also ends sessions for good: reactivating later must not bring old cookies back.
        end_sessions(user)
    if active:  # a fresh start: earlier failed sign-ins no longer count against it
        user.failed_sign_ins, user.locked_until = 0, None
    action = AuditAction.USER_REACTIVATED if active else AuditAction.USER_DEACTIVATED
    session.add(user_audit(user, action, actor, now, role=user.role.value))
    return user


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """What `ccr user list` shows of one account: never its password hash."""

    email: str
    role: str
    state: str  # "active", "deactivated", "locked until ...", with "must change password"


def staff_accounts(session: Session, *, now: dt.datetime) -> list[AccountSummary]:
    """Every staff account, by email, with whether it can sign in now."""
    summaries = []
    for user in account_store.all_staff_by_email(session):
        if not user.active:
            state = "deactivated"
        elif user.locked_until is not None and _aware(user.locked_until) > now:
            state = f"locked until {_aware(user.locked_until):%Y-%m-%d %H:%M} UTC"
        else:
            state = "active"
        if user.must_change_password:
            state += ", must change password"
        summaries.append(AccountSummary(user.email, user.role.value, state))
    return summaries


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def account_id_by_email(session: Session, email: str) -> int:
    """The id of the staff account with this email (in any case); AccountError if none."""
    address = normalise_email(email)
    user_id = account_store.staff_id_by_email(session, address.value or email.strip().lower())
    if user_id is None:
        raise AccountError(f"no staff account for {email!r}")
    return user_id


def account_for_update(session: Session, user_id: int) -> StaffUser:
    """The staff account, locked for the change about to be made; AccountError if none."""
    user = session.get(StaffUser, user_id, with_for_update=True)
    if user is None:
        raise AccountError(f"no staff account with id {user_id}")
    return user


def _a(role: Role) -> str:
    return f"{'an' if role.value[0] in 'aeiou' else 'a'} {role.value}"


def user_audit(
    user: StaffUser, action: AuditAction, actor: str, now: dt.datetime, **detail: object
) -> AuditEntry:
    """An audit entry about a staff account; `detail` names what happened, never a password,
    its hash or anything typed."""
    return audit_entry(
        action, actor=actor, at=now, subject_type="user", subject_ref=str(user.id), detail=detail
    )


def _token_audit(
    token: ApiToken, action: AuditAction, actor: str, now: dt.datetime, **detail: object
) -> AuditEntry:
    # The token's name, which its owner chose, never any part of the secret.
    return audit_entry(
        action,
        actor=actor,
        at=now,
        subject_type="token",
        subject_ref=str(token.id),
        detail={"name": token.name, **detail},
    )
