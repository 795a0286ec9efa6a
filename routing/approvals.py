"""Approvals by stage: which level of approver a stage needs, whether the approver must
declare no prior involvement, and which stages need a business case.

The council's policies reserve the heavier stages for more senior people (for example stage 1
by an approver, stage 2 and cease-and-desist by a senior approver) and ask the person who
decides a stage 2 restriction to have had no part in the case before. The settings name the
stages; these rules read them. Pure: the lifecycle asks, and refuses in one plain line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from routing.enums import Role, Stage

# The approver levels, lowest first: a level may approve whatever a lower one may.
APPROVER_LEVELS: Mapping[Role, int] = MappingProxyType({Role.APPROVER: 1, Role.SENIOR_APPROVER: 2})

STAGE_NAMES: Mapping[Stage, str] = MappingProxyType(
    {
        Stage.WARNING: "Warning",
        Stage.STAGE1: "Stage 1",
        Stage.STAGE2: "Stage 2",
        Stage.CEASE_AND_DESIST: "Cease and desist",
    }
)


@dataclass(frozen=True, slots=True)
class ApprovalRules:
    """The council's rules for approving each stage (from the settings)."""

    senior_stages: frozenset[Stage] = frozenset()  # a senior approver must approve these
    declaration_stages: frozenset[Stage] = frozenset()  # the approver declares no involvement
    business_case_stages: frozenset[Stage] = frozenset()  # the proposal carries a business case

    def minimum_role(self, stage: Stage) -> Role:
        return Role.SENIOR_APPROVER if stage in self.senior_stages else Role.APPROVER

    def level_refusal(self, role: Role | None, stage: Stage, reference: str) -> str | None:
        """Why someone in `role` may not decide a restriction at `stage`, or None."""
        needed = self.minimum_role(stage)
        if APPROVER_LEVELS.get(role, 0) >= APPROVER_LEVELS[needed]:
            return None
        return (
            f"{STAGE_NAMES[stage]} restrictions need a {_words(needed)} to approve them: "
            f"ask a {_words(needed)} to decide {reference}"
        )

    def needs_declaration(self, stage: Stage) -> bool:
        return stage in self.declaration_stages

    def needs_business_case(self, stage: Stage) -> bool:
        return stage in self.business_case_stages

    def business_case_refusal(
        self, stage: Stage, business_case: str | None, reference: str
    ) -> str | None:
        """Why a proposal at `stage` cannot go forward without a business case, or None."""
        if not self.needs_business_case(stage) or (business_case or "").strip():
            return None
        return f"{STAGE_NAMES[stage]} restrictions need a business case: add one to {reference}"

    def declaration_refusal(self, stage: Stage, declared: bool, reference: str) -> str | None:
        if not self.needs_declaration(stage) or declared:
            return None
        return (
            f"to approve a {STAGE_NAMES[stage]} restriction you must declare that you have had "
            f"no prior involvement in the case ({reference})"
        )


def _words(role: Role) -> str:
    return role.value.replace("_", " ")
