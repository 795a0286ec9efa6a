"""The meaning-based screen (an experiment): the model behaves as published, and a hit says why.

Needs the `semantic` extra (in `dev`) and the model wheel that `make test` installs from
model-requirements.txt. Nothing in the gateway uses the screen yet.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.services.semantic_screen import (
    Example,
    ModelMismatch,
    SemanticScreen,
    SentenceEncoder,
    bundled_model_dir,
)

# Written for this test, in the corpus's manner (tests/fixtures/wording/README.md).
EXAMPLES = [
    ("Please send me the minutes of last month's planning committee.", "statutory"),
    ("How much did the council spend on taxis for staff last year?", "statutory"),
    ("I want a copy of all the personal information you keep about me.", "statutory"),
    ("Under the Freedom of Information Act, how many fines were issued in 2025?", "statutory"),
    ("I can't cope any more and I've been thinking about ending my life.", "safeguarding"),
    ("My partner hits me when he's been drinking and I'm scared to go home.", "safeguarding"),
    ("The little boy next door is left alone for days with no food.", "safeguarding"),
    ("If you send that letter again I will come to the office and hurt someone.", "safeguarding"),
    ("My green bin was not emptied on Tuesday, can you send someone?", "ordinary"),
    ("This parking ticket is killing me, I was only two minutes late.", "ordinary"),
    ("Can I pay my council tax in twelve instalments instead of ten?", "ordinary"),
    ("The street light outside number 4 has been out for a week.", "ordinary"),
]


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder(bundled_model_dir())


@pytest.fixture(scope="module")
def screen(encoder: SentenceEncoder) -> SemanticScreen:
    examples = [Example(text, frozenset({label})) for text, label in EXAMPLES]
    return SemanticScreen(encoder, examples, {"statutory": 0.5, "safeguarding": 0.5})


def test_the_model_scores_like_the_published_one(encoder: SentenceEncoder) -> None:
    # The published all-MiniLM-L6-v2 gives this pair 0.755 and unrelated sentences about 0.
    eating, bread, film = encoder.encode(
        ["A man is eating food.", "A man is eating a piece of bread.", "The new film is awesome."]
    )
    assert float(eating @ bread) > 0.6
    assert abs(float(eating @ film)) < 0.2


def test_a_disclosure_in_other_words_is_flagged_and_says_what_it_reads_like(
    screen: SemanticScreen,
) -> None:
    findings = screen.screen("Honestly I don't want to be alive any more, I've had enough.")
    assert findings["safeguarding"].flagged
    assert not findings["statutory"].flagged
    reason = findings["safeguarding"].reads_like[0].plain_words()
    assert reason.startswith("reads like 'I can't cope any more and I've been thinking about")


def test_a_disclosure_at_the_end_of_a_long_email_is_still_found(
    screen: SemanticScreen,
) -> None:
    chatter = "The bins on our road were collected late again this week. " * 60
    text = chatter + "\n\nHe hits me when he has been drinking and I am frightened to go home."
    assert len(screen.encoder.windows(text)) > 1
    assert screen.screen(text)["safeguarding"].flagged
    assert not screen.screen(chatter)["safeguarding"].flagged


def test_ordinary_mail_with_an_idiom_is_not_flagged(screen: SemanticScreen) -> None:
    findings = screen.screen("Can someone please collect my brown bin? It was missed on Friday.")
    assert not any(finding.flagged for finding in findings.values())


def test_a_model_file_that_is_not_the_published_one_is_refused(tmp_path: Path) -> None:
    for name in ("tokenizer.json", "config.json"):
        shutil.copy(bundled_model_dir() / name, tmp_path / name)
    (tmp_path / "model.safetensors").write_bytes(b"not the model")
    with pytest.raises(ModelMismatch, match="not the published"):
        SentenceEncoder(tmp_path)
