"""Staff sign-in: check a password, lock an account after repeated failures, audit every try.

The answer to a failed attempt is the same whatever went wrong (no such account, wrong
password, locked, switched off), so the sign-in page cannot be used to find out who has an
account. The audit log, which only admins read, records the real reason.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gateway.services.accounts import end_sessions, hash_password, password_matches
from gateway.store import repository
from routing.audit import AuditAction, audit_entry
from routing.models import AuditEntry, StaffUser

# Each failure past the threshold doubles the lock, from a minute up to an hour: enough to
# make guessing hopeless, short enough that a member of staff who mistypes is not stuck.
FIRST_LOCK = dt.timedelta(minutes=1)
LONGEST_LOCK = dt.timedelta(hours=1)
# Who the audit log names when the email given matches no account. The text typed is not
# recorded: people type passwords into the email box often enough.
UNKNOWN_ACCOUNT = "(unknown account)"


@dataclass(frozen=True, slots=True)
class SignInResult:
    """The account signed in to, or None with the reason (for the audit log only)."""

    user: StaffUser | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.user is not None


def lock_for(consecutive_failures: int, lockout_after: int) -> dt.timedelta | None:
    """How long an account stays locked after this many failures in a row (None: not locked)."""
    beyond = consecutive_failures - lockout_after
    if beyond < 0:
        return None
    return min(FIRST_LOCK * (2 ** min(beyond, 16)), LONGEST_LOCK)


def attempt_sign_in(
    session: Session,
    email: str,
    password: str,
    *,
    now: dt.datetime,
    source: str,
    lockout_after: int,
) -> SignInResult:
    """Check one sign-in attempt, update the account's failure count and audit the outcome."""
    # Locked: parallel guesses must each see the failures counted before them.
    user = repository.staff_by_email(session, email, for_update=True) if email.strip() else None
    result = _judge(user, password, now)
    if user is not None:
        _count(user, result, now, lockout_after)
    session.add(_audit(user, result, now, source))
    return result


def _judge(user: StaffUser | None, password: str, now: dt.datetime) -> SignInResult:
    if user is None:
        _spend_verify_time(password)  # an unknown account takes as long as a known one
        return SignInResult(None, "unknown account")
    if is_locked(user, now):
        _spend_verify_time(password)
        return SignInResult(None, "account locked")
    if not password_matches(user.password_hash, password):
        return SignInResult(None, "wrong password")
    if not user.active:
        return SignInResult(None, "account switched off")
    return SignInResult(user, "signed in")


def _count(user: StaffUser, result: SignInResult, now: dt.datetime, lockout_after: int) -> None:
    if result.ok:
        user.failed_sign_ins = 0
        user.locked_until = None
    elif result.reason == "wrong password":
        # Tries while locked are not counted: they would let anyone keep an account locked.
        count_wrong_password(user, now, lockout_after)


def is_locked(user: StaffUser, now: dt.datetime) -> bool:
    """Whether the account is locked after repeated wrong passwords."""
    return user.locked_until is not None and user.locked_until > now


def count_wrong_password(user: StaffUser, now: dt.datetime, lockout_after: int) -> None:
    """One more wrong password in a row (at sign-in, or as the current password when
    changing it), locking the account once there are too many."""
    user.failed_sign_ins = (user.failed_sign_ins or 0) + 1
    lock = lock_for(user.failed_sign_ins, lockout_after)
    user.locked_until = now + lock if lock else None


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not a password anyone has")


def _spend_verify_time(password: str) -> None:
    password_matches(_dummy_hash(), password)


def _audit(
    user: StaffUser | None, result: SignInResult, now: dt.datetime, source: str
) -> AuditEntry:
    return audit_entry(
        AuditAction.STAFF_SIGNED_IN if result.ok else AuditAction.STAFF_SIGN_IN_REFUSED,
        actor=user.email if user else UNKNOWN_ACCOUNT,
        at=now,
        subject_type="user",
        subject_ref=str(user.id) if user else None,
        detail={} if result.ok else {"reason": result.reason},
        source=source,
    )


def sign_out(session: Session, user_id: int, email: str, now: dt.datetime, source: str) -> None:
    """End every session of the account and audit the sign-out.

    Clearing the browser's cookie alone would leave a copy of it working until it expired, so
    the account's session generation moves on. That signs out its other browsers too."""
    user = session.get(StaffUser, user_id)
    if user is not None:
        end_sessions(user)
    session.add(
        audit_entry(
            AuditAction.STAFF_SIGNED_OUT,
            actor=email,
            at=now,
            subject_type="user",
            subject_ref=str(user_id),
            source=source,
        )
    )


def signed_in_user(session: Session, user_id: int, generation: object) -> StaffUser | None:
    """The account behind a session, if it still exists, may still sign in, and has not ended
    its sessions since this one began (`generation`, as the session recorded it)."""
    user = session.get(StaffUser, user_id)
    if user is None or not user.active or user.session_generation != generation:
        return None
    return user
