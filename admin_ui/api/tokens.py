"""Bearer-token checks for the JSON API, cheap enough to sit on a telephone call's path.

A presented token is hashed (SHA-256, as stored) and found by its unique hash: one indexed
query. A token found live is then remembered in this process for `cache_seconds` (5 s by
default), so a busy screen-pop integration is authenticated from memory. The price is that
revoking a token takes effect in every process within those few seconds, not at once.

Unknown and revoked tokens are never remembered: a flood of guesses cannot grow memory, and
a token created a moment ago works at once. Lookup by hash is not a timing oracle for the
secret: an attacker cannot choose the hash they are probing.

`last_used_at` is written at most once a minute per token and process, not per request, so
authentication adds no write to the call path.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from gateway.services.accounts import token_digest
from gateway.store.accounts import record_token_use, token_check
from gateway.store.db import unit_of_work
from routing.models import utcnow

log = logging.getLogger(__name__)

DEFAULT_CACHE_SECONDS = 5.0
TOUCH_EVERY_SECONDS = 60.0
# Tokens are few (one per integration); past this many the cache starts afresh.
MAX_CACHED_TOKENS = 1024
# Our tokens are 47 characters; anything far longer is not one, and is not worth hashing.
MAX_TOKEN_LENGTH = 256


@dataclass(frozen=True, slots=True)
class TokenHolder:
    """The integration a request is made for: who it is, and what it may do."""

    id: int
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def actor(self) -> str:
        """How the audit log names this integration."""
        return f"token:{self.name}"


@dataclass(slots=True)
class _Entry:
    holder: TokenHolder
    fresh_until: float  # monotonic: look in the database again after this
    touched_at: float  # monotonic: when last_used_at was last written (or known recent)


class TokenVerifier:
    """Checks bearer secrets against the api_tokens table, remembering live ones briefly."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        touch_every_seconds: float = TOUCH_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session_factory = session_factory
        self._cache_seconds = cache_seconds
        self._touch_every = touch_every_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._touch_lock = threading.Lock()

    def verify(self, secret: str) -> TokenHolder | None:
        """The live token for this secret, or None when it is unknown or revoked."""
        if not secret or len(secret) > MAX_TOKEN_LENGTH:
            return None
        digest = token_digest(secret)
        now = self._clock()
        entry = self._entries.get(digest)
        if entry is None or entry.fresh_until <= now:
            entry = self._load(digest, now, entry)
            if entry is None:
                return None
        self._touch_if_due(entry, now)
        return entry.holder

    def _load(self, digest: str, now: float, previous: _Entry | None) -> _Entry | None:
        with self._session_factory() as session:
            row = token_check(session, digest)
        if row is None or row.revoked_at is not None:
            self._entries.pop(digest, None)
            return None
        holder = TokenHolder(row.id, row.name, frozenset(row.scopes or ()))
        touched = previous.touched_at if previous else self._known_touch(row.last_used_at, now)
        entry = _Entry(holder, now + self._cache_seconds, touched)
        if len(self._entries) >= MAX_CACHED_TOKENS:
            self._entries.clear()
        self._entries[digest] = entry
        return entry

    def _known_touch(self, last_used_at: dt.datetime | None, now: float) -> float:
        # A token another process used seconds ago needs no write from this one yet.
        if last_used_at is None:
            return now - self._touch_every
        age = (utcnow() - last_used_at).total_seconds()
        return now - max(age, 0.0)

    def _touch_if_due(self, entry: _Entry, now: float) -> None:
        if now - entry.touched_at < self._touch_every:
            return
        # One thread writes; the others carry on (the write is bookkeeping, not security).
        if not self._touch_lock.acquire(blocking=False):
            return
        try:
            entry.touched_at = now
            with unit_of_work(self._session_factory) as session:
                record_token_use(session, entry.holder.id, utcnow())
        except Exception as exc:  # never fail a request over the last-used date
            log.warning("could not record a token's last use: %s", type(exc).__name__)
        finally:
            self._touch_lock.release()


def bearer_secret(authorization: str | None) -> str | None:
    """The token in an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, secret = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return secret.strip() or None
