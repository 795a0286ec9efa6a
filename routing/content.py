"""First-pass wording screens: statutory requests and safeguarding concerns.

These only add protection (a copy to information governance, an urgent alert, never a
rejection); they never take any away, so a false positive costs a person a read, not a right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_STATUTORY = re.compile(
    r"\b(?:freedom\s+of\s+information|foi(?:a)?\b|environmental\s+information"
    r"(?:\s+regulations)?|eir\s+request|subject\s+access(?:\s+request)?|\bsar\b|"
    r"right\s+of\s+access|data\s+protection\s+act|article\s+15)",
    re.IGNORECASE,
)

_SAFEGUARDING = re.compile(
    r"\b(?:kill(?:ing)?\s+(?:my\s*self|you|him|her|them)|end(?:ing)?\s+my\s+(?:own\s+)?life|"
    r"suicid\w*|self[\s-]?harm\w*|hurt(?:ing)?\s+(?:my\s*self|you|someone)|"
    r"harm(?:ing)?\s+(?:my\s*self|you|the\s+children|someone)|"
    r"(?:don'?t|do\s+not)\s+want\s+to\s+(?:live|be\s+alive)|overdose|"
    r"burn\s+(?:it|the\s+\w+)\s+down|bomb|shoot(?:ing)?\s+(?:you|them|up))",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ContentHints:
    """What the words of a contact suggest, plus whether this installation already routed it."""

    statutory: bool = False
    safeguarding: bool = False
    routed_by: str | None = None  # installation id found in an X-CCR-Decision header


# One of these is in any text _STATUTORY matches (lower case, spaces collapsed): checking
# them first is far cheaper than the expression, and most text has none. Keep them in step.
_STATUTORY_PHRASES = (
    "freedom of information", "foi", "environmental information", "eir request",
    "subject access", "sar", "right of access", "data protection act", "article 15",
)  # fmt: skip


def statutory_wording(text: str) -> bool:
    """Whether the text reads as a statutory request (the statutory half of `scan_text`),
    quickly enough to screen every message's opening."""
    folded = " ".join(text.lower().split())
    if not any(phrase in folded for phrase in _STATUTORY_PHRASES):
        return False
    return bool(_STATUTORY.search(folded))


def scan_text(text: str, *, routed_by: str | None = None) -> ContentHints:
    """Screen a subject and body for statutory-request and safeguarding wording."""
    return ContentHints(
        statutory=bool(_STATUTORY.search(text)),
        safeguarding=bool(_SAFEGUARDING.search(text)),
        routed_by=routed_by,
    )
