"""The API's token verifier against the real api_tokens table: cache lifetime, revocation,
and the once-a-minute record of last use (a hand-driven clock stands in for time)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin_ui.api.tokens import TokenVerifier, bearer_secret
from gateway.runtime import Runtime
from gateway.services import accounts
from gateway.store.tables import ApiToken
from routing.models import utcnow


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def secret(rt: Runtime) -> str:
    with rt.uow() as session:
        return accounts.add_token(
            session, name="screen-pop", scopes=["lookup"], actor="test", now=utcnow()
        )


def revoke(rt: Runtime) -> None:
    with rt.uow() as session:
        accounts.revoke_token(session, name="screen-pop", actor="test", now=utcnow())


def last_used(rt: Runtime):
    with rt.session_factory() as session:
        return session.scalar(select(ApiToken.last_used_at))


def test_a_live_token_is_known_with_its_scopes(rt: Runtime, secret: str) -> None:
    holder = TokenVerifier(rt.session_factory).verify(secret)
    assert holder is not None
    assert (holder.name, holder.actor) == ("screen-pop", "token:screen-pop")
    assert holder.allows("lookup") and not holder.allows("calls")


@pytest.mark.parametrize("presented", ["", "ccr_wrong", "x" * 10_000])
def test_unknown_tokens_are_refused(rt: Runtime, secret: str, presented: str) -> None:
    assert TokenVerifier(rt.session_factory).verify(presented) is None


def test_revocation_takes_effect_when_the_cached_entry_expires(rt: Runtime, secret: str) -> None:
    ticks = Ticks()
    verifier = TokenVerifier(rt.session_factory, cache_seconds=5, clock=ticks)
    assert verifier.verify(secret) is not None
    revoke(rt)
    ticks.now += 4.9
    assert verifier.verify(secret) is not None  # still remembered: the documented delay
    ticks.now += 0.2
    assert verifier.verify(secret) is None
    assert verifier.verify(secret) is None


def test_a_new_token_works_at_once_because_misses_are_not_remembered(rt: Runtime) -> None:
    verifier = TokenVerifier(rt.session_factory)
    assert verifier.verify("ccr_not_yet") is None
    with rt.uow() as session:
        created = accounts.add_token(
            session, name="new", scopes=["calls"], actor="test", now=utcnow()
        )
    assert verifier.verify(created) is not None


def test_last_use_is_written_at_most_once_a_minute(rt: Runtime, secret: str) -> None:
    ticks = Ticks()
    verifier = TokenVerifier(rt.session_factory, cache_seconds=5, clock=ticks)
    verifier.verify(secret)
    first = last_used(rt)
    assert first is not None
    for _ in range(10):
        ticks.now += 5.5  # each time past the cache: the token is read again, not written
        verifier.verify(secret)
    assert last_used(rt) == first
    ticks.now += 5.5
    verifier.verify(secret)
    assert last_used(rt) > first


def test_a_token_used_recently_by_another_process_is_not_written_again(
    rt: Runtime, secret: str
) -> None:
    TokenVerifier(rt.session_factory).verify(secret)
    first = last_used(rt)
    TokenVerifier(rt.session_factory).verify(secret)  # a second process, moments later
    assert last_used(rt) == first


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("bearer   abc  ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_secret_reads_the_authorization_header(header, expected) -> None:
    assert bearer_secret(header) == expected
