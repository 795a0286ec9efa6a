"""How well do the wording screens read the project's corpus, and what do they cost?

The corpus is tests/fixtures/wording/: messages written for the project, labelled statutory,
safeguarding or ordinary (a message can be both statutory and safeguarding). Its tuned part is
what the rules were fitted to; its held-out part was set aside, a quarter of each label at
random, before any rule was written; its development part was written later to probe the
rules with fresh wording, and then tuned on too. Two batches of 120 were then written blind, by
someone who never saw the rules: blind_a was scored and then tuned on; blind_b was scored once,
after the rules were final, and never tuned on, so its figures are the ones for wording nobody
has fitted the rules to. For each part, for everything but blind_b ("fitted") and for the whole
corpus this script prints the recall of each screen (the share of a label's messages it flags)
and the false positive rate (the share of ordinary messages that either screen flags), with the
issue's targets: statutory recall at least 0.97, safeguarding at least 0.95, false positives at
most 3%. The screens from before issue 14 (two regular expressions, copied below as they were)
are scored on the same corpus for comparison.

Then the cost per message, in microseconds, of the new screens against the old in the same
run: `statutory_wording` (every message's subject and opening, in the intake) and `scan_text`
(the whole text of mail a restriction touches). Each is timed on the corpus messages as
written, and on each message inside an email of about 2 KB (a greeting, the message, a
signature and a quoted council auto-reply): `statutory_wording` on its first 1 KB, as
`routing.fingerprint.read_content` reads it, and `scan_text` on all of it, and on a 64 KB
email (the same, with a long quoted thread). Repetitions alternate old and new, and the
median is printed with the new/old ratio.

Run from the project root::

    .venv/bin/python bench/wording.py            # 9 repetitions, about 10 s
    .venv/bin/python bench/wording.py --quick    # 1 repetition
    .venv/bin/python bench/wording.py --misses   # also list what each part missed

It prints figures only and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from routing.content import scan_text, statutory_wording

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "wording"
PARTS = ("tuned", "held_out", "development", "blind_a", "blind_b")
UNSEEN = "blind_b"  # written blind and never tuned on: the figure for unseen wording
TARGETS = {"statutory": 0.97, "safeguarding": 0.95}
FALSE_POSITIVE_TARGET = 0.03
OPENING = 1024  # characters of text routing.fingerprint screens (its SCREEN_LIMIT)

# --- the baseline: today's screens before issue 14, copied as they were -----------------

_OLD_STATUTORY = re.compile(
    r"\b(?:freedom\s+of\s+information|foi(?:a)?\b|environmental\s+information"
    r"(?:\s+regulations)?|eir\s+request|subject\s+access(?:\s+request)?|\bsar\b|"
    r"right\s+of\s+access|data\s+protection\s+act|article\s+15)",
    re.IGNORECASE,
)
_OLD_SAFEGUARDING = re.compile(
    r"\b(?:kill(?:ing)?\s+(?:my\s*self|you|him|her|them)|end(?:ing)?\s+my\s+(?:own\s+)?life|"
    r"suicid\w*|self[\s-]?harm\w*|hurt(?:ing)?\s+(?:my\s*self|you|someone)|"
    r"harm(?:ing)?\s+(?:my\s*self|you|the\s+children|someone)|"
    r"(?:don'?t|do\s+not)\s+want\s+to\s+(?:live|be\s+alive)|overdose|"
    r"burn\s+(?:it|the\s+\w+)\s+down|bomb|shoot(?:ing)?\s+(?:you|them|up))",
    re.IGNORECASE,
)
_OLD_STATUTORY_PHRASES = (
    "freedom of information", "foi", "environmental information", "eir request",
    "subject access", "sar", "right of access", "data protection act", "article 15",
)  # fmt: skip


def old_statutory_wording(text: str) -> bool:
    folded = " ".join(text.lower().split())
    if not any(phrase in folded for phrase in _OLD_STATUTORY_PHRASES):
        return False
    return bool(_OLD_STATUTORY.search(folded))


def old_scan_text(text: str) -> tuple[bool, bool]:
    return bool(_OLD_STATUTORY.search(text)), bool(_OLD_SAFEGUARDING.search(text))


def new_scan(text: str) -> tuple[bool, bool]:
    hints = scan_text(text)
    return hints.statutory, hints.safeguarding


# --- the corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    text: str
    labels: frozenset[str]


def load(part: str) -> list[Message]:
    lines = (CORPUS / f"{part}.jsonl").read_text(encoding="utf-8").splitlines()
    return [Message(r["text"], frozenset(r["labels"])) for r in map(json.loads, lines)]


@dataclass(frozen=True)
class Score:
    recall: dict[str, tuple[int, int]]  # label: (flagged, of)
    false_positives: tuple[int, int]  # ordinary messages flagged by either screen, of
    missed: dict[str, list[str]]
    wrongly_flagged: list[str]


def score(messages: list[Message], screen: Callable[[str], tuple[bool, bool]]) -> Score:
    recall, missed = {}, {}
    results = {m.text: screen(m.text) for m in messages}
    for index, label in enumerate(("statutory", "safeguarding")):
        wanted = [m.text for m in messages if label in m.labels]
        missed[label] = [text for text in wanted if not results[text][index]]
        recall[label] = (len(wanted) - len(missed[label]), len(wanted))
    ordinary = [m.text for m in messages if m.labels == {"ordinary"}]
    wrong = [text for text in ordinary if any(results[text])]
    return Score(recall, (len(wrong), len(ordinary)), missed, wrong)


def print_scores(parts: dict[str, list[Message]], show_misses: bool) -> None:
    print("Corpus (tests/fixtures/wording/): recall per label, false positives on ordinary mail")
    print(f"{'part':<18} {'screens':<8} {'statutory':>18} {'safeguarding':>18} {'false pos.':>16}")
    for name, messages in parts.items():
        shown = f"{name} (unseen)" if name == UNSEEN else name
        for screens, screen in (("new", new_scan), ("old", old_scan_text)):
            result = score(messages, screen)
            cells = [_share(*result.recall[label]) for label in ("statutory", "safeguarding")]
            print(
                f"{shown:<18} {screens:<8} {cells[0]:>18} {cells[1]:>18} "
                f"{_share(*result.false_positives):>16}"
            )
            if show_misses and screens == "new":
                _print_misses(name, result)
    for name in ("fitted", "whole", UNSEEN):
        _print_targets(name, score(parts[name], new_scan))
    print(f"{UNSEEN} was scored once, after the rules were final, and never tuned on: its figures")
    print("are the ones for wording the rules were not fitted to.")


def _print_targets(name: str, result: Score) -> None:
    print()
    for label, target in TARGETS.items():
        flagged, of = result.recall[label]
        print(f"{name}: {label} recall {flagged / of:.3f}, target {target}: "
              f"{_met(flagged / of >= target)}")  # fmt: skip
    wrong, of = result.false_positives
    print(f"{name}: false positives {wrong / of:.1%} of ordinary mail, target at most "
          f"{FALSE_POSITIVE_TARGET:.0%}: {_met(wrong / of <= FALSE_POSITIVE_TARGET)}")  # fmt: skip


def _print_misses(name: str, result: Score) -> None:
    for label, texts in result.missed.items():
        for text in texts:
            print(f"    {name} missed {label}: {_one_line(text)}")
    for text in result.wrongly_flagged:
        print(f"    {name} flagged ordinary: {_one_line(text)}")


def _share(count: int, of: int) -> str:
    return f"{count / of:.3f} ({count}/{of})" if of else "-"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:110]


# --- the cost --------------------------------------------------------------------------------

# Written for the benchmark: what most of an email around a short message is.
_AUTO_REPLY = (
    "Thank you for contacting the council. Your enquiry has been passed to the team that deals "
    "with it, and they will reply within ten working days. If you are writing about a missed "
    "collection, please allow until the end of the next working day before reporting it again. "
    "You can report problems, pay bills and apply for most services online at any time through "
    "your account on our website. Our customer service centre is open Monday to Friday, 9am to "
    "5pm, and is closed on bank holidays. Please quote your reference number in any further "
    "emails so that we can find your enquiry quickly."
)


def email(message: str, quoted_replies: int) -> str:
    quoted = "\n".join(f"> {_AUTO_REPLY}" for _ in range(quoted_replies))
    return (
        f"Dear Sir or Madam,\n\n{message}\n\nKind regards\nA. Resident\n\nSent from my phone\n\n"
        f"On 3 March 2026 the council wrote:\n{quoted}\n"
    )


def per_message_us(screen: Callable[[str], object], texts: list[str]) -> float:
    started = time.perf_counter()
    for text in texts:
        screen(text)
    return (time.perf_counter() - started) / len(texts) * 1e6


@dataclass(frozen=True)
class Case:
    name: str
    texts: list[str]
    old: Callable[[str], object]
    new: Callable[[str], object]


def cost_cases(messages: list[Message]) -> list[Case]:
    texts = [m.text for m in messages]
    two_kb = [email(text, quoted_replies=3) for text in texts]
    long = [email(text, quoted_replies=100) for text in texts[::8]]
    return [
        Case("statutory_wording, message as written", texts, old_statutory_wording,
             statutory_wording),
        Case("statutory_wording, 1 KB opening of a 2 KB email",
             [e[:OPENING] for e in two_kb], old_statutory_wording, statutory_wording),
        Case("scan_text, message as written", texts, old_scan_text, scan_text),
        Case("scan_text, 2 KB email", two_kb, old_scan_text, scan_text),
        Case("scan_text, 64 KB email", long, old_scan_text, scan_text),
    ]  # fmt: skip


def print_costs(cases: Iterable[Case], repetitions: int) -> None:
    print()
    print(f"Cost per message screened, µs (median of {repetitions}; old and new alternate)")
    print(f"{'case':<50} {'chars':>7} {'old':>9} {'new':>9} {'new/old':>8}")
    for case in cases:
        old, new = [], []
        for _ in range(repetitions):
            old.append(per_message_us(case.old, case.texts))
            new.append(per_message_us(case.new, case.texts))
        chars = statistics.mean(len(text) for text in case.texts)
        old_us, new_us = statistics.median(old), statistics.median(new)
        print(
            f"{case.name:<50} {chars:>7,.0f} {old_us:>9.1f} {new_us:>9.1f} {new_us / old_us:>7.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition of the timings")
    parser.add_argument("--misses", action="store_true", help="list what the new screens miss")
    args = parser.parse_args()
    parts = {part: load(part) for part in PARTS}
    parts["fitted"] = [m for part in PARTS if part != UNSEEN for m in parts[part]]
    parts["whole"] = [m for part in PARTS for m in parts[part]]
    print(f"Python {platform.python_version()}, {len(parts['whole'])} messages")
    print()
    print_scores(parts, args.misses)
    print_costs(cost_cases(parts["whole"]), 1 if args.quick else 9)


if __name__ == "__main__":
    main()
