"""Staff passwords once an account exists: a member of staff changing their own, and an admin
resetting someone else's to a temporary one that must be changed at the next sign-in.

Both end the account's other sessions (its session generation moves on) and are audited by
account id, never with the password or its hash.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gateway.services.accounts import (
    AccountError,
    account_for_update,
    account_id_by_email,
    end_sessions,
    generate_password,
    hash_password,
    password_matches,
    password_problem,
    user_audit,
)
from gateway.services.staff_sign_in import count_wrong_password, is_locked
from routing.audit import AuditAction
from routing.models import StaffUser

WRONG_CURRENT = "Your current password is not right"
LOCKED = (
    "Your account is locked after too many wrong passwords. Try again in a few minutes, "
    "or ask an administrator to reset your password"
)
SAME_AS_CURRENT = "the new password must be different from the current one"


@dataclass(frozen=True, slots=True)
class PasswordChange:
    """How a change went: the account's new session generation (for the session that made
    the change, which carries on), or why the current password was refused."""

    generation: int | None
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class PasswordReset:
    """A temporary password, to show the admin once; only its hash is stored."""

    email: str
    temporary_password: str


def change_own_password(
    session: Session,
    *,
    user_id: int,
    current: str,
    new: str,
    now: dt.datetime,
    lockout_after: int,
) -> PasswordChange:
    """Change a signed-in member of staff's password, given their current one.

    A wrong current password counts toward the lockout as at sign-in, so a session left
    open cannot be used to guess the password at leisure. The new password's own problems
    (too short, the current one again) raise AccountError: the form checks them first.
    """
    problem = password_problem(new) or (SAME_AS_CURRENT if new == current else None)
    if problem:
        raise AccountError(problem)
    user = account_for_update(session, user_id)
    refused = _current_password_refusal(user, current, now, lockout_after)
    if refused is not None:
        refusal = user_audit(
            user, AuditAction.USER_PASSWORD_CHANGE_REFUSED, user.email, now, reason=refused
        )
        session.add(refusal)
        return PasswordChange(None, LOCKED if refused == "account locked" else WRONG_CURRENT)
    forced = user.must_change_password
    _set_password(user, new, must_change=False)
    session.add(user_audit(user, AuditAction.USER_PASSWORD_CHANGED, user.email, now, forced=forced))
    session.flush()  # the new generation is worked out in SQL
    return PasswordChange(user.session_generation)


def reset_password(
    session: Session, *, user_id: int, actor: str, actor_id: int, now: dt.datetime
) -> PasswordReset:
    """Give another account a temporary password that must be changed at its next sign-in."""
    user = account_for_update(session, user_id)
    if user.id == actor_id:
        raise AccountError("you cannot reset your own password here: use Change your password")
    temporary = generate_password()
    _set_password(user, temporary, must_change=True)
    # An admin has dealt with whoever asked, so earlier failures no longer lock the account.
    user.failed_sign_ins, user.locked_until = 0, None
    session.add(user_audit(user, AuditAction.USER_PASSWORD_RESET, actor, now))
    return PasswordReset(user.email, temporary)


def reset_password_by_email(
    session: Session, *, email: str, actor: str, now: dt.datetime
) -> PasswordReset:
    """The IT team's way back in (``ccr user reset-password``) when no admin can sign in:
    as an admin's reset, by email, acted by no staff account."""
    return reset_password(
        session, user_id=account_id_by_email(session, email), actor=actor, actor_id=0, now=now
    )


def _current_password_refusal(
    user: StaffUser, current: str, now: dt.datetime, lockout_after: int
) -> str | None:
    # While locked the password is not even checked: a lock must stop guessing.
    if is_locked(user, now):
        return "account locked"
    if not password_matches(user.password_hash, current):
        count_wrong_password(user, now, lockout_after)
        return "wrong current password"
    user.failed_sign_ins, user.locked_until = 0, None
    return None


def _set_password(user: StaffUser, password: str, *, must_change: bool) -> None:
    user.password_hash = hash_password(password)
    user.must_change_password = must_change
    end_sessions(user)
