"""The wording screens against the project's labelled corpus and the issue's own examples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.content import (
    SAFEGUARDING_RULES,
    STATUTORY_RULES,
    Branch,
    ContentHints,
    cue_words,
    fold,
    scan_text,
    statutory_wording,
)

CORPUS = Path(__file__).parent.parent / "fixtures" / "wording"
LABELS = {"statutory", "safeguarding", "ordinary"}


def corpus(*parts: str) -> list[tuple[str, set[str]]]:
    rows = []
    for part in parts:
        for line in (CORPUS / f"{part}.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            rows.append((record["text"], set(record["labels"])))
    return rows


# What the rules were written against: the first corpus (its held-out part aside, but
# long since in view), the development batches and the first blind batch (blind_a).
FITTED = corpus("tuned", "held_out", "development", "blind_a")
# blind_b was written by someone who never saw the rules and scored once, after they were
# final: its figures are the ones for wording nobody has tuned on.
UNSEEN = corpus("blind_b")
WHOLE = FITTED + UNSEEN


# --- the corpus --------------------------------------------------------------------------


def test_the_corpus_is_big_enough_and_labelled_as_promised() -> None:
    counts = {label: sum(label in labels for _, labels in WHOLE) for label in LABELS}
    assert len(WHOLE) >= 400
    assert counts["statutory"] >= 120 and counts["safeguarding"] >= 120
    assert counts["ordinary"] >= 160
    assert all(labels <= LABELS and labels for _, labels in WHOLE)
    assert all(labels == {"ordinary"} for _, labels in WHOLE if "ordinary" in labels)
    assert len({text for text, _ in WHOLE}) == len(WHOLE)
    first = corpus("tuned", "held_out")  # written before any rule; a quarter held out
    assert 0.2 <= len(corpus("held_out")) / len(first) <= 0.3


def test_the_blind_batches_are_new_wording() -> None:
    first = {fold(text) for text, _ in corpus("tuned", "held_out", "development")}
    for part in ("blind_a", "blind_b"):
        rows = corpus(part)
        assert len(rows) == 120
        assert not first & {fold(text) for text, _ in rows}, part


@pytest.mark.parametrize("part", ["fitted", "held_out"])
@pytest.mark.parametrize(("label", "target"), [("statutory", 0.97), ("safeguarding", 0.95)])
def test_recall_on_the_wording_the_rules_were_written_against_and_on_the_held_out_part(
    label: str, target: float, part: str
) -> None:
    messages = FITTED if part == "fitted" else corpus("held_out")
    assert _recall(messages, label) >= target, _missed(messages, label)


# The unseen-wording figure: blind_b, scored once after the rules were final, reached
# statutory 23/37 and safeguarding 12/40 (0/45 ordinary flagged). These floors are what
# was reached, not the issue's targets, which the screens do not meet on unseen wording.
@pytest.mark.parametrize(("label", "floor"), [("statutory", 23 / 37), ("safeguarding", 12 / 40)])
def test_recall_on_blind_wording_nobody_tuned_on_stays_at_what_it_reached(
    label: str, floor: float
) -> None:
    assert _recall(UNSEEN, label) >= floor, _missed(UNSEEN, label)


@pytest.mark.parametrize("part", ["whole", "blind_a", "blind_b"])
def test_false_positives_on_the_whole_corpus_and_on_each_blind_batch(part: str) -> None:
    messages = WHOLE if part == "whole" else corpus(part)
    ordinary = [text for text, labels in messages if labels == {"ordinary"}]
    flagged = [text for text in ordinary if _flagged(scan_text(text))]
    assert len(flagged) / len(ordinary) <= 0.03, flagged


def test_statutory_wording_is_the_statutory_half_of_scan_text_on_the_corpus() -> None:
    for text, _ in WHOLE:
        assert statutory_wording(text) is scan_text(text).statutory, text


# --- the issue's examples ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Under GDPR please send me copies of all the personal data you hold about me",
        "Please send me a copy of the minutes of the planning committee.",
        "Please send me a copy of the records you keep on the Mill Road bridge.",
        "Please send me a copy of the emails between your officer and the developer.",
        "Please send me a copy of the report on the leisure centre.",
        "How many parking fines did the council issue last year?",
        "I would like to request information about the cost of the new bus lane.",
        "Send me all the personal data you hold about me.",
        "Delete my data.",
        "Correct my records.",
        "Stop processing my information.",
        "I object to you sharing my data with the housing association.",
        "Please restrict the processing of my personal data while I dispute it.",
        "Please send me my data in a machine-readable format.",
        "I want an internal review of your answer to my FOI request.",
        "I have complained to the Information Commissioner about my subject access request.",
        "This is an EIR request for the air quality readings on Station Road.",
    ],
)
def test_statutory_requests_named_in_the_issue(text: str) -> None:
    assert scan_text(text).statutory


@pytest.mark.parametrize(
    "text",
    [
        "I want to die, I can't go on",
        "I'm going to take my own life",
        "I'm thinking of ending it all",
        "I have taken all my tablets",
        "I've got nothing left to live for",
        "I won't be here much longer",
        "They'd all be better off without me",
        "If he comes round again I'll kill him",
        "I know where you live",
        "I'll be waiting outside",
        "The kids next door are left alone every night",
        "My elderly dad is being neglected by his carers",
        "My neighbour's little boy says he's not safe at home",
        "He hits me",
        "I'm scared of my partner",
        # Threats a review found the first version of these rules missed.
        "There's a bomb in the building.",
        "the bomb will go off at noon",
        "I'm going to shoot up the council",
        "I will set fire to the council offices",
    ],
)
def test_safeguarding_concerns_named_in_the_issue(text: str) -> None:
    assert scan_text(text).safeguarding


@pytest.mark.parametrize(
    "text",
    [
        "I'm dying to know when the pool reopens",
        "This delay is killing me",
        "My back is killing me",
        "We could kill two birds with one stone and fix the gate as well",
        "The new planting is drop-dead gorgeous",
        "The view from the new bridge is to die for",
        "The information on your website is out of date",
        "I found the bin collection data confusing",
        "I'd like to request a new bin",
        "I'll shoot you an email when the forms are ready",
        "My daughter loves a bath bomb",
        "We did a photo shoot in the park",
        "Fire away with your questions",
    ],
)
def test_idioms_and_look_alikes_are_not_flagged(text: str) -> None:
    assert not _flagged(scan_text(text))


@pytest.mark.parametrize(
    "text",
    [
        "That's odd, my bin was emptied twice",
        "I hurt myself on the broken paving outside the library",
        "My daughter was injured on the broken swing in Elm Park",
        "He threatened me with eviction, he's my landlord",
        "I'll be waiting outside for the removal van at 8",
        "Please send me the link to report a pothole",
        "How much is a garden waste permit?",
        "Please update my records with my new address",
        "Please remove me from the waiting list, we've found a place",
    ],
)
def test_ordinary_council_mail_that_shares_words_with_the_rules_is_not_flagged(text: str) -> None:
    assert not _flagged(scan_text(text))


# --- each hit says why -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "says", "words"),
    [
        (
            "Please send me all the personal data you hold about me.",
            "statutory",
            "asks for the personal data held about them",
            "data you hold about me",
        ),
        ("Delete my data.", "statutory", "(erasure)", "delete my data"),
        ("I have taken all my tablets.", "safeguarding", "tablets", "taken all my tablets"),
        ("I know where you live.", "safeguarding", "threatens staff", "i know where you live"),
    ],
)
def test_each_hit_says_which_rule_and_which_words(
    text: str, kind: str, says: str, words: str
) -> None:
    because = getattr(scan_text(text), f"{kind}_because")
    assert says in because
    assert f"'{words}'" in because


def test_every_hit_in_the_corpus_quotes_words_the_message_contains() -> None:
    for text, _ in WHOLE:
        hints = scan_text(text)
        for flagged, because in (
            (hints.statutory, hints.statutory_because),
            (hints.safeguarding, hints.safeguarding_because),
        ):
            assert flagged is (because is not None)
            if because:
                quotes = re.findall(r"\('(.*?)'\)(?=; |$)", because)
                assert quotes, because
                assert all(quoted and quoted in fold(text) for quoted in quotes), because


# --- signs of several kinds together ---------------------------------------------------------


def test_a_farewell_is_caught_by_its_signs_and_each_sign_is_named() -> None:
    because = scan_text("I've given my dog to my sister. Goodbye.").safeguarding_because
    assert because == (
        "reads like a farewell: puts their affairs in order ('given my dog'); "
        "says goodbye ('. goodbye.')"
    )


@pytest.mark.parametrize(
    "text",
    [
        # one sign alone is ordinary mail
        "I've given my dog to my sister while I'm in hospital.",
        "Goodbye.",
        "My mum has dementia and we'd like to apply for the council tax discount.",
        "My ex keeps parking across my drive.",
        "It would be a shame if anything happened to the old oak tree on the green.",
        # and an ordinary reason for the same signs puts them in their place
        "We're moving to Spain, so I've given away all my furniture and won't need the bins. "
        "Goodbye!",
    ],
)
def test_one_sign_alone_or_signs_with_an_ordinary_reason_are_not_flagged(text: str) -> None:
    assert not scan_text(text).safeguarding


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("No point fixing the window now. I won't need the flat after this weekend.", "farewell"),
        ("He lives on Larch Drive, doesn't he. Be a shame if anything happened to it.", "threat"),
        ("Gran has dementia and her account is nearly empty.", "adult who may be at risk"),
        ("My ex kicked the door in and keeps turning up at night.", "partner or ex"),
    ],
)
def test_signs_of_two_kinds_together_are_flagged(text: str, rule: str) -> None:
    because = scan_text(text).safeguarding_because
    assert because is not None and rule in because


def test_no_hit_no_reason_and_the_routing_mark_is_kept() -> None:
    assert scan_text("Bins not emptied", routed_by="ccr-test") == ContentHints(routed_by="ccr-test")


def test_a_message_can_be_both_statutory_and_safeguarding() -> None:
    hints = scan_text("Delete my data. I won't be here much longer anyway.")
    assert hints.statutory and hints.safeguarding


# --- every gate lets through what its expression matches ------------------------------------

BRANCHES = [
    pytest.param(branch, id=f"{rule.name}[{n}]")
    for rule in (*STATUTORY_RULES, *SAFEGUARDING_RULES)
    for n, branch in enumerate(rule.branches)
]


@pytest.mark.parametrize("branch", BRANCHES)
def test_every_match_opens_its_gate_and_begins_with_a_start_word(branch: Branch) -> None:
    # A gate that missed a word its expression can match would silently skip the rule.
    @settings(
        max_examples=60,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.from_regex(branch.pattern))
    def check(generated: str) -> None:
        match = branch.pattern.search(fold(generated))
        if match is None:
            return
        matched = match.group(0)
        assert branch.opens(cue_words(matched)), matched
        if branch.starts:
            assert branch.search(matched, cue_words(matched)) is not None, matched

    check()


def _flagged(hints: ContentHints) -> bool:
    return hints.statutory or hints.safeguarding


def _missed(messages: list[tuple[str, set[str]]], label: str) -> list[str]:
    return [text for text, labels in messages if label in labels and not _has(text, label)]


def _recall(messages: list[tuple[str, set[str]]], label: str) -> float:
    wanted = sum(label in labels for _, labels in messages)
    return 1 - len(_missed(messages, label)) / wanted


def _has(text: str, label: str) -> bool:
    hints = scan_text(text)
    return hints.statutory if label == "statutory" else hints.safeguarding
