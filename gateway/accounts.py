"""Staff accounts (argon2-hashed passwords) and integration API tokens (stored hashed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from routing.enums import Role
from routing.identity import normalise_email
from routing.models import ApiToken, AuditEntry, StaffUser

TOKEN_SCOPES = frozenset({"lookup", "calls", "register:read", "register:write", "alerts"})
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
) -> StaffUser:
    """Create a staff account; the email must be new and the password at least 12 characters."""
    address = normalise_email(email)
    if not address.ok:
        raise AccountError(f"{email!r} is not an email address")
    if session.scalar(select(StaffUser.id).where(StaffUser.email == address.value)):
        raise AccountError(f"a staff account for {address.value} already exists")
    if len(password) < 12:
        raise AccountError("the password must be at least 12 characters long")
    user = StaffUser(
        email=address.value,
        role=role,
        password_hash=hash_password(password),
        display_name=display_name,
    )
    session.add(user)
    session.flush()
    session.add(
        AuditEntry(
            at=now,
            actor=actor,
            action="user.created",
            subject_type="user",
            subject_ref=str(user.id),
            detail={"role": role.value},
        )
    )
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
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)):
        raise AccountError(f"a token named {name!r} already exists")
    token = "ccr_" + secrets.token_urlsafe(32)
    record = ApiToken(
        name=name, token_hash=token_digest(token), prefix=token[:10], scopes=sorted(set(scopes))
    )
    session.add(record)
    session.flush()
    session.add(
        AuditEntry(
            at=now,
            actor=actor,
            action="token.created",
            subject_type="token",
            subject_ref=str(record.id),
            detail={"name": name, "scopes": record.scopes},
        )
    )
    return token


def token_by_secret(session: Session, token: str) -> ApiToken | None:
    """The live token matching a presented bearer secret, or None."""
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    return record if record and record.revoked_at is None else None
