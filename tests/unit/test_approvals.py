"""Approvals by stage (routing/approvals.py through routing/lifecycle.py): the level of
approver each stage needs, the declaration of no prior involvement, the business case,
and the settings that name the stages; each refusal in words a person can act on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.settings import SettingsError, load_settings
from routing import lifecycle
from routing.approvals import ApprovalRules
from routing.enums import (
    RestrictionStatus,
    Role,
    Stage,
)
from routing.lifecycle import Actor, TransitionRefused
from routing.models import Restriction
from tests.unit.test_roles import _restriction as restriction_in

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
PROPOSER = Actor("manager@council.example.org", Role.MANAGER, 1)
APPROVER = Actor("approver@council.example.org", Role.APPROVER, 2)
SENIOR = Actor("senior@council.example.org", Role.SENIOR_APPROVER, 3)
# The example the council's policy gives: stage 1 by an approver; stage 2 and cease and
# desist by a senior approver who declares no prior involvement, on a business case.
POLICY = ApprovalRules(
    senior_stages=frozenset({Stage.STAGE2, Stage.CEASE_AND_DESIST}),
    declaration_stages=frozenset({Stage.STAGE2, Stage.CEASE_AND_DESIST}),
    business_case_stages=frozenset({Stage.STAGE2, Stage.CEASE_AND_DESIST}),
)


def _restriction(
    stage: Stage,
    status: RestrictionStatus = RestrictionStatus.PENDING_APPROVAL,
    *,
    business_case: str | None = None,
    proposed_by: int = PROPOSER.user_id or 0,
) -> Restriction:
    restriction = restriction_in(status)
    restriction.stage = stage
    restriction.business_case = business_case
    restriction.proposed_by_id = proposed_by
    return restriction


def _approve(restriction: Restriction, actor: Actor, *, declared: bool = False) -> None:
    lifecycle.approve(
        restriction,
        actor,
        NOW,
        today=TODAY,
        appeal_days=14,
        rules=POLICY,
        no_prior_involvement=declared,
    )


def test_an_approver_approves_stage_one_and_no_declaration_is_recorded() -> None:
    restriction = _restriction(Stage.STAGE1)
    _approve(restriction, APPROVER)
    assert restriction.status is RestrictionStatus.ACTIVE
    assert restriction.no_prior_involvement is None  # not asked, so not kept


def test_an_approver_is_refused_stage_two_with_who_must_decide() -> None:
    restriction = _restriction(Stage.STAGE2, business_case="Abuse continued after stage 1")
    with pytest.raises(TransitionRefused) as refused:
        _approve(restriction, APPROVER, declared=True)
    assert str(refused.value) == (
        "Stage 2 restrictions need a senior approver to approve them: "
        "ask a senior approver to decide CCR-2026-0001"
    )
    assert restriction.status is RestrictionStatus.PENDING_APPROVAL


def test_a_senior_approver_approves_stage_two_declaring_no_prior_involvement() -> None:
    restriction = _restriction(Stage.CEASE_AND_DESIST, business_case="Threats to staff")
    _approve(restriction, SENIOR, declared=True)
    assert restriction.status is RestrictionStatus.ACTIVE
    assert restriction.no_prior_involvement is True
    assert restriction.approved_by_id == SENIOR.user_id


def test_without_the_declaration_a_senior_approver_is_refused() -> None:
    restriction = _restriction(Stage.STAGE2, business_case="Abuse continued after stage 1")
    with pytest.raises(TransitionRefused, match="declare that you have had no prior involvement"):
        _approve(restriction, SENIOR)
    assert restriction.status is RestrictionStatus.PENDING_APPROVAL


def test_a_senior_approver_never_approves_their_own_proposal() -> None:
    restriction = _restriction(
        Stage.STAGE2, business_case="Abuse continued", proposed_by=SENIOR.user_id or 0
    )
    with pytest.raises(TransitionRefused, match="a different approver must decide"):
        _approve(restriction, SENIOR, declared=True)


def test_stage_two_is_not_proposed_or_approved_without_a_business_case() -> None:
    draft = _restriction(Stage.STAGE2, RestrictionStatus.DRAFT)
    with pytest.raises(TransitionRefused, match="Stage 2 restrictions need a business case"):
        lifecycle.submit(draft, PROPOSER, NOW, rules=POLICY)
    assert draft.status is RestrictionStatus.DRAFT
    lifecycle.submit(
        _restriction(Stage.STAGE1, RestrictionStatus.DRAFT), PROPOSER, NOW, rules=POLICY
    )
    # A proposal made before the setting was switched on is stopped at approval instead.
    with pytest.raises(TransitionRefused, match="need a business case"):
        _approve(_restriction(Stage.STAGE2), SENIOR, declared=True)


def test_varying_to_stage_two_needs_a_senior_approver_and_a_business_case() -> None:
    active = _restriction(Stage.STAGE1, RestrictionStatus.ACTIVE)
    with pytest.raises(TransitionRefused, match="need a senior approver"):
        lifecycle.vary(
            active,
            APPROVER,
            NOW,
            {"stage": Stage.STAGE2},
            today=TODAY,
            reason="worse",
            rules=POLICY,
        )
    with pytest.raises(TransitionRefused, match="need a business case"):
        lifecycle.vary(
            active, SENIOR, NOW, {"stage": Stage.STAGE2}, today=TODAY, reason="worse", rules=POLICY
        )
    successor, _ = lifecycle.vary(
        active,
        SENIOR,
        NOW,
        {"stage": Stage.STAGE2, "business_case": "Abuse continued after stage 1"},
        today=TODAY,
        reason="worse",
        rules=POLICY,
    )
    assert (successor.stage, successor.business_case) == (
        Stage.STAGE2,
        "Abuse continued after stage 1",
    )


def test_without_settings_any_approver_approves_any_stage() -> None:
    restriction = _restriction(Stage.CEASE_AND_DESIST)
    lifecycle.approve(restriction, APPROVER, NOW, today=TODAY, appeal_days=14)
    assert restriction.status is RestrictionStatus.ACTIVE


def test_the_settings_name_the_stages_in_the_file_or_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "ccr.toml"
    config.write_text(
        'senior_approval_stages = ["stage2", "cease_and_desist"]\n'
        'no_prior_involvement_stages = ["stage2"]\n'
    )
    rules = load_settings({}, config).approval_rules()
    assert rules.minimum_role(Stage.STAGE1) is Role.APPROVER
    assert rules.minimum_role(Stage.CEASE_AND_DESIST) is Role.SENIOR_APPROVER
    assert rules.needs_declaration(Stage.STAGE2)
    assert not rules.needs_declaration(Stage.CEASE_AND_DESIST)
    from_env = load_settings({"CCR_BUSINESS_CASE_STAGES": "stage2, cease_and_desist"}, config)
    assert from_env.approval_rules().needs_business_case(Stage.CEASE_AND_DESIST)


def test_a_stage_the_settings_do_not_know_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "ccr.toml"
    config.write_text('senior_approval_stages = ["stage3"]\n')
    with pytest.raises(SettingsError, match="senior_approval_stages"):
        load_settings({}, config)
