"""The SQL of staff accounts and integration API tokens (services.accounts decides, the
API's token check reads and touches tokens through these)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.store.tables import ApiToken
from routing.models import StaffUser


def staff_id_by_email(session: Session, email: str) -> int | None:
    """The id of the staff account with exactly this (normalised) email, or None."""
    return session.scalar(select(StaffUser.id).where(StaffUser.email == email))


def all_staff_by_email(session: Session) -> Sequence[StaffUser]:
    """Every staff account, by email."""
    return session.scalars(select(StaffUser).order_by(StaffUser.email)).all()


def bump_session_generation(user: StaffUser) -> None:
    """Move the account to its next session generation, as generation + 1 in the UPDATE
    itself, so two changes at once both count, on SQLite too."""
    user.session_generation = StaffUser.session_generation + 1


def token_id_by_name(session: Session, name: str) -> int | None:
    return session.scalar(select(ApiToken.id).where(ApiToken.name == name))


def token_by_name(session: Session, name: str) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.name == name))


def token_by_hash(session: Session, token_hash: str) -> ApiToken | None:
    """The token (live or revoked) whose secret hashes to this."""
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


class TokenCheck(NamedTuple):
    """What the API's bearer check needs of a token: no ORM object on the call path."""

    id: int
    name: str
    scopes: list[str] | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


def token_check(session: Session, token_hash: str) -> TokenCheck | None:
    """The token whose secret hashes to this (one indexed query), or None."""
    row = session.execute(
        select(
            ApiToken.id,
            ApiToken.name,
            ApiToken.scopes,
            ApiToken.revoked_at,
            ApiToken.last_used_at,
        ).where(ApiToken.token_hash == token_hash)
    ).one_or_none()
    return None if row is None else TokenCheck(*row)


def record_token_use(session: Session, token_id: int, at: dt.datetime) -> None:
    """Set when the token was last used."""
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=at))
